package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
)

// cleaningApp is an app that cleans user names its own way (like
// DokuWiki: trailing dots go), so a login as "alice." is alice. It answers
// who is signed in on /whoami (text), /me (JSON) and /hdr (a header), and
// records logouts.
type cleaningApp struct {
	mu       sync.Mutex
	sessions map[string]string
	logouts  int
	failMe   bool
}

func newCleaningApp(t *testing.T) (*cleaningApp, string) {
	a := &cleaningApp{sessions: map[string]string{}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv.URL
}

func (a *cleaningApp) user(r *http.Request) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, err := r.Cookie("demo_session"); err == nil {
		return a.sessions[c.Value]
	}
	return ""
}

func (a *cleaningApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/login":
		r.ParseForm()
		name := strings.ToLower(strings.TrimRight(r.PostForm.Get("username"), "."))
		if r.PostForm.Get("password") != "pw" || name == "" {
			http.Redirect(w, r, "/login?error=1", http.StatusSeeOther)
			return
		}
		a.mu.Lock()
		id := fmt.Sprintf("s%d", len(a.sessions)+1)
		a.sessions[id] = name
		a.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "demo_session", Value: id, Path: "/"})
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	case "/whoami":
		if a.failMe {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "<p>Signed in as <b>%s</b></p>", a.user(r))
	case "/me":
		json.NewEncoder(w).Encode(map[string]any{"user": map[string]string{"login": a.user(r), "name": "Alice Liddell"}})
	case "/hdr":
		w.Header().Set("X-Login", a.user(r))
	case "/logout":
		a.mu.Lock()
		a.logouts++
		a.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "demo_session", Value: "", Path: "/", MaxAge: -1})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	case "/page-with-login":
		// A page that also signs in (a login through a route the config
		// does not name): its session must not reach an unreleased browser.
		http.SetCookie(w, &http.Cookie{Name: "demo_session", Value: "sneaky", Path: "/"})
		io.WriteString(w, "page")
	default:
		fmt.Fprintf(w, "page %s as %q", r.URL.Path, a.user(r))
	}
}

// TestIdentityProbe: the app's answer names the held login's user, from
// each kind of source; a name the request spelled differently is logged
// and filed under the app's; a probe that fails holds nothing and ends the
// app session.
func TestIdentityProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   config.Identity
	}{
		{"regexp", config.Identity{Path: "/whoami", Regexp: `Signed in as <b>(?P<user>[^<]*)</b>`}},
		{"json pointer", config.Identity{Path: "/me", JSONPointer: "/user/login"}},
		{"header", config.Identity{Path: "/hdr", Header: "X-Login"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, appURL := newCleaningApp(t)
			e := newEnv(t, envOpt{upstream: appURL, mutate: func(c *config.Config) {
				c.Login.Identity = tc.id
				c.Login.Identity.Timeout = 2 * time.Second
				c.Login.LogoutAbandoned = true
			}})
			alice := e.browser()
			alice.login("alice", "pw")
			alice.enroll()

			// "alice." is alice at the app: held as alice, her code asked.
			b := e.browser()
			p := b.post("/login", url.Values{"username": {"alice."}, "password": {"pw"}})
			if location(p) != "/.vestibule/verify" {
				t.Fatalf("alias login: %d %q", p.status, location(p))
			}
			if v := b.get("/.vestibule/verify"); v.status != http.StatusOK || !strings.Contains(v.body, `name="code"`) {
				t.Fatalf("the alias login asks to enroll (%d %q): filed under the alias", v.status, location(v))
			}
			if !strings.Contains(e.logs.String(), "event=identity_mismatch user=alice request_user=alice.") {
				t.Error("no identity_mismatch event naming both")
			}

			// The probe fails: nothing held, no session for the client, the
			// app session is ended.
			app.mu.Lock()
			app.failMe = tc.name == "regexp"
			app.mu.Unlock()
			if tc.name != "regexp" {
				return
			}
			c := e.browser()
			p = c.post("/login", url.Values{"username": {"alice"}, "password": {"pw"}})
			if p.status != http.StatusBadGateway || !strings.Contains(p.body, "could not be confirmed") {
				t.Fatalf("failed probe: %d %q %.300s", p.status, location(p), p.body)
			}
			if c.cookie("demo_session") != "" || strings.Contains(strings.Join(p.header["Set-Cookie"], ";"), "demo_session=s") {
				t.Fatal("the app session reached the client after a failed probe")
			}
			if !strings.Contains(e.logs.String(), "event=identity_probe_failed") {
				t.Error("no identity_probe_failed event")
			}
			deadline := time.Now().Add(5 * time.Second)
			for app.logoutCount() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if app.logoutCount() == 0 {
				t.Error("the unconfirmed app session was not logged out at the app")
			}
		})
	}
}

func (a *cleaningApp) logoutCount() int { a.mu.Lock(); defer a.mu.Unlock(); return a.logouts }

