package parseguard

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/vestibule-gw/vestibule/forward"
)

// request is what the guard reads off a client request: every place Parse
// Server takes a session token or a master key from, and the body, kept so
// that it is forwarded unchanged (or with authData.mfa removed).
type request struct {
	headerToken string
	bodyToken   string
	// master is set when the request offers a master or maintenance key in
	// any form Parse accepts: headers, HTTP basic auth, body _MasterKey.
	master bool
	// method is the effective method: a JS SDK POST with _method says.
	method string
	body   []byte
	// obj holds the top-level members of a JSON object body (nil: none),
	// read without decoding the values; field looks one up.
	obj  []member
	objA [12]member
	// header and form are kept for keySets (rare: only the gateway's own
	// calls to Parse need them).
	header http.Header
	form   url.Values
	// gqlQuery is a GraphQL request's query text (JSON or multipart).
	gqlQuery string
	// mfa is the Parse mfa-adapter token in authData.mfa.token; hasMFA
	// says whether authData.mfa was sent at all.
	mfa    string
	hasMFA bool
}

// Errors a request can fail with before it reaches the app.
var (
	errBodyTooLarge = forward.ErrBodyTooLarge
	errEncoding     = errors.New("request body encoding not accepted")
	errBadJSON      = errors.New("request body is not valid JSON or form data")
)

// readRequest inspects r. It reads a body of at most max bytes and puts it
// back. It fails closed: a body Parse might decode differently from the
// gateway (compressed, a non-UTF-8 charset, a JSON object Go can't parse)
// is refused rather than forwarded unchecked.
func readRequest(r *http.Request, max int64) (*request, error) {
	q := &request{}
	if err := readRequestInto(q, r, max); err != nil {
		return nil, err
	}
	return q, nil
}

// readRequestInto is readRequest into a request the caller owns.
func readRequestInto(q *request, r *http.Request, max int64) error {
	q.method, q.header = r.Method, r.Header
	if len(r.Header.Values("X-Parse-Session-Token")) > 1 {
		return fmt.Errorf("%w: several X-Parse-Session-Token headers", errBadJSON)
	}
	q.headerToken = r.Header.Get("X-Parse-Session-Token")
	if r.Header.Get("X-Parse-Master-Key") != "" || r.Header.Get("X-Parse-Maintenance-Key") != "" {
		q.master = true
	}
	if basicMaster(r.Header.Get("Authorization")) {
		q.master = true
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if ce := strings.TrimSpace(r.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		return fmt.Errorf("%w: Content-Encoding %q", errEncoding, ce)
	}
	var mt string
	var params map[string]string
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, ";") {
		mt = strings.ToLower(strings.TrimSpace(ct)) // the JS SDK's text/plain: no parameters to parse
	} else if ct != "" {
		mt, params, _ = mime.ParseMediaType(ct)
		if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			return fmt.Errorf("%w: charset %q", errEncoding, cs)
		}
	}
	b, err := forward.ReadBody(r, max)
	if err != nil {
		return err
	}
	q.body = b
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) || bytes.HasPrefix(b, []byte("\xfe\xff")) || bytes.HasPrefix(b, []byte("\xff\xfe")) {
		return fmt.Errorf("%w: byte order mark", errEncoding)
	}
	if mt == "application/x-www-form-urlencoded" {
		// Parse Server decodes form bodies too, and reads _SessionToken
		// and _MasterKey from them like from JSON ones.
		form, err := url.ParseQuery(string(b))
		if err != nil {
			return fmt.Errorf("%w: %v", errBadJSON, err)
		}
		q.form = form
		q.bodyToken = form.Get("_SessionToken")
		q.master = q.master || form.Has("_MasterKey")
		return nil
	}
	if mt == "multipart/form-data" {
		// A GraphQL upload: its operations are a JSON part.
		q.gqlQuery = multipartQuery(b, params["boundary"])
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return nil
	}
	if !json.Valid(t) {
		return fmt.Errorf("%w: not a JSON object", errBadJSON)
	}
	q.obj = members(t, q.objA[:0])
	if raw, ok := q.field("_SessionToken"); ok {
		// Parse takes any truthy value; an object there could reach its
		// session query as an operator. Only a string is a token.
		s, ok := rawString(raw)
		if !ok && string(raw) != "null" && string(raw) != "false" {
			return fmt.Errorf("%w: _SessionToken is not a string", errBadJSON)
		}
		q.bodyToken = s
	}
	if _, ok := q.field("_MasterKey"); ok {
		q.master = true
	}
	if m := q.str("_method"); m != "" && r.Method == http.MethodPost {
		q.method = strings.ToUpper(m)
	}
	if raw, ok := q.field("authData"); ok {
		var ad map[string]json.RawMessage
		if json.Unmarshal(raw, &ad) == nil {
			if m, ok := ad["mfa"]; ok {
				q.hasMFA = true
				var mfa struct {
					Token any `json:"token"`
				}
				json.Unmarshal(m, &mfa)
				switch v := mfa.Token.(type) {
				case string:
					q.mfa = v
				case float64:
					q.mfa = fmt.Sprint(int64(v))
				}
			}
		}
	}
	if raw, ok := q.field("query"); ok {
		json.Unmarshal(raw, &q.gqlQuery)
	}
	return nil
}

