package server

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/demoapp"
)

var styles = []struct {
	name  string
	style demoapp.Style
}{
	{"django-like new cookie", demoapp.StyleRegenerate},
	{"php-like kept cookie", demoapp.StyleKeep},
}

// TestFullFlow walks both login styles through enrollment, release, a later
// login with a TOTP code and logout.
func TestFullFlow(t *testing.T) {
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t, envOpt{style: s.style})
			b := e.browser()
			must(t, b.get("/login"), http.StatusOK)
			b.login("alice", "wonderland")
			if got := b.whoami(); got != "anonymous" {
				t.Fatalf("held login reached the app as %q before the second factor", got)
			}
			secret, _ := b.enroll()
			p := b.get("/account")
			must(t, p, http.StatusOK)
			if !strings.Contains(p.body, "Welcome, alice") {
				t.Fatalf("released session does not reach the protected page: %.300s", p.body)
			}
			if got := b.whoami(); got != "alice" {
				t.Fatalf("whoami after release = %q", got)
			}

			// Logout ends the gate session.
			p = b.get("/logout")
			must(t, p, http.StatusSeeOther)
			if b.cookie("vestibule_gate") != "" {
				t.Fatal("gate cookie survives logout")
			}
			if got := b.whoami(); got != "anonymous" {
				t.Fatalf("after logout whoami = %q", got)
			}

			// Second login: code page, not enrollment.
			e.clock.Advance(time.Minute)
			b.get("/login")
			b.login("alice", "wonderland")
			p = b.get("/.vestibule/verify")
			must(t, p, http.StatusOK)
			if !strings.Contains(p.body, "recovery") {
				t.Fatal("code page has no recovery-code path")
			}
			b.expectReleased(b.verify(b.code(secret, 0)))
			if got := b.whoami(); got != "alice" {
				t.Fatalf("whoami after TOTP login = %q", got)
			}
		})
	}
}

// TestUnreleasedCookiesNeverReachApp covers cookies copied without the gate
// cookie, a gate cookie replayed with another session, and app sessions made
// before the gateway was deployed.
func TestUnreleasedCookiesNeverReachApp(t *testing.T) {
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t, envOpt{style: s.style})
			alice := e.browser()
			alice.get("/login")
			alice.login("alice", "wonderland")
			alice.enroll()
			aliceSession := alice.cookie("demo_session")
			aliceGate := alice.cookie("vestibule_gate")
			if aliceSession == "" || aliceGate == "" {
				t.Fatal("alice has no session after release")
			}

			// A session made directly at the app, as before the gateway.
			direct := directLogin(t, e.appSrv.URL, "bob", "builder")

			cases := []struct {
				name            string
				session, gateCk string
			}{
				{"app cookie copied without gate cookie", aliceSession, ""},
				{"pre-existing app session", direct, ""},
				{"alice's gate cookie with bob's session", direct, aliceGate},
				{"garbage gate cookie", aliceSession, "x" + aliceGate[1:]},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					thief := e.browser()
					thief.setCookie("demo_session", tc.session)
					if tc.gateCk != "" {
						thief.setCookie("vestibule_gate", tc.gateCk)
					}
					if got := thief.whoami(); got != "anonymous" {
						t.Fatalf("app saw user %q", got)
					}
					p := thief.do("GET", "/echo-cookies", nil, "Accept", "text/plain")
					if strings.Contains(p.body, "demo_session") {
						t.Fatalf("the app received the session cookie: %q", p.body)
					}
					if p = thief.get("/account"); p.status != http.StatusSeeOther || location(p) != "/login" {
						t.Fatalf("/account: %d %s", p.status, location(p))
					}
				})
			}
			// Alice herself is unaffected.
			if got := alice.whoami(); got != "alice" {
				t.Fatalf("alice lost her session: %q", got)
			}
		})
	}
}

// directLogin logs in at the app itself, bypassing the gateway, and returns
// the app session id.
func directLogin(t *testing.T, appURL, user, pass string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Both styles issue a cookie on the first visit or on login.
	resp, err := c.Get(appURL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sid string
	for _, ck := range resp.Cookies() {
		if ck.Name == "demo_session" {
			sid = ck.Value
		}
	}
	req, _ := http.NewRequest("POST", appURL+"/login", strings.NewReader(url.Values{"username": {user}, "password": {pass}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: "demo_session", Value: sid})
	}
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "demo_session" {
			sid = ck.Value
		}
	}
	if sid == "" {
		t.Fatal("direct login gave no session")
	}
	return sid
}

