package cookieguard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// maxUserLen bounds a user name in bytes; longer names are refused.
const maxUserLen = 256

// Normalizer turns a user name into the form the app compares names in.
// The zero value only checks the name.
type Normalizer struct {
	// NFKC applies Unicode compatibility composition (Django does:
	// full-width "ａｌｉｃｅ" logs in as "alice").
	NFKC bool
	// Trim removes surrounding white space.
	Trim bool
	// CaseFold folds case. Only for apps whose names are case-insensitive:
	// folding merges distinct accounts of a case-sensitive app into one
	// enrollment.
	CaseFold bool
}

// NormalizerOf is the Normalizer that login.user.normalize names
// ("nfkc", "trim", "casefold"; unknown names are ignored: the config
// validates them).
func NormalizerOf(names []string) Normalizer {
	var n Normalizer
	for _, name := range names {
		switch name {
		case "nfkc":
			n.NFKC = true
		case "trim":
			n.Trim = true
		case "casefold":
			n.CaseFold = true
		}
	}
	return n
}

// Normalize returns the canonical form of a user name, or an error naming
// what makes it unacceptable (control characters, invalid UTF-8, too long,
// a form that normalising again would change).
func (n Normalizer) Normalize(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("user name is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			return "", fmt.Errorf("user name has a control or format character (%U)", r)
		}
	}
	out := n.apply(s)
	if n.apply(out) != out {
		return "", errors.New("user name does not normalise to a stable form")
	}
	if len(out) > maxUserLen {
		return "", fmt.Errorf("user name is longer than %d bytes", maxUserLen)
	}
	return out, nil
}

func (n Normalizer) apply(s string) string {
	if n.Trim {
		s = strings.TrimSpace(s)
	}
	if n.NFKC {
		s = norm.NFKC.String(s)
	}
	if n.Trim {
		s = strings.TrimSpace(s)
	}
	if n.CaseFold {
		s = cases.Fold().String(s)
	}
	return s
}

// Field is one field a login request may carry to the app: its exact name
// and, when Value is set, the only value it may have (DokuWiki's do=login).
type Field struct {
	Name  string
	Value string
}

// LoginForm says how the gateway reads a login request.
type LoginForm struct {
	// UserField names the user; it must appear exactly once, in the query
	// or the body.
	UserField string
	// Fields are the only fields forwarded (the user field always is);
	// nil forwards every field (for tests and JSON APIs with no form).
	Fields []Field
	// Normalize makes the user name canonical.
	Normalize Normalizer
}

// LoginRefused is a login request the gateway refuses to interpret: the
// user name is ambiguous or the request can't be read as the app would.
type LoginRefused struct{ Reason string }

func (e *LoginRefused) Error() string { return "login request refused: " + e.Reason }

func refuse(format string, a ...any) error {
	return &LoginRefused{Reason: fmt.Sprintf(format, a...)}
}

// pair is one decoded field of a query or a form body.
type pair struct{ name, value string }

// parsePairs decodes an application/x-www-form-urlencoded string strictly:
// every escape valid, no ";" separators (some apps split on them).
func parsePairs(s string) ([]pair, error) {
	var out []pair
	for s != "" {
		var part string
		part, s, _ = strings.Cut(s, "&")
		if part == "" {
			continue
		}
		if strings.Contains(part, ";") {
			return nil, refuse(`a field is separated by ";"`)
		}
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, refuse("a field name is not valid form encoding")
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, refuse("a field value is not valid form encoding")
		}
		out = append(out, pair{name, value})
	}
	return out, nil
}

// isLoginAttempt reports, cheaply and before any body is read, whether a
// query names the user field. The body is checked by Canonical.
func userIn(pairs []pair, field string) (n int, variant bool) {
	for _, p := range pairs {
		switch {
		case p.name == field:
			n++
		case strings.EqualFold(phpBase(p.name), field):
			variant = true
		}
	}
	return n, variant
}

