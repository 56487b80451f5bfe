package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

// TestReplayedCodeNotCounted: the code of the step just used, sent again,
// says it was already used, costs no attempt and bans nobody, however often;
// the next step's code then works.
func TestReplayedCodeNotCounted(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, extra: "regulation: {user: {max_failures: 2}, ip: {max_failures: 2}}\n"})
	b := e.browser()
	b.login("alice", "wonderland")
	secret, _ := b.enroll() // uses the current step
	b.get("/logout")
	b.login("alice", "wonderland")
	used := b.code(secret, 0)
	for i := range e.cfg.Login.MaxAttempts + 2 {
		p := b.verify(used)
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "already used") || !strings.Contains(p.body, "Wait for the next one") {
			t.Fatalf("replay %d: %d %.400s", i+1, p.status, p.body)
		}
		if strings.Contains(p.body, "attempts left") {
			t.Fatalf("replay %d counted as an attempt: %.400s", i+1, p.body)
		}
	}
	// Nothing was counted: neither the login's budget nor a ban.
	b.expectReleased(b.verify(b.code(secret, 1)))
	if got := b.whoami(); got != "alice" {
		t.Fatalf("after the replays and the next code: %q", got)
	}
	if strings.Contains(e.logs.String(), "event=ban") {
		t.Fatal("replays led to a ban")
	}
	// A wrong code still counts.
	b.get("/logout")
	b.login("alice", "wonderland")
	if p := b.verify("000000"); !strings.Contains(p.body, "That code is not valid") || !strings.Contains(p.body, "attempts left") {
		t.Fatalf("wrong code: %d %.300s", p.status, p.body)
	}
}

// TestIPCountsOnlyFailures: right codes (sign-ins and enrollment
// confirmations) from one address don't count toward its ban; wrong codes
// do, and the limit-th one bans it.
func TestIPCountsOnlyFailures(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, extra: "regulation: {ip: {max_failures: 3}}\n"})
	alice, bob := e.browser(), e.browser()
	alice.login("alice", "wonderland")
	as, _ := alice.enroll()
	bob.login("bob", "builder")
	bs, _ := bob.enroll()
	// Six right codes from the address, twice its failure limit.
	for range 2 {
		e.clock.Advance(30 * time.Second) // a fresh step for each
		for _, c := range []struct {
			b      *browser
			user   string
			pass   string
			secret string
		}{{alice, "alice", "wonderland", as}, {bob, "bob", "builder", bs}} {
			c.b.get("/logout")
			c.b.login(c.user, c.pass)
			c.b.expectReleased(c.b.verify(c.b.code(c.secret, 0)))
		}
	}
	alice.get("/logout")
	alice.login("alice", "wonderland")
	for i := range 2 {
		if p := alice.verify("000000"); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d from an address with only right codes before: %d %.300s", i+1, p.status, p.body)
		}
	}
	bob.get("/logout")
	bob.login("bob", "builder")
	if p := bob.verify("000000"); p.status != http.StatusTooManyRequests {
		t.Fatalf("third wrong code from the address: %d, want the ban (429)", p.status)
	}
	if !strings.Contains(e.logs.String(), "scope=ip") {
		t.Fatalf("no IP ban logged:\n%s", e.logs.String())
	}
}

// TestUserRevocationEndsOpenSessions: a revocation of the user (written
// into the SQLite file by another process, as `users reset` does, or made
// by a new enrollment) ends each of the user's open gate sessions, copies
// included, and no other user's.
func TestUserRevocationEndsOpenSessions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		revoke func(t *testing.T, e *env)
	}{
		{"administrator through the SQLite file", func(t *testing.T, e *env) {
			db, err := sqlite.Open(context.Background(), e.cfg.Store.SQLite, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			eph, err := db.Ephemeral(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			now := e.clock.Now()
			if err := eph.Revoke(context.Background(), gate.UserKey("alice"), now, now.Add(12*time.Hour)); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Second)
			e.srv.syncRevocations(context.Background()) // the janitor's tick
		}},
		{"enrolling again", func(t *testing.T, e *env) {
			if err := e.srv.Durable().Reset(context.Background(), "alice"); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Second)
			again := e.browser()
			again.login("alice", "wonderland")
			again.enroll()
			if got := again.whoami(); got != "alice" {
				t.Fatalf("the new enrollment's own session: %q", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
			alice, copied, bob := e.browser(), e.browser(), e.browser()
			alice.login("alice", "wonderland")
			alice.enroll()
			copied.setCookie("demo_session", alice.cookie("demo_session"))
			copied.setCookie("vestibule_gate", alice.cookie("vestibule_gate"))
			bob.login("bob", "builder")
			bob.enroll()
			if alice.whoami() != "alice" || copied.whoami() != "alice" || bob.whoami() != "bob" {
				t.Fatal("sessions not open before the revocation")
			}
			e.clock.Advance(time.Second)
			tc.revoke(t, e)
			if got := alice.whoami(); got != "anonymous" {
				t.Errorf("alice's open session after the revocation: %q", got)
			}
			if got := copied.whoami(); got != "anonymous" {
				t.Errorf("a copy of alice's session after the revocation: %q", got)
			}
			if got := bob.whoami(); got != "bob" {
				t.Errorf("bob's session after alice's revocation: %q", got)
			}
			// Signing in again works.
			alice.login("alice", "wonderland")
		})
	}
}

// outageStore is an ephemeral store whose revocations fail while down.
type outageStore struct {
	store.Ephemeral
	down atomic.Bool
	ping func(ctx context.Context) error
}

func (o *outageStore) Revoke(ctx context.Context, key [32]byte, at, until time.Time) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.Ephemeral.Revoke(ctx, key, at, until)
}

