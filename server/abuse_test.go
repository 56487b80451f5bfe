package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
)

// TestRegulationBansUser: wrong codes across held logins count for the
// user; at the limit the user is banned, sees when to come back, and the
// app is not even asked for the password until then.
func TestRegulationBansUser(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.login("alice", "wonderland")
	secret, _ := b.enroll()
	b.get("/logout")

	// Five wrong codes spread over two held logins.
	b.login("alice", "wonderland")
	for range 3 {
		must(t, b.verify("000000"), http.StatusUnauthorized)
	}
	b.get("/logout")
	b.login("alice", "wonderland")
	must(t, b.verify("000000"), http.StatusUnauthorized)
	p := b.verify("000000")
	must(t, p, http.StatusTooManyRequests)
	if !strings.Contains(p.body, "paused until 12:") || p.header.Get("Retry-After") == "" {
		t.Fatalf("ban page doesn't say when to come back: %.400s", p.body)
	}
	if !strings.Contains(e.logs.String(), "event=ban") {
		t.Fatal("no ban event in the log")
	}

	// The app is not asked while the ban lasts, even from another browser.
	before := e.app.LoginPosts()
	other := e.browser()
	p = other.post("/login", url.Values{"username": {" Alice"}, "password": {"wonderland"}})
	must(t, p, http.StatusTooManyRequests)
	if e.app.LoginPosts() != before {
		t.Fatal("the app was asked to check the password of a banned user")
	}
	// Another user is not affected.
	bob := e.browser()
	bob.login("bob", "builder")

	// The ban ends.
	e.clock.Advance(15*time.Minute + time.Second)
	b.login("alice", "wonderland")
	b.expectReleased(b.verify(b.code(secret, 0)))
}

// TestConcurrentWrongCodes: 50 simultaneous wrong codes, against one held
// login or spread over one user's held logins, never check more codes than
// the limit.
func TestConcurrentWrongCodes(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.login("alice", "wonderland")
	b.enroll()
	b.get("/logout")

	rejected := func() int { return strings.Count(e.logs.String(), "event=code_rejected") }

	t.Run("one held login", func(t *testing.T) {
		start := rejected()
		b.login("alice", "wonderland")
		p := b.get("/.vestibule/verify")
		token := csrf(t, p)
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.post("/.vestibule/verify", url.Values{"csrf": {token}, "code": {"000000"}})
			}()
		}
		wg.Wait()
		if n := rejected() - start; n > 5 || n == 0 {
			t.Fatalf("%d codes checked against one held login, want 1..5", n)
		}
	})

	e.clock.Advance(31 * time.Minute) // past any ban and window
	t.Run("one user, ten held logins", func(t *testing.T) {
		start := rejected()
		type held struct {
			b     *browser
			token string
		}
		var hs []held
		for range 10 {
			hb := e.browser()
			hb.login("alice", "wonderland")
			hs = append(hs, held{hb, csrf(t, hb.get("/.vestibule/verify"))})
		}
		var wg sync.WaitGroup
		for i := range 50 {
			h := hs[i%10]
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.b.post("/.vestibule/verify", url.Values{"csrf": {h.token}, "code": {"000000"}})
			}()
		}
		wg.Wait()
		if n := rejected() - start; n > 5 || n == 0 {
			t.Fatalf("%d codes checked for one user, want 1..5", n)
		}
	})
}