// member is one top-level member of a JSON object: its key (as written,
// escapes and all) and its raw value.
type member struct {
	key []byte
	val []byte
	esc bool // the key has escapes
}

// members lists the top-level members of a valid JSON object t.
func members(t []byte, out []member) []member {
	i := 1
	ws := func() {
		for i < len(t) && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n') {
			i++
		}
	}
	str := func() { // t[i] == '"': past the closing quote
		for i++; i < len(t); i++ {
			if t[i] == '\\' {
				i++
			} else if t[i] == '"' {
				i++
				return
			}
		}
	}
	for {
		ws()
		if i >= len(t) || t[i] != '"' {
			return out
		}
		ks := i
		str()
		m := member{key: t[ks+1 : i-1]}
		m.esc = bytes.IndexByte(m.key, '\\') >= 0
		ws()
		i++ // ':'
		ws()
		vs := i
		depth := 0
		for i < len(t) {
			c := t[i]
			if c == '"' {
				str()
				if depth == 0 {
					break
				}
				continue
			}
			if c == '{' || c == '[' {
				depth++
			} else if c == '}' || c == ']' {
				if depth == 0 {
					break
				}
				depth--
				if depth == 0 {
					i++
					break
				}
			} else if depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				break
			}
			i++
		}
		m.val = t[vs:i]
		out = append(out, m)
		ws()
		if i >= len(t) || t[i] != ',' {
			return out
		}
		i++
	}
}

// field returns the raw value of a top-level body member; the last one of
// a repeated key wins, as in JavaScript.
func (q *request) field(name string) ([]byte, bool) {
	for i := len(q.obj) - 1; i >= 0; i-- {
		m := q.obj[i]
		if !m.esc {
			if string(m.key) == name {
				return m.val, true
			}
			continue
		}
		if k, ok := unquote(m.key, nil); ok && string(k) == name {
			return m.val, true
		}
	}
	return nil, false
}

// str is a top-level body member's string value ("" when not a string).
func (q *request) str(name string) string {
	raw, ok := q.field(name)
	if !ok {
		return ""
	}
	s, _ := rawString(raw)
	return s
}

// rawString decodes a raw JSON value that should be a string.
func rawString(raw []byte) (string, bool) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : n-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// multipartQuery reads the GraphQL query from a multipart request's
// "operations" part (the GraphQL multipart request spec).
func multipartQuery(b []byte, boundary string) string {
	if boundary == "" {
		return ""
	}
	mr := multipart.NewReader(bytes.NewReader(b), boundary)
	var all []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FormName() != "operations" {
			continue
		}
		raw, _ := io.ReadAll(io.LimitReader(p, 1<<20))
		var one struct {
			Query string `json:"query"`
		}
		var many []struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(raw, &one) == nil {
			all = append(all, one.Query)
		} else if json.Unmarshal(raw, &many) == nil {
			for _, o := range many {
				all = append(all, o.Query)
			}
		} else {
			all = append(all, string(raw))
		}
	}
	return strings.Join(all, "\n")
}