// TestKeptSessionIsHeldAtLogin: with an app that keeps the pre-login
// session id, that cookie is held from the moment of login, and an older
// gate cookie bound to the same id stops working.
func TestKeptSessionIsHeldAtLogin(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleKeep})
	b := e.browser()
	must(t, b.get("/login"), http.StatusOK)
	sid := b.cookie("demo_session")
	if sid == "" {
		t.Fatal("php-like app set no pre-login cookie")
	}
	b.login("alice", "wonderland")
	if b.cookie("demo_session") != sid {
		t.Fatal("test premise: the app should keep the session id")
	}
	if user, ok := e.app.UserOf(sid); !ok || user != "alice" {
		t.Fatalf("test premise: the app should have authenticated the kept session (%q %v)", user, ok)
	}
	// The browser is sent back to the code page, the app never sees it.
	p := b.get("/account")
	if p.status != http.StatusSeeOther || location(p) != "/.vestibule/verify" {
		t.Fatalf("/account while held: %d %q, want redirect to the code page", p.status, location(p))
	}
	if got := b.whoami(); got != "anonymous" {
		t.Fatalf("held kept session reached the app as %q", got)
	}
	b.enroll()
	if got := b.whoami(); got != "alice" {
		t.Fatalf("after release whoami = %q", got)
	}
	oldGate := b.cookie("vestibule_gate")

	// Bob's password typed into alice's released browser: the same session
	// id becomes bob's at the app. Alice's old gate cookie must not carry it.
	e.clock.Advance(time.Second)
	p = b.post("/login", url.Values{"username": {"bob"}, "password": {"builder"}})
	must(t, p, http.StatusSeeOther)
	if user, _ := e.app.UserOf(sid); user != "bob" {
		t.Fatalf("test premise: kept session now belongs to %q", user)
	}
	replay := e.browser()
	replay.setCookie("demo_session", sid)
	replay.setCookie("vestibule_gate", oldGate)
	if got := replay.whoami(); got != "anonymous" {
		t.Fatalf("an older gate cookie carried a new login on the kept session: app saw %q", got)
	}
}

// TestGuardDoesNotDependOnLoginRoute: logging in through a route the config
// does not name, or a case or slash variant, gains nothing.
func TestGuardDoesNotDependOnLoginRoute(t *testing.T) {
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t, envOpt{style: s.style})
			for _, path := range []string{"/signin", "/Signin/"} {
				b := e.browser()
				b.get("/login")
				// Not a configured login: the app's answer passes as it is
				// (not held), and its session stays unreleased.
				if p := b.post(path, url.Values{"username": {"alice"}, "password": {"wonderland"}}); p.status != http.StatusSeeOther || location(p) != "/account" {
					t.Fatalf("answer on unconfigured %s: %d %s", path, p.status, location(p))
				}
				if got := b.whoami(); got != "anonymous" {
					t.Fatalf("login via unconfigured %s reached the app as %q", path, got)
				}
				if p := b.get("/account"); p.status == http.StatusOK {
					t.Fatalf("login via unconfigured %s shows the protected page", path)
				}
			}
			// Variants of the configured route are intercepted like it.
			for _, path := range []string{"/LOGIN", "/login/", "//login"} {
				b := e.browser()
				b.get("/login")
				p := b.post(path, url.Values{"username": {"alice"}, "password": {"wonderland"}})
				if p.status == http.StatusSeeOther && location(p) == "/account" {
					for _, sc := range p.header["Set-Cookie"] {
						if strings.HasPrefix(sc, "demo_session=") {
							t.Fatalf("variant %s released the app session without 2FA", path)
						}
					}
				}
				if got := b.whoami(); got != "anonymous" {
					t.Fatalf("variant %s reached the app as %q", path, got)
				}
			}
		})
	}
}