// TestClientIPAndForwardedFor: X-Forwarded-For from a client is ignored
// (for the upstream and for the per-IP limit) unless the peer is a trusted
// proxy.
func TestClientIPAndForwardedFor(t *testing.T) {
	ipLimit := func(trusted []string) func(*config.Config) {
		return func(c *config.Config) {
			c.Regulation.User.MaxFailures = 0
			c.Regulation.IP = config.Limit{MaxFailures: 3, Window: 10 * time.Minute, Ban: 10 * time.Minute}
			c.Server.TrustedProxies = trusted
		}
	}
	fail := func(e *env, xff string) page {
		b := e.browser()
		p := b.post("/login", url.Values{"username": {"bob"}, "password": {"builder"}})
		if p.status != http.StatusSeeOther {
			return p // refused at the login: banned
		}
		p = b.get("/.vestibule/verify")
		if p.status != http.StatusOK {
			return p
		}
		return b.do("POST", "/.vestibule/verify", url.Values{"csrf": {csrf(t, p)}, "code": {"000000"}}, "X-Forwarded-For", xff)
	}
	enrollBob := func(e *env) {
		b := e.browser()
		b.login("bob", "builder")
		b.enroll()
	}

	t.Run("untrusted client", func(t *testing.T) {
		e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: ipLimit(nil)})
		enrollBob(e)
		b := e.browser()
		p := b.do("GET", "/echo-headers", nil, "X-Forwarded-For", "203.0.113.66", "X-Vestibule-User", "admin", "Accept", "text/plain")
		if !strings.Contains(p.body, "X-Forwarded-For: 127.0.0.1\n") || !strings.Contains(p.body, "X-Vestibule-User: \n") {
			t.Fatalf("upstream saw client-chosen headers:\n%s", p.body)
		}
		// Changing X-Forwarded-For doesn't escape the per-IP limit.
		for i := range 3 {
			fail(e, fmt.Sprintf("198.51.100.%d", i))
		}
		if p := fail(e, "198.51.100.99"); p.status != http.StatusTooManyRequests {
			t.Fatalf("a spoofed X-Forwarded-For escaped the IP ban: %d", p.status)
		}
	})

	t.Run("trusted proxy", func(t *testing.T) {
		e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: ipLimit([]string{"127.0.0.1/32"})})
		enrollBob(e)
		b := e.browser()
		p := b.do("GET", "/echo-headers", nil, "X-Forwarded-For", "1.2.3.4, 203.0.113.66", "Accept", "text/plain")
		if !strings.Contains(p.body, "X-Forwarded-For: 203.0.113.66, 127.0.0.1\n") {
			t.Fatalf("behind a trusted proxy the chain should be kept from the client on:\n%s", p.body)
		}
		for range 3 {
			fail(e, "198.51.100.1")
		}
		if p := fail(e, "198.51.100.1"); p.status != http.StatusTooManyRequests {
			t.Fatalf("client behind the trusted proxy not banned: %d", p.status)
		}
		// Another client behind the same proxy is not banned.
		if p := fail(e, "198.51.100.2"); p.status != http.StatusUnauthorized {
			t.Fatalf("another client behind the proxy: %d, want 401", p.status)
		}
	})
}

// TestIdentityHeaderOnlyFromGateway: the user header reaches the app only
// as set by the gateway for a released session.
func TestIdentityHeaderOnlyFromGateway(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.login("alice", "wonderland")
	b.enroll()
	p := b.do("GET", "/echo-headers", nil, "X-Vestibule-User", "admin", "Accept", "text/plain")
	if !strings.Contains(p.body, "X-Vestibule-User: alice\n") {
		t.Fatalf("released request: %s", p.body)
	}
	if !strings.Contains(p.body, "X-Request-Id: ") {
		t.Fatalf("no request id: %s", p.body)
	}
}

// TestNoOpenRedirectAfterRelease: an app that follows ?next= blindly can't
// be used to send a user off-site after the second factor.
func TestNoOpenRedirectAfterRelease(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.login("alice", "wonderland")
	secret, _ := b.enroll()
	b.get("/logout")
	for _, next := range []string{"https://evil.example/account", "//evil.example/account", "/\\evil.example/account"} {
		e.clock.Advance(time.Minute)
		p := b.post("/login?next="+url.QueryEscape(next), url.Values{"username": {"alice"}, "password": {"wonderland"}})
		if location(p) != "/.vestibule/verify" {
			t.Fatalf("%s: login not held: %d %s", next, p.status, location(p))
		}
		p = b.verify(b.code(secret, 0))
		must(t, p, http.StatusSeeOther)
		if location(p) != "/" {
			t.Errorf("release redirects to %q, want / (held answer pointed to %q)", location(p), next)
		}
		b.get("/logout")
	}
	if !strings.Contains(e.logs.String(), "event=redirect_refused") {
		t.Error("no redirect_refused event")
	}
}