// TestNewSessionsNeverReachUnreleasedBrowsers: a session cookie that an
// answer outside a login sets for an unreleased browser is withheld; on a
// login route an answer the success rule does not describe that sets one
// never passes: without an identity probe it is withheld (and ended at the
// app), with one the app's user is held.
func TestNewSessionsNeverReachUnreleasedBrowsers(t *testing.T) {
	app, appURL := newCleaningApp(t)
	unmatched := func(c *config.Config) {
		c.Login.Success = config.Success{Status: []int{303}, Headers: map[string]string{"Location": "^/nowhere$"}}
		c.Login.LogoutAbandoned = true
	}
	plain := newEnv(t, envOpt{upstream: appURL, mutate: unmatched})
	c := plain.browser()
	p := c.post("/login", url.Values{"username": {"alice"}, "password": {"pw"}})
	if p.status != http.StatusBadGateway || c.cookie("demo_session") != "" {
		t.Fatalf("unmatched login without a probe: %d %q, session %q: want withheld", p.status, location(p), c.cookie("demo_session"))
	}
	if !strings.Contains(plain.logs.String(), "event=login_unmatched_withheld") {
		t.Error("no login_unmatched_withheld event")
	}
	deadline := time.Now().Add(5 * time.Second)
	for app.logoutCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if app.logoutCount() == 0 {
		t.Error("the withheld session was not ended at the app")
	}

	e := newEnv(t, envOpt{upstream: appURL, mutate: func(c *config.Config) {
		unmatched(c)
		c.Login.Identity = config.Identity{Path: "/whoami", Regexp: `Signed in as <b>(?P<user>[^<]*)</b>`, Timeout: 2 * time.Second}
	}})
	b := e.browser()
	p = b.get("/page-with-login")
	if strings.Contains(strings.Join(p.header["Set-Cookie"], ";"), "sneaky") || b.cookie("demo_session") != "" {
		t.Fatal("a session set outside a login reached an unreleased browser")
	}
	if !strings.Contains(e.logs.String(), "event=session_withheld") {
		t.Error("no session_withheld event")
	}
	// The success rule does not match this app's answer, but the answer
	// sets a new session and the app confirms whose: held, then released
	// as a redirect home.
	p = b.post("/login", url.Values{"username": {"alice"}, "password": {"pw"}})
	if location(p) != "/.vestibule/verify" {
		t.Fatalf("unmatched login with a new session: %d %q, want held", p.status, location(p))
	}
	if !strings.Contains(e.logs.String(), "event=login_unmatched_held") {
		t.Error("no login_unmatched_held event")
	}
	b.releaseTo = "/" // the unmatched answer is released as a redirect home
	b.enroll()
	if got := b.get("/x"); !strings.Contains(got.body, `as "alice"`) {
		t.Fatalf("after release: %q", got.body)
	}
}

// TestStepUpPathVariants: with the factor too old, no spelling of a
// step-up path reaches the app: variants the app may fold are sent to
// step-up, paths the gateway can't canonicalise are refused.
func TestStepUpPathVariants(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.StepUp = []config.StepUp{{Prefix: "/admin/auth/", MaxAge: 5 * time.Minute}}
	}})
	b := e.browser()
	b.login("alice", "wonderland")
	b.enroll()
	e.clock.Advance(6 * time.Minute)
	for _, path := range []string{"/admin/auth/user/2/change/", "/ADMIN/auth/user/2/", "/admin//auth/user/2/", "/admin/%61uth/user/2/", "/admin/auth%2Fuser/2/"} {
		if p := b.get(path); p.status != http.StatusSeeOther || !strings.HasPrefix(location(p), "/.vestibule/step-up") {
			t.Errorf("%s: %d %q, want step-up", path, p.status, location(p))
		}
	}
	for _, path := range []string{"/admin/auth/user/2%09/change/", "/admin/auth/user/2%0B/change/", "/admin/auth/user/2%0D/change/", "/admin/auth/user/2%0C/change/", "/admin/auth/../auth/user/2/", "/admin/auth/user/2\\"} {
		if p := b.get(path); p.status != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", path, p.status, location(p))
		}
	}
	if got := b.whoami(); got != "alice" {
		t.Errorf("a path without step-up: %q", got)
	}
}

// TestAuthorizationNeverUnbound: an Authorization header reaches the app
// from no request in cookie mode, released or not.
func TestAuthorizationNeverUnbound(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	p := b.do("GET", "/echo-headers", nil, "Authorization", "Basic YWxpY2U6d29uZGVybGFuZA==", "Accept", "text/plain")
	if strings.Contains(p.body, "Authorization") {
		t.Fatalf("unreleased: %s", p.body)
	}
	b.login("alice", "wonderland")
	b.enroll()
	p = b.do("GET", "/echo-headers", nil, "Authorization", "Bearer x", "Accept", "text/plain")
	if strings.Contains(p.body, "Authorization") || !strings.Contains(p.body, "X-Vestibule-User: alice") {
		t.Fatalf("released: %s", p.body)
	}
	if !strings.Contains(e.logs.String(), "event=credential_stripped") {
		t.Error("no credential_stripped event")
	}
}