func TestRotationFollowsBinding(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.get("/login")
	b.login("alice", "wonderland")
	b.enroll()
	before := b.cookie("demo_session")
	gateBefore := b.cookie("vestibule_gate")
	e.clock.Advance(time.Second)
	p := b.post("/rotate", url.Values{})
	must(t, p, http.StatusOK)
	if b.cookie("demo_session") == before {
		t.Fatal("test premise: rotate should change the session id")
	}
	if b.cookie("vestibule_gate") == gateBefore {
		t.Fatal("gate cookie not re-issued on rotation")
	}
	if got := b.whoami(); got != "alice" {
		t.Fatalf("after rotation whoami = %q", got)
	}
}

func TestLogoutRevokesCopies(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleKeep})
	b := e.browser()
	b.get("/login")
	b.login("alice", "wonderland")
	b.enroll()
	sid, g := b.cookie("demo_session"), b.cookie("vestibule_gate")
	e.clock.Advance(time.Second)
	must(t, b.get("/logout"), http.StatusSeeOther)
	copyB := e.browser()
	copyB.setCookie("demo_session", sid)
	copyB.setCookie("vestibule_gate", g)
	p := copyB.do("GET", "/echo-cookies", nil, "Accept", "text/plain")
	if strings.Contains(p.body, "demo_session") {
		t.Fatalf("after logout a copied cookie pair still reaches the app: %q", p.body)
	}
}

func TestHeldLoginExpires(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.get("/login")
	b.login("alice", "wonderland")
	b.enroll()
	b.get("/logout")

	b.login("alice", "wonderland")
	p := b.get("/.vestibule/verify")
	must(t, p, http.StatusOK)
	token := csrf(t, p)
	e.clock.Advance(5*time.Minute + time.Second)
	p = b.post("/.vestibule/verify", url.Values{"csrf": {token}, "code": {"000000"}})
	if !strings.Contains(p.body, "Sign in again") {
		t.Fatalf("expired held login still accepts codes: %d %.300s", p.status, p.body)
	}
	// The page says what happened in its status too: the sign-in is gone.
	if p.status != http.StatusGone {
		t.Errorf("expiry page status %d, want 410", p.status)
	}
}

func TestAttemptLimitAndReplay(t *testing.T) {
	// The per-user ban (TestRegulation) would cut in first; this test is
	// about the budget of one held login.
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, extra: "regulation: {user: {max_failures: 0}}\n"})
	b := e.browser()
	b.get("/login")
	b.login("alice", "wonderland")
	secret, _ := b.enroll()
	b.get("/logout")

	// Replay: the code used to enroll (same step) is refused, and the page
	// says why (TestReplayedCodeNotCounted: it costs no attempt).
	b.login("alice", "wonderland")
	p := b.verify(b.code(secret, 0))
	must(t, p, http.StatusUnauthorized)
	if !strings.Contains(p.body, "already used") {
		t.Fatalf("replayed code: %.300s", p.body)
	}
	// Skew: the next step's code works (±1 step).
	e.clock.Advance(40 * time.Second)
	b.expectReleased(b.verify(b.code(secret, 1)))
	b.get("/logout")
	// ... and then the current step's code is a replay too (older step).
	b.login("alice", "wonderland")
	must(t, b.verify(b.code(secret, 0)), http.StatusUnauthorized)
	b.get("/logout")

	// Five wrong codes end the held login; the right code no longer works.
	b.login("alice", "wonderland")
	for i := 1; i <= 4; i++ {
		must(t, b.verify("000000"), http.StatusUnauthorized)
	}
	p = b.verify("000000")
	must(t, p, http.StatusTooManyRequests)
	e.clock.Advance(30 * time.Second)
	p = b.get("/.vestibule/verify")
	if !strings.Contains(p.body, "Sign in again") {
		t.Fatalf("held login survived 5 wrong codes: %.300s", p.body)
	}
	if got := b.whoami(); got != "anonymous" {
		t.Fatalf("after exhausted attempts whoami = %q", got)
	}
	// Two steps away is outside the window.
	b.login("alice", "wonderland")
	must(t, b.verify(b.code(secret, -2)), http.StatusUnauthorized)
}