// TestStepUp: a sensitive path needs a second factor no older than its
// max age, even inside a valid gate session.
func TestStepUp(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.StepUp = []config.StepUp{{Path: "/account", MaxAge: 5 * time.Minute}}
	}})
	b := e.browser()
	b.login("alice", "wonderland")
	secret, _ := b.enroll()
	must(t, b.get("/account"), http.StatusOK)

	e.clock.Advance(6 * time.Minute)
	if got := b.whoami(); got != "alice" {
		t.Fatalf("a path without step-up: %q", got)
	}
	p := b.get("/account")
	if p.status != http.StatusSeeOther || location(p) != "/.vestibule/step-up?next=%2Faccount" {
		t.Fatalf("stale session on a step-up path: %d %q", p.status, location(p))
	}
	api := b.do("GET", "/account", nil, "Accept", "application/json")
	if api.status != http.StatusUnauthorized || !strings.Contains(api.body, "step_up_required") {
		t.Fatalf("API request: %d %s", api.status, api.body)
	}
	p = b.get(location(p))
	must(t, p, http.StatusOK)
	token := csrf(t, p)
	must(t, b.post("/.vestibule/step-up", url.Values{"code": {b.code(secret, 0)}, "next": {"/account"}}), http.StatusForbidden)
	must(t, b.post("/.vestibule/step-up", url.Values{"csrf": {token}, "code": {"000000"}, "next": {"/account"}}), http.StatusUnauthorized)
	p = b.post("/.vestibule/step-up", url.Values{"csrf": {token}, "code": {b.code(secret, 0)}, "next": {"https://evil.example/"}})
	must(t, p, http.StatusSeeOther)
	if location(p) != "/" {
		t.Errorf("step-up returns to %q", location(p))
	}
	p = b.get("/account")
	must(t, p, http.StatusOK)
	if !strings.Contains(p.body, "Welcome, alice") {
		t.Fatal("after step-up the page is not shown")
	}
	// Without a gate session the step-up page offers nothing.
	stranger := e.browser()
	if p := stranger.get("/.vestibule/step-up?next=/account"); p.status != http.StatusUnauthorized {
		t.Fatalf("step-up without a session: %d", p.status)
	}
}

