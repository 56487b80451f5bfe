package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/parseguard"
	"github.com/vestibule-gw/vestibule/store"
)

// named answers with its name in a header: which handler routes chose.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-Route", name) })
}

// fakeCookieGuard routes gate pages to "pages" and the rest to "app".
type fakeCookieGuard struct{}

func (fakeCookieGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	named("app").ServeHTTP(w, r)
}

func (fakeCookieGuard) Pages(gate http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gate.ServeHTTP(w, r)
		w.Header().Set("X-Route", "pages")
	})
}

// recordingParseGuard decides with the real guard's Owns; its ServeHTTP
// answers "parse", its screen "screened app".
type recordingParseGuard struct{ *parseguard.Guard }

func (recordingParseGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	named("parse").ServeHTTP(w, r)
}

func (recordingParseGuard) Screen(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		w.Header().Set("X-Route", "screened "+w.Header().Get("X-Route"))
	})
}

type noChallenge struct{}

func (noChallenge) BeginParse(*http.Request, *store.Held, parseguard.MFA) (forward.Reply, error) {
	return forward.Reply{}, nil
}

type noHolder struct{}

func (noHolder) Hold(context.Context, *store.Held) error { return nil }
func (noHolder) Cancel(context.Context, string) (*store.Held, error) {
	return nil, store.ErrNotFound
}

func TestRoutes(t *testing.T) {
	pg, err := parseguard.New(parseguard.Options{
		Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, Mount: "/parse", GraphQL: "/graphql",
		Challenger: noChallenge{}, Held: noHolder{}, Tokens: &held.Registry{},
	})
	if err != nil {
		t.Fatal(err)
	}
	cookieMode := routes("/.vestibule/", named("gate"), fakeCookieGuard{}, nil)
	parseMode := routes("/.vestibule/", named("gate"), fakeCookieGuard{}, recordingParseGuard{pg})
	for _, tc := range []struct {
		path          string
		cookie, parse string // the handler each mode routes to
	}{
		{"/.vestibule/verify", "pages", "pages"},
		{"/.vestibule/", "pages", "pages"},
		// The prefix is the gateway's own, matched exactly: another case
		// or no trailing slash is an app path; its pages clean the path.
		{"/.Vestibule/verify", "app", "screened app"},
		{"/.vestibule", "app", "screened app"},
		{"/.vestibule/../admin", "pages", "pages"},
		{"/", "app", "screened app"},
		{"/account/settings", "app", "screened app"},
		// The mount and the GraphQL path as Parse routes them: case
		// insensitive, repeated and trailing slashes ignored.
		{"/parse", "app", "parse"},
		{"/parse/login", "app", "parse"},
		{"/PARSE/Login", "app", "parse"},
		{"//parse//users/me/", "app", "parse"},
		{"/parse/", "app", "parse"},
		{"/graphql", "app", "parse"},
		{"/GraphQL/", "app", "parse"},
		{"/parsed/login", "app", "screened app"},
		{"/graphql2", "app", "screened app"},
		// Dot segments and backslashes: the Parse guard refuses them,
		// wherever they are (an app might resolve them into the mount).
		{"/parse/../users", "app", "parse"},
		{"/app/../parse/login", "app", "parse"},
		{"/parse/./login", "app", "parse"},
		{"/x/..", "app", "parse"},
		{`/parse\login`, "app", "parse"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			for _, mode := range []struct {
				name string
				h    http.Handler
				want string
			}{{"cookie mode", cookieMode, tc.cookie}, {"parse mode", parseMode, tc.parse}} {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.URL.Path = tc.path
				w := httptest.NewRecorder()
				mode.h.ServeHTTP(w, r)
				if got := w.Header().Get("X-Route"); got != mode.want {
					t.Errorf("%s: %q went to %q, want %q", mode.name, tc.path, got, mode.want)
				}
			}
		})
	}
}