// Canonical reads a login request whose body is body (already read) and
// returns the normalised user name ("" when the request names no user: it
// is then no login attempt and is left as it is). For a login attempt it
// rewrites r so the app sees only the allowed fields and the one
// normalised name. Anything ambiguous is a *LoginRefused.
func (f *LoginForm) Canonical(r *http.Request, body []byte) (string, error) {
	query, err := parsePairs(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	inQuery, qVariant := userIn(query, f.UserField)

	ct, params, ctErr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if len(body) > 0 && ctErr != nil {
		return "", refuse("the body has no readable Content-Type")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", refuse("the body's charset is %q, not UTF-8", cs)
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return "", refuse("the body is %s-encoded", enc)
	}

	var form formBody
	switch {
	case len(body) == 0:
		form = &pairsBody{}
	case ct == "application/x-www-form-urlencoded":
		pairs, err := parsePairs(string(body))
		if err != nil {
			return "", err
		}
		form = &pairsBody{pairs: pairs}
	case ct == "multipart/form-data":
		form, err = parseMultipart(body, params["boundary"])
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		form, err = parseJSONObject(body)
	default:
		return "", refuse("a login body of type %q can't be read", ct)
	}
	if err != nil {
		return "", err
	}
	inBody, bVariant, bodyUser, err := form.user(f.UserField)
	if err != nil {
		return "", err
	}
	switch {
	case inQuery+inBody == 0 && !qVariant && !bVariant:
		return "", nil // not a login attempt
	case qVariant || bVariant:
		return "", refuse("the user field %q is sent under another spelling", f.UserField)
	case inQuery+inBody > 1:
		return "", refuse("the user field %q is sent more than once", f.UserField)
	}
	raw := bodyUser
	if inQuery == 1 {
		for _, p := range query {
			if p.name == f.UserField {
				raw = p.value
			}
		}
	}
	user, err := f.Normalize.Normalize(raw)
	if err != nil {
		return "", &LoginRefused{Reason: err.Error()}
	}
	if user == "" {
		return "", refuse("the user field %q is empty", f.UserField)
	}

	// Rewrite: only allowed fields, each once, the name as normalised.
	q, err := f.keep(query, user)
	if err != nil {
		return "", err
	}
	r.URL.RawQuery = encodePairs(q)
	r.URL.ForceQuery = false
	nb, err := form.rewrite(f, user)
	if err != nil {
		return "", err
	}
	if len(body) > 0 {
		setBody(r, nb)
		if mb, ok := form.(*multipartBody); ok {
			r.Header.Set("Content-Type", "multipart/form-data; boundary="+mb.boundary)
		}
	}
	return user, nil
}

// allowed returns the rule for a field name, or false when it is dropped.
func (f *LoginForm) allowed(name string) (Field, bool) {
	if name == f.UserField {
		return Field{Name: name}, true
	}
	if f.Fields == nil {
		return Field{Name: name}, true
	}
	for _, fd := range f.Fields {
		if fd.Name == name {
			return fd, true
		}
	}
	return Field{}, false
}

// keep filters pairs to the allowed fields, refusing a repeated field or a
// fixed field with another value, and puts the normalised user name in.
func (f *LoginForm) keep(pairs []pair, user string) ([]pair, error) {
	var out []pair
	seen := map[string]bool{}
	for _, p := range pairs {
		rule, ok := f.allowed(p.name)
		if !ok {
			continue
		}
		if seen[p.name] {
			return nil, refuse("the field %q is sent more than once", p.name)
		}
		seen[p.name] = true
		if rule.Value != "" && p.value != rule.Value {
			return nil, refuse("the field %q may only be %q on a login", p.name, rule.Value)
		}
		if p.name == f.UserField {
			p.value = user
		}
		out = append(out, p)
	}
	return out, nil
}

func encodePairs(pairs []pair) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.value))
	}
	return b.String()
}

func setBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// formBody is a parsed login body.
type formBody interface {
	// user reports how often the user field appears (exactly), whether a
	// spelling an app may read as it appears, and its value.
	user(field string) (n int, variant bool, value string, err error)
	// rewrite encodes the body with only the allowed fields.
	rewrite(f *LoginForm, user string) ([]byte, error)
}