// TestRememberDevice: a remembered browser skips the code on its next
// login; an administrator can revoke remembered devices.
func TestRememberDevice(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.RememberDevice.Enabled = true
	}})
	b := e.browser()
	b.login("alice", "wonderland")
	p := b.get("/.vestibule/enroll")
	secret := strings.ReplaceAll(reSecret.FindStringSubmatch(p.body)[1], " ", "")
	p = b.post("/.vestibule/enroll", url.Values{"csrf": {csrf(t, p)}, "code": {b.code(secret, 0)}})
	if !strings.Contains(p.body, `name="remember"`) {
		t.Fatal("codes page offers no remember-this-device choice")
	}
	p = b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}, "remember": {"on"}})
	b.expectReleased(p)
	if b.cookie("vestibule_device") == "" {
		t.Fatal("no device cookie")
	}
	b.get("/logout")

	// Next login: released at once.
	e.clock.Advance(time.Hour)
	p = b.post("/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
	must(t, p, http.StatusSeeOther)
	if location(p) != "/account" {
		t.Fatalf("remembered device still asked for a code: %s", location(p))
	}
	if got := b.whoami(); got != "alice" {
		t.Fatalf("whoami = %q", got)
	}
	b.get("/logout")

	// The device cookie is alice's alone.
	bobb := e.browser()
	bobb.setCookie("vestibule_device", b.cookie("vestibule_device"))
	bobb.login("bob", "builder")

	// Revoked by an administrator: the code is asked again.
	if err := e.srv.Durable().RevokeDevices(context.Background(), "alice", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	b.login("alice", "wonderland")
}

// TestAbandonedLoginsLoggedOutAtApp: with login.logout_abandoned, a held
// login that runs out of attempts or expires is logged out at the app.
func TestAbandonedLoginsLoggedOutAtApp(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.Login.LogoutAbandoned = true
		c.Regulation.User.MaxFailures = 0
	}})
	aliceSessions := func() int { return e.appSessions("alice") }
	b := e.browser()
	b.login("alice", "wonderland")
	b.enroll()
	b.get("/logout")
	if n := aliceSessions(); n != 0 {
		t.Fatalf("test premise: %d alice sessions after logout", n)
	}

	b.login("alice", "wonderland")
	if n := aliceSessions(); n != 1 {
		t.Fatalf("test premise: the held login is an app session (%d)", n)
	}
	for range 5 {
		b.verify("000000")
	}
	if n := aliceSessions(); n != 0 {
		t.Fatalf("after exhausted attempts %d alice sessions remain at the app", n)
	}

	b.login("alice", "wonderland")
	e.clock.Advance(6 * time.Minute)
	if n := e.srv.Sweep(context.Background()); n != 1 {
		t.Fatalf("Sweep collected %d held logins, want 1", n)
	}
	if n := aliceSessions(); n != 0 {
		t.Fatalf("after expiry %d alice sessions remain at the app", n)
	}
	if c := strings.Count(e.logs.String(), "event=upstream_session_revoked"); c != 2 {
		t.Errorf("%d upstream_session_revoked events, want 2", c)
	}
}

// TestSlowClientsAndUpstreams: a client that never finishes its headers is
// cut off; a slow upstream gives a 504 page; a burst of either leaks no
// goroutines.
func TestSlowClientsAndUpstreams(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, upstream: slow.URL, mutate: func(c *config.Config) {
		c.Upstream.ResponseTimeout = 200 * time.Millisecond
		c.Server.ReadHeaderTimeout = 300 * time.Millisecond
	}})
	ln := e.serve(t)
	base := "http://" + ln.Addr().String()

	baseline := runtime.NumGoroutine()

	// Slowloris: headers never finish; the server closes the connection.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	conn.Close()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a client that never finished its headers was not cut off")
	}
	if n > 0 && !strings.Contains(string(buf[:n]), "408") {
		t.Fatalf("slow client got %q", buf[:n])
	}

	// Oversized headers: a clear 431, not a hang.
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 200<<10))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatalf("oversized headers: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("oversized headers: %d, want 431", resp.StatusCode)
		}
	}

	// Slow upstream: 504 with the gateway's page, for a burst of clients.
	var wg sync.WaitGroup
	statuses := make([]int, 30)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", base+"/", nil)
			req.Header.Set("Accept", "text/html")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusGatewayTimeout {
			t.Fatalf("request %d: %d, want 504", i, s)
		}
	}
	http.DefaultClient.CloseIdleConnections()

	// Goroutines settle back (bounded wait; idle connections close).
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > baseline+5 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after the burst, %d before:\n%s", g, baseline, buf[:runtime.Stack(buf, true)])
	}
}

// TestLoginRouteAnswerWithoutUser: an answer on a login route to a request
// that names no user (an app posting everything to one path) passes
// through unreleased: no error page, and its session cookie gains nothing.
func TestLoginRouteAnswerWithoutUser(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			http.SetCookie(w, &http.Cookie{Name: "demo_session", Value: "minted", Path: "/"})
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		}
		c, _ := r.Cookie("demo_session")
		if c != nil {
			io.WriteString(w, "session "+c.Value)
			return
		}
		io.WriteString(w, "anonymous")
	}))
	defer app.Close()
	e := newEnv(t, envOpt{upstream: app.URL})
	b := e.browser()
	p := b.post("/login", url.Values{"action": {"save"}})
	if p.status != http.StatusSeeOther || location(p) != "/account" {
		t.Fatalf("answer without user: %d %s", p.status, location(p))
	}
	if got := b.do("GET", "/whoami", nil, "Accept", "text/plain").body; got != "anonymous" {
		t.Fatalf("the unreleased cookie reached the app: %q", got)
	}
}

