package parse

import (
	"strings"

	"github.com/vestibule-gw/vestibule/proxy"
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

// key normalises a decoded path: lower case, repeated and trailing slashes
// ignored.
func key(p string) string { return proxy.RouteKey(p) }

// under returns the route below prefix ("login", "users/me"), and whether
// k (a key) is the prefix or below it.
func under(k, prefix string) (string, bool) {
	if k == prefix {
		return "", true
	}
	if strings.HasPrefix(k, prefix) && len(k) > len(prefix) && k[len(prefix)] == '/' {
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