func TestRecoveryCodesWorkOnce(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.get("/login")
	b.login("alice", "wonderland")
	_, codes := b.enroll()
	b.get("/logout")

	use := func(code string) page {
		b.login("alice", "wonderland")
		p := b.get("/.vestibule/recovery")
		must(t, p, http.StatusOK)
		return b.post("/.vestibule/recovery", url.Values{"csrf": {csrf(t, p)}, "code": {code}})
	}
	b.expectReleased(use(strings.ToUpper(codes[3])))
	b.get("/logout")
	must(t, use(codes[3]), http.StatusUnauthorized)

	// Stored hashed: the database file holds no code in clear.
	raw, err := os.ReadFile(e.cfg.Store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if bytes.Contains(raw, []byte(c)) || bytes.Contains(raw, []byte(strings.ReplaceAll(c, "-", ""))) {
			t.Fatal("a recovery code is stored in clear")
		}
	}
}

func TestTOTPSecretEncryptedAtRest(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.get("/login")
	b.login("alice", "wonderland")
	secret, _ := b.enroll()
	e.srv.Close()
	var raw []byte
	for _, suffix := range []string{"", "-wal"} {
		data, _ := os.ReadFile(e.cfg.Store.SQLite + suffix)
		raw = append(raw, data...)
	}
	if len(raw) == 0 {
		t.Fatal("no database file")
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(secret))) {
		t.Fatal("the TOTP secret is readable in the database file")
	}
}

func TestBypass(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleKeep})
	b := e.browser()
	b.get("/login")
	b.login("alice", "wonderland") // now holds an unreleased app cookie
	if p := b.do("GET", "/static/app.css", nil, "Accept", "text/css"); p.status != http.StatusOK {
		t.Fatalf("public asset: %d", p.status)
	}
	if p := b.do("GET", "/healthz", nil, "Accept", "text/plain"); p.status != http.StatusOK {
		t.Fatalf("health check: %d", p.status)
	}
	// A dot-segment trick through the public prefix is not public.
	for _, path := range []string{"/static/../whoami", "/static/%2e%2e/whoami", "/static/..%2fwhoami", "/STATIC/../whoami"} {
		req, _ := http.NewRequest("GET", e.gw.URL+path, nil)
		req.URL.Opaque = "" // keep the raw path as written
		req.URL.RawPath = ""
		u, _ := url.Parse(e.gw.URL + path)
		req.URL = u
		for _, c := range b.jar.Cookies(u) {
			req.AddCookie(c)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(buf.String()) == "alice" {
			t.Fatalf("%s: unreleased cookie reached a protected path through the bypass", path)
		}
	}
}