// appKeys are the header and body fields that identify the app to Parse
// (header name, and the JS SDK's body field where it has one). The master
// key is never among them: the gateway doesn't keep it.
var appKeys = []struct{ header, field string }{
	{"X-Parse-Application-Id", "_ApplicationId"}, {"X-Parse-Javascript-Key", "_JavaScriptKey"},
	{"X-Parse-Rest-Api-Key", ""}, {"X-Parse-Client-Key", "_ClientKey"},
	{"X-Parse-Installation-Id", "_InstallationId"}, {"X-Parse-Windows-Key", ""},
}

// keySets returns the ways the client named its app, as header sets for
// the gateway's own calls to Parse on its behalf, in the order Parse
// Server tries them: HTTP basic auth ("appId:javascript-key=K"), the
// headers, the JS SDK's body fields (Parse reads the body when the header's
// app id is missing or unknown). Built on demand: the guard's hot path
// never needs it.
func (q *request) keySets() []map[string]string {
	hdr := map[string]string{}
	for _, k := range appKeys {
		if v := q.header.Get(k.header); v != "" {
			hdr[k.header] = v
		}
	}
	body := map[string]string{}
	for _, k := range appKeys {
		if k.field == "" {
			continue
		}
		var v string
		if q.form != nil {
			v = q.form.Get(k.field)
		} else {
			v = q.str(k.field)
		}
		if v != "" {
			body[k.header] = v
		}
	}
	var sets []map[string]string
	if app, key, ok := basicApp(q.header.Get("Authorization")); ok {
		b := map[string]string{}
		for k, v := range hdr {
			b[k] = v
		}
		b["X-Parse-Application-Id"] = app
		if key != "" {
			b["X-Parse-Javascript-Key"] = key
		}
		sets = append(sets, b)
	}
	for _, s := range []map[string]string{hdr, body} {
		if s["X-Parse-Application-Id"] != "" {
			sets = append(sets, s)
		}
	}
	return sets
}

// basicCredentials decodes an Authorization header the way Parse Server
// (Node's lenient base64) does: "basic " in any case, then base64 in the
// standard or URL alphabet, padded or not, other bytes ignored.
func basicCredentials(h string) (string, bool) {
	if len(h) < 6 || !strings.EqualFold(h[:6], "basic ") {
		return "", false
	}
	var clean []byte
	for i := 6; i < len(h); i++ {
		c := h[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '-':
			clean = append(clean, '+')
		case c == '_':
			clean = append(clean, '/')
		case c == '=':
			i = len(h) // Node stops at padding
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	raw, err := base64.RawStdEncoding.DecodeString(string(clean))
	if err != nil {
		return "", false
	}
	return string(raw), true
}

// basicMaster reports whether an Authorization header may carry a master
// key the way Parse reads one: "Basic base64(appId:key)" where the key is
// not a "javascript-key=" one. It fails closed: a basic header the gateway
// can't decode counts as a master key.
func basicMaster(h string) bool {
	h = strings.TrimLeft(h, " \t")
	if len(h) < 6 || !strings.EqualFold(h[:6], "basic ") {
		return false
	}
	cred, ok := basicCredentials(h)
	if !ok {
		return true
	}
	_, pass, ok := strings.Cut(cred, ":")
	return ok && pass != "" && !strings.HasPrefix(pass, "javascript-key=")
}

// basicApp returns the app id and JavaScript key of an
// "appId:javascript-key=K" basic header.
func basicApp(h string) (app, jsKey string, ok bool) {
	cred, ok := basicCredentials(strings.TrimLeft(h, " \t"))
	if !ok {
		return "", "", false
	}
	parts := strings.Split(cred, ":")
	if len(parts) != 2 || parts[0] == "" {
		return "", "", false
	}
	key, isJS := strings.CutPrefix(parts[1], "javascript-key=")
	if !isJS {
		key = "" // a master key: not kept
	}
	return parts[0], key, true
}

// stripMFA removes authData.mfa from a login body before it is forwarded:
// the gateway is the second factor; an app without Parse's mfa adapter
// would refuse the unknown provider.
func (q *request) stripMFA(r *http.Request) error {
	if !q.hasMFA || len(q.obj) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(q.body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return err
	}
	if ad, ok := obj["authData"].(map[string]any); ok {
		delete(ad, "mfa")
		if len(ad) == 0 {
			delete(obj, "authData")
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	q.body = b
	setBody(r, b)
	return nil
}

func setBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	if r.Header.Get("Content-Length") != "" {
		r.Header.Set("Content-Length", fmt.Sprint(len(b)))
	}
}