func (o *outageStore) Ping(ctx context.Context) error {
	if o.ping != nil {
		return o.ping(ctx)
	}
	return o.Ephemeral.Ping(ctx)
}

// TestLogoutDuringStoreOutage: a logout whose revocation the store refuses
// still ends the session on this gateway at once (the copy stops working),
// and the revocation reaches the store when it is back.
func TestLogoutDuringStoreOutage(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	outage := &outageStore{Ephemeral: memory.New(c.Now)}
	e := newEnvWithStore(t, c, outage)
	alice, copied := e.browser(), e.browser()
	alice.login("alice", "wonderland")
	alice.enroll()
	copied.setCookie("demo_session", alice.cookie("demo_session"))
	copied.setCookie("vestibule_gate", alice.cookie("vestibule_gate"))
	bind := gate.BindingMap(map[string]string{"demo_session": alice.cookie("demo_session")})

	before, _ := outage.Ephemeral.RevokedAt(bind) // the login's own, at hold time
	c.Advance(time.Second)
	if p := copied.get("/.vestibule/step-up?next=/"); p.status != http.StatusOK {
		t.Fatalf("copied gate session before the outage: %d", p.status)
	}
	outage.down.Store(true)
	p := alice.get("/logout")
	if p.status >= 500 {
		t.Fatalf("logout during the outage: %d", p.status)
	}
	// The app ended its session too; the gate's own pages tell whether the
	// gateway still accepts the gate session.
	if p := copied.get("/.vestibule/step-up?next=/"); p.status != http.StatusUnauthorized {
		t.Fatalf("a copy of the logged-out gate session still works during the outage: %d", p.status)
	}
	if !strings.Contains(e.logs.String(), "event=revocation_pending") {
		t.Fatalf("the kept revocation is not logged:\n%s", e.logs.String())
	}
	if at, _ := outage.Ephemeral.RevokedAt(bind); at.After(before) {
		t.Fatal("the store has a revocation it refused")
	}
	if left := e.srv.bounded.RetryRevocations(context.Background()); left != 1 {
		t.Fatalf("pending while the store is still down: %d, want 1", left)
	}

	outage.down.Store(false)
	if left := e.srv.bounded.RetryRevocations(context.Background()); left != 0 {
		t.Fatalf("pending after the store returned: %d", left)
	}
	if at, _ := outage.Ephemeral.RevokedAt(bind); !at.After(before) {
		t.Fatal("the revocation never reached the store")
	}
	if p := copied.get("/.vestibule/step-up?next=/"); p.status != http.StatusUnauthorized {
		t.Fatalf("copy after the store took the revocation: %d", p.status)
	}
	if !strings.Contains(e.logs.String(), "event=revocation_stored") {
		t.Fatalf("handing over not logged:\n%s", e.logs.String())
	}
}

// newEnvWithStore is newEnv with an injected ephemeral store.
func newEnvWithStore(t *testing.T, c *clock, eph store.Ephemeral) *env {
	t.Helper()
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	e.clock = c
	e.logs = &logBuffer{} // the first gateway keeps its own
	srv, err := New(context.Background(), e.cfg, Deps{Now: c.Now, Logger: loggerInto(e.logs), Ephemeral: eph})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	gw := httptest.NewServer(srv.Handler())
	t.Cleanup(gw.Close)
	e.srv, e.gw = srv, gw
	return e
}

