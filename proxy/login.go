package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// ErrBodyTooLarge: a request body over the configured limit.
var ErrBodyTooLarge = errors.New("request body too large")

// ReadBody reads at most max bytes of the request body and puts the bytes
// back so that they are forwarded unchanged (ErrBodyTooLarge beyond max).
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > max {
		return nil, ErrBodyTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading login body: %w", err)
	}
	if int64(len(b)) > max {
		return nil, ErrBodyTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, nil
}

// loginUser extracts the user name a login request names in field: from a
// urlencoded form or a JSON object body, else from the query string. The
// result is normalised (see NormalizeUser); "" when absent.
func loginUser(r *http.Request, body []byte, field string) string {
	if field == "" {
		return ""
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/x-www-form-urlencoded":
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get(field) != "" {
			return NormalizeUser(v.Get(field))
		}
	case ct == "application/json" || strings.HasSuffix(ct, "+json") || ct == "text/plain":
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) == nil {
			var s string
			if raw, ok := obj[field]; ok && json.Unmarshal(raw, &s) == nil {
				return NormalizeUser(s)
			}
		}
	}
	return NormalizeUser(r.URL.Query().Get(field))
}

// NormalizeUser is the canonical form of a user name: surrounding space
// trimmed and case folded. Apps that accept "Alice" for "alice" must not
// give an attacker a second, unenrolled identity for the same account.
func NormalizeUser(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}
