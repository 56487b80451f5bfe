package cookieguard

import (
	"net/http"
	"regexp"
	"slices"
)

// Matcher decides whether an upstream answer to a login request is a
// successful login. Every set part must hold.
type Matcher struct {
	// Status lists acceptable status codes (empty: any 2xx or 3xx).
	Status []int
	// Headers maps a canonical header name to a pattern its value matches.
	Headers map[string]*regexp.Regexp
	// SetsSessionCookie requires the answer to set (not delete) an app
	// session cookie.
	SetsSessionCookie bool
}

// Match reports whether resp is a successful login. cookies are resp's
// parsed Set-Cookie lines; names matches the app's session cookies.
func (m *Matcher) Match(resp *http.Response, cookies []*http.Cookie, names cookieNames) bool {
	if len(m.Status) == 0 {
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			return false
		}
	} else if !slices.Contains(m.Status, resp.StatusCode) {
		return false
	}
	for name, re := range m.Headers {
		v, ok := resp.Header[name]
		if !ok || len(v) == 0 || !re.MatchString(v[0]) {
			return false
		}
	}
	if m.SetsSessionCookie {
		for _, c := range cookies {
			if names.match(c.Name) && c.Value != "" && c.MaxAge >= 0 {
				return true
			}
		}
		return false
	}
	return true
}