// TestHeldLoginSurvivesRestart: with the default SQLite store a gateway
// restart in the middle of a login loses nothing.
func TestHeldLoginSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	key := key32()
	e1 := newEnv(t, envOpt{style: demoapp.StyleRegenerate, dbPath: dir + "/v.db", gateKeys: []string{key}})
	b := e1.browser()
	b.login("alice", "wonderland")
	secret, _ := b.enroll()
	b.get("/logout")
	e1.clock.Advance(time.Minute)
	b.login("alice", "wonderland")
	e1.srv.Close()

	// Same file, same keys, same app: a new process.
	e2 := newEnv(t, envOpt{upstream: e1.appSrv.URL, dbPath: dir + "/v.db", gateKeys: []string{key}})
	e2.clock.Advance(time.Minute)
	b.e = e2
	u1, _ := url.Parse(e1.gw.URL)
	u2, _ := url.Parse(e2.gw.URL)
	b.jar.SetCookies(u2, b.jar.Cookies(u1))
	b.expectReleased(b.verify(b.code(secret, 0)))
}

// TestFirstEnrollmentOnce: two sign-ins of a never-enrolled user both on the
// enrollment page: the first to confirm enrolls, the other is sent to the
// code page of that enrollment instead of replacing it.
func TestFirstEnrollmentOnce(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	a, b := e.browser(), e.browser()
	a.login("alice", "wonderland")
	b.login("alice", "wonderland")
	pa, pb := a.get("/.vestibule/enroll"), b.get("/.vestibule/enroll")
	sa := strings.ReplaceAll(reSecret.FindStringSubmatch(pa.body)[1], " ", "")
	sb := strings.ReplaceAll(reSecret.FindStringSubmatch(pb.body)[1], " ", "")
	if sa == sb {
		t.Fatal("two enrollments got the same secret")
	}
	must(t, a.post("/.vestibule/enroll", url.Values{"csrf": {csrf(t, pa)}, "code": {a.code(sa, 0)}}), http.StatusOK)
	p := b.post("/.vestibule/enroll", url.Values{"csrf": {csrf(t, pb)}, "code": {b.code(sb, 0)}})
	if p.status != http.StatusSeeOther || location(p) != "/.vestibule/verify" {
		t.Fatalf("second enrollment: %d %s", p.status, location(p))
	}
	// The first enrollment stands: its secret's next code signs b in.
	b.expectReleased(b.verify(b.code(sa, 1)))
}

// TestLoginPathIsNoBackdoor: an app that posts every form to its login
// path (DokuWiki's /doku.php) must not let an unreleased session through
// on posts that are not login attempts, nor on other methods.
func TestLoginPathIsNoBackdoor(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("demo_session"); err == nil {
			io.WriteString(w, r.Method+" as "+c.Value)
			return
		}
		io.WriteString(w, r.Method+" anonymous")
	}))
	defer app.Close()
	e := newEnv(t, envOpt{upstream: app.URL})
	thief := e.browser()
	thief.setCookie("demo_session", "stolen")
	for _, tc := range []struct {
		method string
		form   url.Values
		want   string
	}{
		{"POST", url.Values{"action": {"save"}, "text": {"defaced"}}, "POST anonymous"},
		{"GET", nil, "GET anonymous"},
		// A login attempt carries only a pre-login session the gateway saw
		// the app issue to this browser: a cookie from elsewhere is stripped.
		{"POST", url.Values{"username": {"alice"}, "password": {"guess"}}, "POST anonymous"},
	} {
		if got := thief.do(tc.method, "/login", tc.form, "Accept", "text/plain").body; got != tc.want {
			t.Errorf("%s /login %v: app saw %q, want %q", tc.method, tc.form, got, tc.want)
		}
	}
}

