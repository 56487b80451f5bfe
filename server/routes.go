package server

import (
	"net/http"
	"strings"

	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/parseguard"
)

// cookieGuard is what routes needs of the cookie guard.
type cookieGuard interface {
	http.Handler
	// Pages serves the gate pages with the request's gate claims.
	Pages(gate http.Handler) http.Handler
}

// parseGuard is what routes needs of the Parse guard.
type parseGuard interface {
	http.Handler
	// Owns says whether a path is the guard's (the mount, the GraphQL
	// path, or dot segments it refuses).
	Owns(path string) bool
	// Screen guards the other requests on their way to next.
	Screen(next http.Handler) http.Handler
}

var (
	_ cookieGuard = (*cookieguard.Proxy)(nil)
	_ parseGuard  = (*parseguard.Guard)(nil)
)

// routes declares every public route, in the order they are tried:
//
//   - the gate pages: every path under prefix, served by gate with the
//     request's gate claims (cookieguard.Proxy.Pages): the challenge pages
//     and the security page (prefixPages);
//   - Parse Server mode (pg not nil): the mount and the GraphQL path, and
//     paths with dot segments there, go to the Parse guard;
//   - everything else goes to the app through the cookie guard, in Parse
//     mode behind the Parse guard's screen (master keys, session tokens).
//
// Paths are matched as the guards read them (the mount and GraphQL path
// case-insensitively, as Parse routes), so this is a function rather than a
// ServeMux.
func routes(prefix string, gate http.Handler, cg cookieGuard, pg parseGuard) http.Handler {
	pages := cg.Pages(gate)
	if pg == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, prefix) {
				pages.ServeHTTP(w, r)
				return
			}
			cg.ServeHTTP(w, r)
		})
	}
	app := pg.Screen(cg)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, prefix):
			pages.ServeHTTP(w, r)
		case pg.Owns(r.URL.Path):
			pg.ServeHTTP(w, r)
		default:
			app.ServeHTTP(w, r)
		}
	})
}
