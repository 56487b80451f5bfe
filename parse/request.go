package parse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/vestibule-gw/vestibule/proxy"
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
	obj    map[string]json.RawMessage
	// header and form are kept for appKeys (rare: only the gateway's own
	// calls to Parse need them).
	header http.Header
	form   url.Values
	// mfa is the Parse mfa-adapter token in authData.mfa.token; hasMFA
	// says whether authData.mfa was sent at all.
	mfa    string
	hasMFA bool
}

// Errors a request can fail with before it reaches the app.
var (
	errBodyTooLarge = proxy.ErrBodyTooLarge
	errEncoding     = errors.New("request body encoding not accepted")
	errBadJSON      = errors.New("request body is not valid JSON or form data")
)

// readRequest inspects r. It reads a body of at most max bytes and puts it
// back. It fails closed: a body Parse might decode differently from the
// gateway (compressed, a non-UTF-8 charset, a JSON object Go can't parse)
// is refused rather than forwarded unchecked.
func readRequest(r *http.Request, max int64) (*request, error) {
	q := &request{method: r.Method, header: r.Header}
	if len(r.Header.Values("X-Parse-Session-Token")) > 1 {
		return nil, fmt.Errorf("%w: several X-Parse-Session-Token headers", errBadJSON)
	}
	q.headerToken = r.Header.Get("X-Parse-Session-Token")
	if r.Header.Get("X-Parse-Master-Key") != "" || r.Header.Get("X-Parse-Maintenance-Key") != "" {
		q.master = true
	}
	if basicMaster(r.Header.Get("Authorization")) {
		q.master = true
	}
	if r.Body == nil || r.Body == http.NoBody {
		return q, nil
	}
	if ce := strings.TrimSpace(r.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, fmt.Errorf("%w: Content-Encoding %q", errEncoding, ce)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if _, params, err := mime.ParseMediaType(ct); err == nil {
			if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
				return nil, fmt.Errorf("%w: charset %q", errEncoding, cs)
			}
		}
	}
	b, err := proxy.ReadBody(r, max)
	if err != nil {
		return nil, err
	}
	q.body = b
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) || bytes.HasPrefix(b, []byte("\xfe\xff")) || bytes.HasPrefix(b, []byte("\xff\xfe")) {
		return nil, fmt.Errorf("%w: byte order mark", errEncoding)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		// Parse Server decodes form bodies too, and reads _SessionToken
		// and _MasterKey from them like from JSON ones.
		form, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadJSON, err)
		}
		q.form = form
		q.bodyToken = form.Get("_SessionToken")
		q.master = q.master || form.Has("_MasterKey")
		return q, nil
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return q, nil
	}
	if err := json.Unmarshal(t, &q.obj); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	str := func(k string) string {
		var s string
		if raw, ok := q.obj[k]; ok {
			json.Unmarshal(raw, &s)
		}
		return s
	}
	if raw, ok := q.obj["_SessionToken"]; ok {
		// Parse takes any truthy value; an object there could reach its
		// session query as an operator. Only a string is a token.
		var s string
		if err := json.Unmarshal(raw, &s); err != nil && string(raw) != "null" && string(raw) != "false" {
			return nil, fmt.Errorf("%w: _SessionToken is not a string", errBadJSON)
		}
		q.bodyToken = s
	}
	if _, ok := q.obj["_MasterKey"]; ok {
		q.master = true
	}
	if m := str("_method"); m != "" && r.Method == http.MethodPost {
		q.method = strings.ToUpper(m)
	}
	if raw, ok := q.obj["authData"]; ok {
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
	return q, nil
}

// appKeys are the header and body fields that identify the app to Parse
// (header name, and the JS SDK's body field where it has one).
var appKeys = []struct{ header, field string }{
	{"X-Parse-Application-Id", "_ApplicationId"}, {"X-Parse-Javascript-Key", "_JavaScriptKey"},
	{"X-Parse-Rest-Api-Key", ""}, {"X-Parse-Client-Key", "_ClientKey"},
	{"X-Parse-Installation-Id", "_InstallationId"}, {"X-Parse-Windows-Key", ""},
}

// appKeys returns the client's app keys as headers, from its headers or
// its JS SDK or form body, for the gateway's own calls to Parse on its
// behalf. Built on demand: the guard's hot path never needs it.
func (q *request) appKeys() map[string]string {
	keys := map[string]string{}
	for _, k := range appKeys {
		v := q.header.Get(k.header)
		if v == "" && k.field != "" {
			if q.form != nil {
				v = q.form.Get(k.field)
			} else if raw, ok := q.obj[k.field]; ok {
				json.Unmarshal(raw, &v)
			}
		}
		if v != "" {
			keys[k.header] = v
		}
	}
	return keys
}

// basicMaster reports whether an Authorization header carries a master key
// the way Parse reads one: "Basic base64(appId:key)" where the key is not a
// "javascript-key=" one.
func basicMaster(h string) bool {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return false
	}
	_, pass, ok := strings.Cut(string(raw), ":")
	return ok && pass != "" && !strings.HasPrefix(pass, "javascript-key=")
}

// stripMFA removes authData.mfa from a login body before it is forwarded:
// the gateway is the second factor; an app without Parse's mfa adapter
// would refuse the unknown provider.
func (q *request) stripMFA(r *http.Request) error {
	if !q.hasMFA || q.obj == nil {
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