// TestStepUpAttemptsCapped: step-up codes are capped per gate session even
// with the per-user and per-address limits turned off.
func TestStepUpAttemptsCapped(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.StepUp = []config.StepUp{{Path: "/account", MaxAge: time.Minute}}
		c.Regulation.User.MaxFailures, c.Regulation.IP.MaxFailures = 0, 0
	}})
	b := e.browser()
	b.login("alice", "wonderland")
	secret, _ := b.enroll()
	e.clock.Advance(2 * time.Minute)
	p := b.get("/.vestibule/step-up?next=/account")
	token := csrf(t, p)
	for i := 1; i <= 5; i++ {
		must(t, b.post("/.vestibule/step-up", url.Values{"csrf": {token}, "code": {"000000"}, "next": {"/account"}}), http.StatusUnauthorized)
	}
	// The sixth try is refused before the code is looked at, even the right one.
	must(t, b.post("/.vestibule/step-up", url.Values{"csrf": {token}, "code": {b.code(secret, 1)}, "next": {"/account"}}), http.StatusTooManyRequests)
}

// crashAfterTake is an ephemeral store whose TakeHeld, once armed, takes
// the held login and then kills the request, as a gateway that dies at
// that moment would.
type crashAfterTake struct {
	store.Ephemeral
	armed atomic.Bool
}

func (c *crashAfterTake) TakeHeld(ctx context.Context, id string) (*store.Held, error) {
	h, err := c.Ephemeral.TakeHeld(ctx, id)
	if err == nil && c.armed.Load() {
		panic(http.ErrAbortHandler)
	}
	return h, err
}

// TestReleaseInterruptedIsLoggedOut: a gateway that stops between taking a
// verified login from the store and handing it over leaves no app session
// behind unseen: the release journal expires and the session is ended at
// the app, with release_unconfirmed in the log.
func TestReleaseInterruptedIsLoggedOut(t *testing.T) {
	var e *env
	eph := &crashAfterTake{Ephemeral: memory.New(func() time.Time { return e.clock.Now() })}
	e = newEnv(t, envOpt{style: demoapp.StyleRegenerate, ephemeral: eph, mutate: func(c *config.Config) {
		c.Login.LogoutAbandoned = true
	}})
	aliceSessions := func() int { return e.appSessions("alice") }
	b := e.browser()
	b.login("alice", "wonderland")
	secret, _ := b.enroll()
	b.get("/logout")
	b.login("alice", "wonderland")
	if n := aliceSessions(); n != 1 {
		t.Fatalf("test premise: the held login is an app session (%d)", n)
	}
	eph.armed.Store(true)
	p := b.get("/.vestibule/verify")
	req, _ := http.NewRequest("POST", e.gw.URL+"/.vestibule/verify", strings.NewReader(url.Values{"csrf": {csrf(t, p)}, "code": {b.code(secret, 1)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	if resp, err := b.c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the release was not interrupted: %d", resp.StatusCode)
	}
	eph.armed.Store(false)
	if b.cookie("demo_session") != "" {
		t.Fatal("premise: the interrupted release handed the session over")
	}
	if n := aliceSessions(); n != 1 {
		t.Fatalf("premise: the app session lives on after the interrupted release (%d)", n)
	}
	e.clock.Advance(2 * time.Minute)
	e.srv.Sweep(context.Background())
	if n := aliceSessions(); n != 0 {
		t.Fatalf("an interrupted release left %d alice sessions at the app", n)
	}
	if !strings.Contains(e.logs.String(), "event=release_unconfirmed") {
		t.Error("no release_unconfirmed event")
	}
}
