package cookieguard

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Route is a path and the methods it applies to.
type Route struct {
	Path    string
	Methods []string
	// Query, when set, must match too: each parameter present with that
	// value (any of its values, so a repeated parameter fails closed).
	Query map[string]string
}

// PathRule names paths, for the methods in Methods (none: every method):
// exactly Path, everything under Prefix, or what Pattern matches (one of
// the three is set). Bypass rules (public paths) and step-up rules
// (sensitive paths) are PathRules.
type PathRule struct {
	Path    string
	Prefix  string
	Pattern *regexp.Regexp
	Methods []string
}

// canonical reports whether a (decoded) request path has nothing an upstream
// might resolve differently from us: no dot segments, no empty segments
// except a trailing slash, no backslash, semicolon (Tomcat path parameters),
// NUL or control characters. Only canonical paths can earn an allowance
// (login route or bypass); anything else gets the strict default.
func canonical(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f || c == '\\' || c == ';':
			return false
		case c == '/':
			rest := p[i+1:]
			seg, _, _ := strings.Cut(rest, "/")
			if seg == "." || seg == ".." {
				return false
			}
		}
	}
	return true
}

// loginKey normalises a canonical path for matching against login and
// logout routes: lower case, repeated slashes collapsed, no trailing slash.
// It widens matching only towards variants an app may treat as the same
// route (Parse and many legacy apps route case-insensitively); it never
// narrows what is intercepted.
func loginKey(p string) string {
	if isLoginKey(p) {
		return p // the usual case: nothing to change, nothing to allocate
	}
	var b strings.Builder
	b.Grow(len(p))
	prevSlash := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' {
			if prevSlash {
				continue
			}
			prevSlash = true
		} else {
			prevSlash = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	s := b.String()
	if len(s) > 1 {
		s = strings.TrimSuffix(s, "/")
	}
	return s
}

// isLoginKey reports whether p is already in loginKey's form: no upper
// case, no repeated slash, no trailing slash (but "/").
func isLoginKey(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' || c == '/' && i > 0 && p[i-1] == '/' {
			return false
		}
	}
	return len(p) <= 1 || p[len(p)-1] != '/'
}

type routeSet struct {
	routes []Route // paths stored as loginKey
}

func newRouteSet(rs []Route) routeSet {
	var out routeSet
	for _, r := range rs {
		out.routes = append(out.routes, Route{Path: loginKey(r.Path), Methods: r.Methods, Query: r.Query})
	}
	return out
}

// match reports whether key and method match a route.
func (s routeSet) match(key, method string) bool {
	for _, r := range s.routes {
		if r.Path == key && methodIn(method, r.Methods) {
			return true
		}
	}
	return false
}

// matchRequest is match that also checks each route's query parameters
// against the request's.
func (s routeSet) matchRequest(key string, r *http.Request) bool {
	for _, rt := range s.routes {
		if rt.Path != key || !methodIn(r.Method, rt.Methods) {
			continue
		}
		if len(rt.Query) == 0 {
			return true
		}
		all := true
		for k, want := range rt.Query {
			if !queryHas(r.URL.RawQuery, k, want) {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}

// queryHas reports whether a raw query carries parameter k with the value
// want (any of its values), decoding only what is encoded: every request to
// the path of a logout route with a query (DokuWiki: every page) asks.
func queryHas(raw, k, want string) bool {
	unescape := func(v string) string {
		if strings.ContainsAny(v, "%+") {
			if d, err := url.QueryUnescape(v); err == nil {
				return d
			}
		}
		return v
	}
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		name, value, _ := strings.Cut(part, "=")
		if unescape(name) == k && unescape(value) == want {
			return true
		}
	}
	return false
}

func methodIn(method string, methods []string) bool {
	return len(methods) == 0 || slices.Contains(methods, method)
}

// bypass reports whether a canonical path and method match a bypass rule.
// Matching is case-sensitive and exact: a variant is simply not public.
func bypass(rules []PathRule, p, method string) bool {
	for i := range rules {
		r := &rules[i]
		if !methodIn(method, r.Methods) {
			continue
		}
		switch {
		case r.Path != "" && p == r.Path,
			r.Prefix != "" && strings.HasPrefix(p, r.Prefix),
			r.Pattern != nil && r.Pattern.MatchString(p):
			return true
		}
	}
	return false
}
