package cookieguard

import (
	"net/http"
	"strings"
	"time"
)

// cookieNames matches the app's session cookie names: exact names, or
// prefixes for names configured with a trailing "*". Matching is
// case-insensitive and ignores surrounding space so that no spelling an app
// might accept slips past the guard.
type cookieNames struct {
	exact    []string
	prefixes []string
}

func newCookieNames(patterns []string) cookieNames {
	var c cookieNames
	for _, p := range patterns {
		if strings.HasSuffix(p, "*") {
			c.prefixes = append(c.prefixes, strings.TrimSuffix(p, "*"))
		} else {
			c.exact = append(c.exact, p)
		}
	}
	return c
}

func (c cookieNames) match(name string) bool {
	name = strings.TrimSpace(name)
	for _, e := range c.exact {
		if strings.EqualFold(name, e) {
			return true
		}
	}
	for _, p := range c.prefixes {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return true
		}
	}
	return false
}

// maxSessionCookies bounds how many app session cookies one request may
// carry; more than that and the request is treated as unreleased.
const maxSessionCookies = 8

// scan is what the guard learns from a request's Cookie headers, without
// allocating: the gate cookie's value and the app session cookies.
type scan struct {
	gate     string
	n        int
	overflow bool
	names    [maxSessionCookies]string
	values   [maxSessionCookies]string
}

func (s *scan) sessionNames() []string  { return s.names[:s.n] }
func (s *scan) sessionValues() []string { return s.values[:s.n] }

// scanCookies reads the Cookie header lines. A duplicate gate cookie makes
// the gate value empty (ambiguous, so not trusted).
func scanCookies(lines []string, gateName string, names cookieNames, s *scan) {
	gateSeen := false
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, value, _ := strings.Cut(part, "=")
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			value = trimCookieValue(value)
			switch {
			case name == gateName:
				if gateSeen {
					s.gate = ""
				} else {
					s.gate = value
				}
				gateSeen = true
			case names.match(name):
				if s.n == maxSessionCookies {
					s.overflow = true
					continue
				}
				s.names[s.n] = name
				s.values[s.n] = value
				s.n++
			}
		}
	}
}

func trimCookieValue(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v
}

// stripSessionCookies rewrites the Cookie header without the app session
// cookies (and removes it when nothing is left).
func stripSessionCookies(h http.Header, names cookieNames) {
	stripSessionCookiesExcept(h, names, cookieNames{})
}

// sessionAfter returns the app session as it will be once the browser has
// applied the response's Set-Cookie lines to the session cookies it sent.
// changed reports whether the response set or deleted any session cookie.
func sessionAfter(sent *scan, setCookies []*http.Cookie, names cookieNames, now time.Time) (session map[string]string, changed bool) {
	session = make(map[string]string, sent.n+1)
	for i := 0; i < sent.n; i++ {
		session[sent.names[i]] = sent.values[i]
	}
	for _, c := range setCookies {
		if !names.match(c.Name) {
			continue
		}
		if deletes(c, now) {
			if _, ok := session[c.Name]; ok {
				changed = true
			}
			delete(session, c.Name)
			continue
		}
		if old, ok := session[c.Name]; !ok || old != c.Value {
			changed = true
		}
		session[c.Name] = c.Value
	}
	return session, changed
}

// deletes reports whether a Set-Cookie removes the cookie.
func deletes(c *http.Cookie, now time.Time) bool {
	if c.MaxAge < 0 || c.Value == "" {
		return true
	}
	return !c.Expires.IsZero() && !c.Expires.After(now) && c.MaxAge == 0
}

// setsSessionCookie reports, cheaply, whether any Set-Cookie line of h names
// an app session cookie.
func setsSessionCookie(h http.Header, names cookieNames) bool {
	for _, line := range h["Set-Cookie"] {
		name, _, _ := strings.Cut(line, "=")
		if names.match(name) {
			return true
		}
	}
	return false
}

func sessionMapArrays(m map[string]string) (names, values []string) {
	for n, v := range m {
		names = append(names, n)
		values = append(values, v)
	}
	return names, values
}

// authorizationKey names the Authorization header among an app session's
// parts in Basic mode (":" can't be in a cookie name).
const authorizationKey = ":authorization"

// cookieValue returns the value of the cookie called name ("" if absent or
// sent twice).
func cookieValue(lines []string, name string) string {
	var v string
	n := 0
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, val, _ := strings.Cut(part, "=")
			if strings.TrimSpace(k) == name {
				v = trimCookieValue(val)
				n++
			}
		}
	}
	if n != 1 {
		return ""
	}
	return v
}

// stripSessionCookiesExcept is stripSessionCookies keeping the cookies that
// keep matches.
func stripSessionCookiesExcept(h http.Header, names, keep cookieNames) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, _, _ := strings.Cut(part, "=")
			if strings.TrimSpace(name) == "" || names.match(name) && !keep.match(name) {
				continue
			}
			kept = append(kept, strings.TrimSpace(part))
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}

// deletesBound reports whether an answer deletes any session cookie the
// request carried.
func deletesBound(sent *scan, setCookies []*http.Cookie, now time.Time) bool {
	for _, c := range setCookies {
		if !deletes(c, now) {
			continue
		}
		for i := 0; i < sent.n; i++ {
			if sent.names[i] == c.Name {
				return true
			}
		}
	}
	return false
}