type pairsBody struct{ pairs []pair }

func (b *pairsBody) user(field string) (int, bool, string, error) {
	n, variant := userIn(b.pairs, field)
	var v string
	for _, p := range b.pairs {
		if p.name == field {
			v = p.value
		}
	}
	return n, variant, v, nil
}

func (b *pairsBody) rewrite(f *LoginForm, user string) ([]byte, error) {
	kept, err := f.keep(b.pairs, user)
	if err != nil {
		return nil, err
	}
	return []byte(encodePairs(kept)), nil
}

type multipartBody struct {
	pairs    []pair
	boundary string
}

// maxParts bounds the fields of a multipart login body.
const maxParts = 64

func parseMultipart(body []byte, boundary string) (formBody, error) {
	if boundary == "" {
		return nil, refuse("a multipart body has no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	out := &multipartBody{}
	for i := 0; ; i++ {
		// NextRawPart: no quoted-printable decoding the app may not do.
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil || i >= maxParts {
			return nil, refuse("the multipart body can't be read")
		}
		if part.Header.Get("Content-Transfer-Encoding") != "" {
			return nil, refuse("a multipart field has a transfer encoding")
		}
		disp, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if err != nil || disp != "form-data" || params["name"] == "" {
			return nil, refuse("a multipart part is not a named form field")
		}
		if _, ok := params["filename"]; ok {
			return nil, refuse("a login carries a file")
		}
		v, err := io.ReadAll(io.LimitReader(part, int64(len(body))))
		if err != nil {
			return nil, refuse("the multipart body can't be read")
		}
		out.pairs = append(out.pairs, pair{params["name"], string(v)})
	}
	return out, nil
}

func (b *multipartBody) user(field string) (int, bool, string, error) {
	return (&pairsBody{b.pairs}).user(field)
}

func (b *multipartBody) rewrite(f *LoginForm, user string) ([]byte, error) {
	kept, err := f.keep(b.pairs, user)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range kept {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": p.name}))
		pw, err := w.CreatePart(h)
		if err != nil {
			return nil, err
		}
		io.WriteString(pw, p.value)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	b.boundary = w.Boundary()
	return buf.Bytes(), nil
}

// jsonBody is a top-level JSON object, members in order.
type jsonBody struct {
	keys   []string
	values []json.RawMessage
}

func parseJSONObject(body []byte) (formBody, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, refuse("the JSON body is not an object")
	}
	out := &jsonBody{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, refuse("the JSON body can't be read")
		}
		k := tok.(string)
		// Many decoders match keys case-insensitively (Go's own does):
		// two keys that fold alike are ambiguous.
		fk := strings.ToLower(k)
		if seen[fk] {
			return nil, refuse("the JSON key %q is sent more than once", k)
		}
		seen[fk] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, refuse("the JSON body can't be read")
		}
		out.keys = append(out.keys, k)
		out.values = append(out.values, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, refuse("the JSON body can't be read")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, refuse("the JSON body has more than one value")
	}
	return out, nil
}

func (b *jsonBody) user(field string) (int, bool, string, error) {
	n, variant := 0, false
	var v string
	for i, k := range b.keys {
		switch {
		case k == field:
			if err := json.Unmarshal(b.values[i], &v); err != nil {
				return 0, false, "", refuse("the JSON field %q is not a string", field)
			}
			n++
		case strings.EqualFold(k, field):
			variant = true
		}
	}
	return n, variant, v, nil
}

func (b *jsonBody) rewrite(f *LoginForm, user string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	for i, k := range b.keys {
		rule, ok := f.allowed(k)
		if !ok {
			continue
		}
		v := b.values[i]
		if k == f.UserField {
			v, _ = json.Marshal(user)
		} else if rule.Value != "" {
			var s string
			if json.Unmarshal(v, &s) != nil || s != rule.Value {
				return nil, refuse("the field %q may only be %q on a login", k, rule.Value)
			}
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