// TestReadyzEachCheck: the checks run side by side with their own
// timeouts; each is reported for what it is, so a hung store is not
// blamed on the upstream.
func TestReadyzEachCheck(t *testing.T) {
	hung := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	failed := func(context.Context) error { return errors.New("connection refused") }
	for _, tc := range []struct {
		name     string
		ping     func(context.Context) error
		upstream string
		status   int
		want     map[string]string
	}{
		{"all well", nil, "", 200, map[string]string{"durable_store": "ok", "ephemeral_store": "ok", "upstream": "ok"}},
		{"ephemeral store hung", hung, "", 503, map[string]string{"durable_store": "ok", "ephemeral_store": "timeout", "upstream": "ok"}},
		{"ephemeral store down", failed, "", 503, map[string]string{"durable_store": "ok", "ephemeral_store": "unreachable", "upstream": "ok"}},
		{"upstream down", nil, "http://127.0.0.1:1", 503, map[string]string{"durable_store": "ok", "ephemeral_store": "ok", "upstream": "unreachable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
			e := newEnv(t, envOpt{})
			cfg := *e.cfg
			if tc.upstream != "" {
				cfg.Upstream.URL = tc.upstream
			}
			srv, err := New(context.Background(), &cfg, Deps{Now: c.Now, Logger: loggerInto(&logBuffer{}),
				Ephemeral: &outageStore{Ephemeral: memory.New(c.Now), ping: tc.ping}})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			rec := httptest.NewRecorder()
			srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			var got map[string]string
			json.Unmarshal(rec.Body.Bytes(), &got)
			if rec.Code != tc.status || len(got) != len(tc.want) {
				t.Fatalf("/readyz: %d %v, want %d %v", rec.Code, got, tc.status, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestStepUpFormPostAfterExpiry: a browser's form post to a step-up path
// with a stale factor goes to the step-up page, which says the form was not
// sent; the app never sees the post. An API client still gets the JSON 401.
func TestStepUpFormPostAfterExpiry(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.StepUp = []config.StepUp{{Path: "/account", MaxAge: 5 * time.Minute}}
	}})
	b := e.browser()
	b.login("alice", "wonderland")
	b.enroll()
	e.clock.Advance(6 * time.Minute)
	p := b.post("/account", url.Values{"amount": {"100"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(location(p), "/.vestibule/step-up?") || !strings.Contains(location(p), "resend=1") {
		t.Fatalf("browser form post with a stale factor: %d %q %.200s", p.status, location(p), p.body)
	}
	page := b.get(location(p))
	must(t, page, http.StatusOK)
	if !strings.Contains(page.body, "send the form again") || !strings.Contains(page.body, "was not sent") {
		t.Fatalf("step-up page does not say to send the form again: %.600s", page.body)
	}
	api := b.do("POST", "/account", url.Values{"amount": {"100"}}, "Accept", "application/json")
	if api.status != http.StatusUnauthorized || !strings.Contains(api.body, "step_up_required") {
		t.Fatalf("API post: %d %s", api.status, api.body)
	}
	// A plain GET to the step-up page says nothing about a form.
	if p := b.get("/.vestibule/step-up?next=%2Faccount"); strings.Contains(p.body, "send the form again") {
		t.Fatal("the resend message without a form post")
	}
}

// loggerInto logs as the harness does, into logs.
func loggerInto(logs *logBuffer) *slog.Logger {
	return slog.New(audit.NewHandler(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}), nil))
}

// TestDrainOnShutdown: when the context ends (SIGTERM), /readyz answers 503
// while the listener still serves for server.drain_delay; then it stops
// accepting, the request in flight finishes, and each step is logged with
// what it drained.
func TestDrainOnShutdown(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/static/slow" {
			arrived <- struct{}{}
			<-release
		}
		w.Write([]byte("done " + r.URL.Path))
	}))
	defer slow.Close()
	e := newEnv(t, envOpt{upstream: slow.URL, mutate: func(c *config.Config) {
		c.Server.DrainDelay = 2 * time.Second
		c.Server.ShutdownGrace = time.Minute
	}})
	logs := &logBuffer{}
	srv, err := New(context.Background(), e.cfg, Deps{Now: e.clock.Now, Logger: loggerInto(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancelCause(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	ready := func() int {
		rec := httptest.NewRecorder()
		srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	if got := ready(); got != http.StatusOK {
		t.Fatalf("/readyz before shutdown: %d", got)
	}
	type result struct {
		body string
		err  error
	}
	inFlight := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/static/slow")
		if err != nil {
			inFlight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, err = io.Copy(b, resp.Body)
		inFlight <- result{b.String(), err}
	}()
	<-arrived

	cancel(errors.New("terminated signal received"))
	for !srv.Draining() {
		time.Sleep(5 * time.Millisecond)
	}
	if got := ready(); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining: %d, want 503", got)
	}
	// Still serving during the drain delay (a fresh connection).
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := fresh.Get(base + "/static/fast")
	if err != nil {
		t.Fatalf("a request during the drain delay: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a request during the drain delay: %d", resp.StatusCode)
	}
	// Then the listener closes while the slow request is still running.
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	default:
	}
	close(release)
	if r := <-inFlight; r.err != nil || r.body != "done /static/slow" {
		t.Fatalf("the request in flight: %q %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	log := logs.String()
	for _, want := range []string{
		`event=shutdown_begun cause="terminated signal received" drain_delay=2s in_flight=1`,
		`event=shutdown_draining in_flight=1`,
		`event=shutdown_done finished=1`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestOversizedLoginAnsweredAtOnce: a login whose Content-Length is over
// login.max_body_bytes gets the 413 from its headers alone, while the
// client is still holding the body back, and the connection is closed
// (net/http would otherwise wait for a body under 256 KiB before answering).
func TestOversizedLoginAnsweredAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		length int64
	}{
		{"just over the limit", 64<<10 + 1},
		{"under net/http's own discard limit", 200 << 10},
		{"far over", 10 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpt{})
			u, _ := url.Parse(e.gw.URL)
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Headers only: the body is never sent. The answer must not
			// depend on it.
			fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", u.Host, tc.length)
			// A guard so that a gateway that waits for the body fails the
			// test instead of hanging it (not a speed requirement).
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer without the body: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
				t.Fatalf("status %d, close %v; want 413 and the connection closed", resp.StatusCode, resp.Close)
			}
		})
	}
}

// TestRememberedDevicesListed: each remembered device is logged with the
// address and browser that got it and last used it (what `users show`
// lists), a copied device cookie shows up as its own use, and the cookie
// itself is never stored.
func TestRememberedDevicesListed(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.RememberDevice.Enabled = true
	}})
	b := e.browser()
	b.login("alice", "wonderland")
	p := b.get("/.vestibule/enroll")
	secret := strings.ReplaceAll(reSecret.FindStringSubmatch(p.body)[1], " ", "")
	p = b.post("/.vestibule/enroll", url.Values{"csrf": {csrf(t, p)}, "code": {b.code(secret, 0)}})
	b.expectReleased(b.do("POST", "/.vestibule/release", url.Values{"csrf": {csrf(t, p)}, "remember": {"on"}}, "User-Agent", "Laptop Firefox"))
	device := b.cookie("vestibule_device")
	b.get("/logout")
	issued := e.clock.Now()

	// The cookie copied into another browser skips the code there too (a
	// bearer token), and the log shows that browser as the last use.
	e.clock.Advance(time.Hour)
	thief := e.browser()
	thief.setCookie("vestibule_device", device)
	p = thief.do("POST", "/login", url.Values{"username": {"alice"}, "password": {"wonderland"}}, "User-Agent", "Other Browser")
	if p.status != http.StatusSeeOther || location(p) != "/account" {
		t.Fatalf("copied device cookie: %d %q", p.status, location(p))
	}
	dl, ok := e.srv.Durable().(store.DeviceLog)
	if !ok {
		t.Fatal("the durable store keeps no device log")
	}
	devices, err := dl.Devices(context.Background(), "alice")
	if err != nil || len(devices) != 1 {
		t.Fatalf("devices: %+v %v", devices, err)
	}
	d := devices[0]
	if !d.Created.Equal(issued) || !d.LastSeen.Equal(e.clock.Now()) || d.LastIP != "127.0.0.1" || d.UserAgent != "Other Browser" || len(d.ID) != 12 {
		t.Fatalf("device = %+v", d)
	}
	if strings.Contains(device, d.ID) {
		t.Fatal("the listed id is part of the cookie")
	}
}

// TestSMSEnrollmentEndsEarlierSessions: enrolling again by text message
// (after a factor reset) also ends the sessions that passed the old factor.
func TestSMSEnrollmentEndsEarlierSessions(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, nil)
	old := e.browser()
	old.login("alice", "wonderland")
	old.enroll() // TOTP
	if old.whoami() != "alice" {
		t.Fatal("the first session is not open")
	}
	if err := e.srv.Durable().Reset(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	b := e.browser()
	b.login("alice", "wonderland")
	must(t, b.sendSMS(), http.StatusSeeOther)
	p := b.enterSMS(f.lastCode(t, "+447400123456"))
	must(t, p, http.StatusOK) // enrolled: recovery codes shown
	b.expectReleased(b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}}))
	if got := b.whoami(); got != "alice" {
		t.Fatalf("the new enrollment's session: %q", got)
	}
	if got := old.whoami(); got != "anonymous" {
		t.Fatalf("a session from before the new enrollment: %q", got)
	}
}