func TestGatePageHeadersAndCookies(t *testing.T) {
	for _, tc := range []struct {
		name, public string
		secure       bool
	}{{"http", "http://127.0.0.1", false}, {"https", "https://gw.example", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, publicURL: tc.public})
			b := e.browser()
			b.login("alice", "wonderland")
			p := b.get("/.vestibule/enroll")
			must(t, p, http.StatusOK)
			if p.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", p.header.Get("Cache-Control"))
			}
			csp := p.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
				t.Errorf("CSP = %q", csp)
			}
			if strings.Contains(p.body, "<script") {
				t.Error("gate page has a script")
			}
			// A page that runs a passkey ceremony (https: passkeys are on)
			// allows scripts from 'self' alone: static/passkey.js.
			if tc.secure {
				pk := b.get("/.vestibule/enroll-passkey")
				must(t, pk, http.StatusOK)
				csp := pk.header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "script-src 'self'") || strings.Count(csp, "script-src") != 1 || strings.Contains(csp, "unsafe-inline") ||
					!strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("passkey page CSP = %q", csp)
				}
				if strings.Count(pk.body, "<script") != 1 || !strings.Contains(pk.body, `<script src="/.vestibule/static/passkey.js" defer></script>`) {
					t.Errorf("passkey page: want exactly static/passkey.js: %s", pk.body)
				}
			} else if pk := b.get("/.vestibule/enroll-passkey"); strings.Contains(pk.body, "<script") {
				t.Error("passkeys are off on an IP address, yet the passkey page runs a script")
			}
			// Release, then check the gate cookie's attributes.
			secret := strings.ReplaceAll(reSecret.FindStringSubmatch(p.body)[1], " ", "")
			p = b.post("/.vestibule/enroll", url.Values{"csrf": {csrf(t, p)}, "code": {b.code(secret, 0)}})
			must(t, p, http.StatusOK)
			p = b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}})
			var gateLine string
			for _, sc := range p.header["Set-Cookie"] {
				if strings.HasPrefix(sc, "vestibule_gate=") {
					gateLine = sc
				}
			}
			if gateLine == "" {
				t.Fatalf("no gate cookie on release: %v", p.header["Set-Cookie"])
			}
			for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(gateLine, attr) {
					t.Errorf("gate cookie lacks %s: %s", attr, gateLine)
				}
			}
			if got := strings.Contains(gateLine, "Secure"); got != tc.secure {
				t.Errorf("gate cookie Secure = %v, want %v: %s", got, tc.secure, gateLine)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.login("alice", "wonderland")
	p := b.get("/.vestibule/enroll")
	token := csrf(t, p)
	secret := strings.ReplaceAll(reSecret.FindStringSubmatch(p.body)[1], " ", "")
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"missing token", url.Values{"code": {b.code(secret, 0)}}, nil},
		{"wrong token", url.Values{"csrf": {token + "x"}, "code": {b.code(secret, 0)}}, nil},
		{"foreign origin", url.Values{"csrf": {token}, "code": {b.code(secret, 0)}}, []string{"Origin", "https://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.do("POST", "/.vestibule/enroll", tc.form, tc.hdr...)
			must(t, p, http.StatusForbidden)
		})
	}
	// None of those counted as enrollment.
	if _, err := e.srv.Durable().Enrollment(t.Context(), "alice"); err == nil {
		t.Fatal("a forged form enrolled the user")
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := key32(), key32()
	dir := t.TempDir()
	e1 := newEnv(t, envOpt{style: demoapp.StyleRegenerate, gateKeys: []string{oldKey}, dbPath: dir + "/v.db"})
	b := e1.browser()
	b.login("alice", "wonderland")
	b.enroll()
	sid, g := b.cookie("demo_session"), b.cookie("vestibule_gate")

	// Same app, a gateway whose key list is [new, old]: old cookies still work.
	e2 := newEnv(t, envOpt{upstream: e1.appSrv.URL, gateKeys: []string{newKey, oldKey}})
	b2 := e2.browser()
	b2.setCookie("demo_session", sid)
	b2.setCookie("vestibule_gate", g)
	if got := b2.whoami(); got != "alice" {
		t.Fatalf("gate cookie made with the old key refused during rotation: %q", got)
	}
	// A gateway that dropped the old key refuses it.
	e3 := newEnv(t, envOpt{upstream: e1.appSrv.URL, gateKeys: []string{newKey}})
	b3 := e3.browser()
	b3.setCookie("demo_session", sid)
	b3.setCookie("vestibule_gate", g)
	if got := b3.whoami(); got != "anonymous" {
		t.Fatalf("retired key still accepted: %q", got)
	}
}

func TestUpstreamDownAndLimits(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, upstream: "http://127.0.0.1:1"})
	b := e.browser()
	p := b.get("/")
	must(t, p, http.StatusBadGateway)
	if strings.Contains(p.body, "127.0.0.1:1") || strings.Contains(p.body, "connection refused") {
		t.Fatalf("error page shows internal detail: %.300s", p.body)
	}

	e = newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b = e.browser()
	big := url.Values{"username": {"alice"}, "password": {strings.Repeat("x", 70<<10)}}
	must(t, b.post("/login", big), http.StatusRequestEntityTooLarge)
}

func TestLogsCarryNoSecrets(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.get("/login")
	b.login("alice", "wonderland")
	secret, codes := b.enroll()
	b.get("/logout")
	b.login("alice", "wonderland")
	must(t, b.verify("123456"), http.StatusUnauthorized)
	logs := e.logs.String()
	if !strings.Contains(logs, "login_held") || !strings.Contains(logs, "login_released") || !strings.Contains(logs, "code_rejected") {
		t.Fatalf("expected audit events missing from the log:\n%s", logs)
	}
	for _, ev := range []string{"login_held", "code_rejected", "login_released"} {
		if !regexp.MustCompile(`event=` + ev + `.* request_id=[0-9a-f]{12}-[0-9a-z]+`).MatchString(logs) {
			t.Errorf("event %s has no request id", ev)
		}
	}
	for _, s := range []string{secret, codes[0], "wonderland", b.cookie("demo_session"), b.cookie("vestibule_gate"), e.gateKey, testEncKey} {
		if s != "" && strings.Contains(logs, s) {
			t.Fatalf("a secret appears in the log")
		}
	}
}
