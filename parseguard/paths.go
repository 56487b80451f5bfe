package parseguard

import (
	"strings"
)

// One definition of "is this Parse", used by every rule (holding, answer
// scanning, the master key, the token check). The path is the request's
// decoded path (Go has already resolved percent-encodings, %2F included),
// so "/p%61rse/login" is "/parse/login"; then, as Express routes it: case
// insensitive, repeated slashes and a trailing one ignored. The mount and
// the GraphQL path match as prefixes (Express mounts both with app.use):
// "/graphql/x" and "/GRAPHQL//a/b/" are GraphQL. Dot segments (also
// percent-encoded) are refused before any of this (dotted): Express does
// not resolve them, but a proxy or Parse's own router might.

// key normalises a configured path: lower case, repeated and trailing
// slashes ignored.
func key(p string) string {
	b := []byte(clean(p))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// clean normalises a request's decoded path without changing its case
// (matching is case-insensitive): repeated and trailing slashes ignored.
// The usual path is already clean and is returned as it is.
func clean(p string) string {
	dirty := len(p) > 1 && p[len(p)-1] == '/' || strings.Contains(p, "//")
	if !dirty {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	s := b.String()
	if len(s) > 1 {
		s = strings.TrimSuffix(s, "/")
	}
	return s
}

// under returns the route below prefix ("login", "users/me", in the
// request's case), and whether k (a clean path) is the prefix (a key) or
// below it, compared case-insensitively. strings.EqualFold folds a few
// non-ASCII letters to ASCII ones too (U+017F to s): that only widens what
// is treated as Parse.
func under(k, prefix string) (string, bool) {
	if len(k) < len(prefix) || !strings.EqualFold(k[:len(prefix)], prefix) {
		return "", false
	}
	if len(k) == len(prefix) {
		return "", true
	}
	if k[len(prefix)] == '/' {
		return k[len(prefix)+1:], true
	}
	return "", false
}

// dotted reports a path with dot segments or backslashes, which an app
// might resolve differently from the gateway.
func dotted(k string) bool {
	return strings.Contains(k, "\\") || strings.Contains(k, "/./") || strings.Contains(k, "/../") ||
		strings.HasSuffix(k, "/.") || strings.HasSuffix(k, "/..") || k == "." || k == ".."
}

// where says where a request goes: Parse REST below the mount (route is
// the part below it), GraphQL, or neither.
type where int

const (
	elsewhere where = iota
	rest
	graphQL
)

// locate classifies a normalised path k.
func (g *Guard) locate(k string) (where, string) {
	if g.gql != "" {
		if _, ok := under(k, g.gql); ok {
			return graphQL, ""
		}
	}
	if route, ok := under(k, g.mount); ok {
		return rest, route
	}
	return elsewhere, ""
}
