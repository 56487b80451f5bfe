package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/notify"
)

const contact = "IT help desk, ext. 4242"

// enrollEnv is a gateway with an enrollment policy in front of the demo app.
func enrollEnv(t *testing.T, mutate func(c *config.Config)) *env {
	t.Helper()
	return newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.Enrollment.Contact = contact
		c.Login.LogoutAbandoned = true
		c.Regulation.User.MaxFailures = 0
		if mutate != nil {
			mutate(c)
		}
	}})
}

// invite issues an invitation as `vestibule users invite` does and returns
// the path of its link.
func (e *env) invite(user string, ttl time.Duration) string {
	e.t.Helper()
	p, err := EnrollmentPolicy(e.cfg, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := p.Invites.Issue(user, e.clock.Now(), ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	return "/.vestibule/invite?t=" + url.QueryEscape(tok)
}

// expectRefused checks a refused first enrollment: the page says why and
// whom to ask, the held login is over (logged out at the app too), and the
// audit log names the reason.
func (e *env) expectRefused(b *browser, p page, user, reason, says string) {
	e.t.Helper()
	must(e.t, p, http.StatusForbidden)
	body := html.UnescapeString(p.body)
	if !strings.Contains(body, says) || !strings.Contains(body, `<p id="contact">`) || !strings.Contains(body, contact) {
		e.t.Fatalf("refusal page lacks %q or the contact: %.800s", says, body)
	}
	if b.cookie("vestibule_pending") != "" {
		e.t.Fatal("the pending cookie survives a refusal")
	}
	if q := b.get("/.vestibule/enroll"); q.status != http.StatusGone || !strings.Contains(q.body, "Sign in again") || strings.Contains(q.body, `id="secret"`) {
		e.t.Fatalf("the held login survives a refusal: %d %.300s", q.status, q.body)
	}
	if _, err := e.srv.Durable().Enrollment(e.t.Context(), user); err == nil {
		e.t.Fatalf("%s was enrolled despite the refusal", user)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "event=enrollment_refused reason="+reason) || !strings.Contains(logs, "user="+user) {
		e.t.Fatalf("no enrollment_refused event with reason %s:\n%s", reason, logs)
	}
	for id, u := range e.app.Sessions() {
		if u == user {
			e.t.Fatalf("the refused login's app session %s is still live at the app", id)
		}
	}
}

// TestEnrollmentInvite: in invite mode only a link for exactly that user,
// unexpired and unused, enrolls.
func TestEnrollmentInvite(t *testing.T) {
	inviteMode := func(c *config.Config) { c.Enrollment.Mode = "invite" }

	t.Run("no invitation", func(t *testing.T) {
		e := enrollEnv(t, inviteMode)
		b := e.browser()
		b.login("alice", "wonderland")
		e.expectRefused(b, b.get("/.vestibule/verify"), "alice", "invite_required", "needs an invitation link")
	})

	t.Run("valid link enrolls, then is used up", func(t *testing.T) {
		e := enrollEnv(t, inviteMode)
		link := e.invite("alice", 72*time.Hour)
		b := e.browser()
		p := b.get(link)
		must(t, p, http.StatusOK)
		if !strings.Contains(p.body, "Your invitation for alice is ready") || !strings.Contains(p.body, `href="/login"`) {
			t.Fatalf("invitation page: %.600s", p.body)
		}
		var ck string
		for _, sc := range p.header["Set-Cookie"] {
			if strings.HasPrefix(sc, "vestibule_invite=") {
				ck = sc
			}
		}
		if !strings.Contains(ck, "Path=/.vestibule/") || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "Max-Age=3600") || !strings.Contains(ck, "SameSite=Lax") {
			t.Fatalf("invitation cookie: %q", ck)
		}
		if !strings.Contains(e.logs.String(), "event=invite_opened user=alice") {
			t.Fatal("no invite_opened event")
		}
		b.login("alice", "wonderland")
		b.enroll()
		if got := b.whoami(); got != "alice" {
			t.Fatalf("whoami = %q", got)
		}
		if b.cookie("vestibule_invite") != "" {
			t.Fatal("the invitation cookie outlives the enrollment")
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "event=invite_used user=alice") || !strings.Contains(logs, "event=enrollment factor=totp via=invite user=alice") {
			t.Fatalf("enrollment not audited with its invitation:\n%s", logs)
		}

		// Reused after an administrator's reset: the link is refused, and
		// a copy of the cookie too.
		b.get("/logout")
		if err := e.srv.Durable().Reset(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		b2 := e.browser()
		p = b2.get(link)
		must(t, p, http.StatusGone)
		if !strings.Contains(html.UnescapeString(p.body), "was already used") || !strings.Contains(e.logs.String(), "event=invite_refused reason=invite_used") {
			t.Fatalf("a used link: %.500s", p.body)
		}
		b3 := e.browser()
		tok, _ := url.QueryUnescape(strings.TrimPrefix(link, "/.vestibule/invite?t="))
		b3.jar.SetCookies(mustURL(t, e.gw.URL+"/.vestibule/"), []*http.Cookie{{Name: "vestibule_invite", Value: tok, Path: "/.vestibule/"}})
		b3.login("alice", "wonderland")
		e.expectRefused(b3, b3.get("/.vestibule/verify"), "alice", "invite_used", "was already used")
	})

	t.Run("link opened while the login is held", func(t *testing.T) {
		e := enrollEnv(t, inviteMode)
		link := e.invite("alice", time.Hour)
		b := e.browser()
		b.login("alice", "wonderland")
		p := b.get(link)
		if p.status != http.StatusSeeOther || location(p) != "/.vestibule/verify" {
			t.Fatalf("invitation with a held login: %d %s", p.status, location(p))
		}
		b.enroll()
	})

	t.Run("expired", func(t *testing.T) {
		e := enrollEnv(t, inviteMode)
		link := e.invite("alice", time.Hour)
		b := e.browser()
		must(t, b.get(link), http.StatusOK) // cookie kept for the hour
		e.clock.Advance(time.Hour)
		p := e.browser().get(link)
		must(t, p, http.StatusGone)
		if !strings.Contains(e.logs.String(), "event=invite_refused reason=invite_expired") {
			t.Fatal("no invite_refused event for an expired link")
		}
		// The browser that opened it in time still holds the cookie (the
		// jar ignores Max-Age on our fixed clock): the gateway refuses it.
		b.login("alice", "wonderland")
		e.expectRefused(b, b.get("/.vestibule/verify"), "alice", "invite_expired", "has expired")
	})

	t.Run("for another user", func(t *testing.T) {
		e := enrollEnv(t, inviteMode)
		b := e.browser()
		must(t, b.get(e.invite("bob", time.Hour)), http.StatusOK)
		b.login("alice", "wonderland")
		e.expectRefused(b, b.get("/.vestibule/verify"), "alice", "invite_other_user", "is for another account")
		if b.cookie("vestibule_invite") != "" {
			t.Fatal("an invitation that can't serve is kept")
		}
	})

	t.Run("forged link", func(t *testing.T) {
		e := enrollEnv(t, inviteMode)
		p := e.browser().get("/.vestibule/invite?t=" + url.QueryEscape("MTc2NDY3NjAwMHxhbGljZQ=="))
		must(t, p, http.StatusGone)
	})

	t.Run("already enrolled users are not affected", func(t *testing.T) {
		e := enrollEnv(t, inviteMode)
		b := e.browser()
		must(t, b.get(e.invite("alice", time.Hour)), http.StatusOK)
		b.login("alice", "wonderland")
		secret, _ := b.enroll()
		b.get("/logout")
		e.clock.Advance(time.Minute)
		c := e.browser()
		c.login("alice", "wonderland")
		c.expectReleased(c.verify(c.code(secret, 0)))
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestEnrollmentNetworks: a first enrollment only from the listed networks,
// with the client address from the clientip resolver (X-Forwarded-For
// believed from the trusted proxy only).
func TestEnrollmentNetworks(t *testing.T) {
	cases := []struct {
		name     string
		networks []string
		trusted  []string
		xff      string
		allowed  bool
	}{
		{"inside, direct", []string{"127.0.0.0/8"}, nil, "", true},
		{"outside, direct", []string{"10.0.0.0/8"}, nil, "", false},
		{"inside, behind the trusted proxy", []string{"10.0.0.0/8"}, []string{"127.0.0.1/32"}, "10.20.30.40", true},
		{"outside, behind the trusted proxy", []string{"10.0.0.0/8"}, []string{"127.0.0.1/32"}, "198.51.100.7", false},
		{"spoofed X-Forwarded-For from an untrusted client", []string{"10.0.0.0/8"}, nil, "10.20.30.40", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := enrollEnv(t, func(c *config.Config) {
				c.Enrollment.Mode = "networks"
				c.Enrollment.Networks = tc.networks
				c.Server.TrustedProxies = tc.trusted
			})
			b := e.browser()
			if tc.xff != "" {
				b.c.Transport = headerTransport{"X-Forwarded-For", tc.xff}
			}
			b.login("alice", "wonderland")
			if tc.allowed {
				b.enroll()
				if !strings.Contains(e.logs.String(), "event=enrollment factor=totp via=networks user=alice") {
					t.Fatal("enrollment not audited with via=networks")
				}
				return
			}
			e.expectRefused(b, b.get("/.vestibule/verify"), "alice", "network", "organisation's network")
		})
	}
}

type headerTransport struct{ k, v string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.k, h.v)
	return http.DefaultTransport.RoundTrip(r)
}

// TestEnrollmentOpenUntil: before the date the first login enrolls; after
// it unenrolled users are refused with whom to ask (enrolled users sign in
// as before, and an invitation still enrolls).
func TestEnrollmentOpenUntil(t *testing.T) {
	e := enrollEnv(t, func(c *config.Config) { c.Enrollment.OpenUntil = "2026-11-24T13:00:00Z" }) // the clock starts at 12:00
	b := e.browser()
	b.login("alice", "wonderland")
	secret, _ := b.enroll()
	b.get("/logout")

	e.clock.Advance(time.Hour) // 13:00: closed
	bob := e.browser()
	bob.login("bob", "builder")
	p := bob.do("GET", "/.vestibule/verify", nil, "Accept-Language", "de")
	e.expectRefused(bob, p, "bob", "closed", "kann nicht mehr selbst eingerichtet werden")
	if !strings.Contains(p.body, "Für den Zugang wenden Sie sich an:") || p.header.Get("Content-Language") != "de" {
		t.Fatalf("refusal page not in German: %.600s", p.body)
	}

	a := e.browser()
	a.login("alice", "wonderland")
	a.expectReleased(a.verify(a.code(secret, 0)))

	inv := e.browser()
	must(t, inv.get(e.invite("bob", time.Hour)), http.StatusOK)
	inv.login("bob", "builder")
	inv.enroll()
}

// TestEnrollmentRefusedOnEveryPath: the enrollment pages themselves (not
// only the code page that leads to them) refuse: TOTP enroll page and
// post, text-message send and first code, enroll-phone.
func TestEnrollmentRefusedOnEveryPath(t *testing.T) {
	f := newFakeTwilio(t)
	cases := []struct {
		name string
		do   func(b *browser) page
	}{
		{"GET enroll", func(b *browser) page { return b.get("/.vestibule/enroll") }},
		{"POST enroll", func(b *browser) page {
			return b.post("/.vestibule/enroll", url.Values{"csrf": {b.pendingCSRF()}, "code": {"123456"}})
		}},
		{"GET sms (first code to the app's number)", func(b *browser) page { return b.get("/.vestibule/sms") }},
		{"POST sms/send", func(b *browser) page {
			return b.post("/.vestibule/sms/send", url.Values{"csrf": {b.pendingCSRF()}})
		}},
		{"GET enroll-phone", func(b *browser) page { return b.get("/.vestibule/enroll-phone") }},
		{"POST enroll-phone", func(b *browser) page {
			return b.post("/.vestibule/enroll-phone", url.Values{"csrf": {b.pendingCSRF()}, "phone": {"+33 6 12 34 56 78"}})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := smsEnv(t, f, func(c *config.Config) {
				c.Enrollment.Mode, c.Enrollment.Contact = "invite", contact
				c.Login.LogoutAbandoned = true
			})
			sent := f.count()
			b := e.browser()
			b.login("alice", "wonderland")
			e.expectRefused(b, tc.do(b), "alice", "invite_required", "needs an invitation link")
			if f.count() != sent {
				t.Fatal("a text message was sent for a refused enrollment")
			}
		})
	}
}

// pendingCSRF reads the CSRF token a page of the held login carries (the
// recovery page has one and does not enroll).
func (b *browser) pendingCSRF() string {
	b.t.Helper()
	return csrf(b.t, b.get("/.vestibule/recovery"))
}

// TestEnrollmentSMSWithInvite: the first text-message code enrolls with an
// invitation, and the webhook is told.
func TestEnrollmentSMSWithInvite(t *testing.T) {
	f := newFakeTwilio(t)
	hook := newHookReceiver(t)
	e := smsEnv(t, f, func(c *config.Config) {
		c.Enrollment.Mode, c.Enrollment.Contact = "invite", contact
		c.Enrollment.Webhook.URL, c.Enrollment.Webhook.Secret = hook.srv.URL+"/enrolled", hook.secret
	})
	b := e.browser()
	must(t, b.get(e.invite("alice", time.Hour)), http.StatusOK)
	b.login("alice", "wonderland")
	must(t, b.sendSMS(), http.StatusSeeOther)
	p := b.enterSMS(f.lastCode(t, "+447400123456"))
	must(t, p, http.StatusOK)
	b.expectReleased(b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}}))
	ev := hook.next(t)
	if ev.Event != "enrollment" || ev.User != "alice" || ev.Factor != "sms" || ev.Via != "invite" || ev.By != "user" || ev.Phone != "+44 •••• ••3456" || ev.RemoteIP != "127.0.0.1" {
		t.Fatalf("webhook event: %+v", ev)
	}
}

// hookReceiver is a loopback webhook endpoint that checks every request
// exactly (method, path, headers, HMAC signature over the exact body, the
// injected clock's timestamp) and fails the test on anything else.
type hookReceiver struct {
	srv    *httptest.Server
	secret string
	events chan notify.Event
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{secret: "enrollment-hook-secret-1234", events: make(chan notify.Event, 16)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/enrolled" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook request %s %s %q", r.Method, r.URL, r.Header.Get("Content-Type"))
		}
		ts := r.Header.Get("X-Vestibule-Timestamp")
		m := hmac.New(sha256.New, []byte(h.secret))
		m.Write([]byte(ts + "." + string(body)))
		if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); !hmac.Equal([]byte(r.Header.Get("X-Vestibule-Signature")), []byte(want)) {
			t.Errorf("webhook signature %q, want %q", r.Header.Get("X-Vestibule-Signature"), want)
		}
		var ev notify.Event
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		if ts == "" || ts != strconv.FormatInt(ev.Time.Unix(), 10) {
			t.Errorf("timestamp %q does not match the event time %s", ts, ev.Time)
		}
		if strings.Contains(string(body), "secret") || strings.Contains(string(body), "7400123456") {
			t.Errorf("webhook body carries a secret or a full number: %s", body)
		}
		h.events <- ev
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) next(t *testing.T) notify.Event {
	t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook request")
		return notify.Event{}
	}
}

// TestEnrollmentWebhook: a TOTP enrollment reaches the webhook signed; a
// webhook that is down does not break the enrollment, and its failure is
// logged and counted.
func TestEnrollmentWebhook(t *testing.T) {
	hook := newHookReceiver(t)
	e := enrollEnv(t, func(c *config.Config) {
		c.Enrollment.Webhook.URL, c.Enrollment.Webhook.Secret = hook.srv.URL+"/enrolled", hook.secret
	})
	b := e.browser()
	b.login("alice", "wonderland")
	b.enroll()
	ev := hook.next(t)
	want := notify.Event{Event: "enrollment", User: "alice", Factor: "totp", By: "user", Via: "open", RemoteIP: "127.0.0.1", Time: e.clock.Now()}
	if ev != want {
		t.Fatalf("webhook event %+v, want %+v", ev, want)
	}

	down := enrollEnv(t, func(c *config.Config) {
		c.Enrollment.Webhook.URL, c.Enrollment.Webhook.Secret = "http://127.0.0.1:1/enrolled", hook.secret
	})
	b = down.browser()
	b.login("bob", "builder")
	b.enroll() // released although the webhook is unreachable
	// Close waits for the background send; the log is then complete.
	down.srv.Close()
	if logs := down.logs.String(); !strings.Contains(logs, "event=enrollment_webhook_failed change=enrollment user=bob") || strings.Contains(logs, hook.secret) {
		t.Fatalf("webhook failure not logged, or logged with the secret:\n%s", logs)
	}
	m := httptest.NewRecorder()
	down.srv.AdminHandler().ServeHTTP(m, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(m.Body.String(), `vestibule_events_total{event="enrollment_webhook_failed"} 1`) {
		t.Fatalf("webhook failure not counted:\n%s", grepLines(m.Body.String(), "vestibule_events_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestParseEnrollmentPolicy: the Parse JSON enrollment endpoints ask the
// same policy; the invitation comes in the body and names the Parse user
// id (the identity Parse authenticated, as the gateway files it).
func TestParseEnrollmentPolicy(t *testing.T) {
	e := newParseEnv(t, func(c *config.Config) { c.Enrollment.Mode, c.Enrollment.Contact = "invite", contact })
	for _, path := range []string{"enroll/totp", "enroll/sms", "enroll/confirm", "sms"} {
		c := e.login("alice", "alice-pw")
		ch := e.expectChallenge(c)
		if c.str("enrollRefusal") != "invite_required" || c.str("contact") != contact {
			t.Fatalf("the challenge does not say an invitation is needed: %s", c.raw)
		}
		a := e.api(path, map[string]any{"challenge": ch, "code": "123456"})
		if a.status != http.StatusForbidden || a.str("reason") != "enrollment_refused" || a.str("refusal") != "invite_required" || a.str("contact") != contact {
			t.Fatalf("%s without an invitation: %d %s", path, a.status, a.raw)
		}
		if again := e.api("enroll/totp", map[string]any{"challenge": ch}); again.str("reason") != "challenge_expired" {
			t.Fatalf("%s: the held login survives a refusal: %s", path, again.raw)
		}
	}
	if n := strings.Count(e.logs.String(), "event=upstream_session_revoked"); n != 4 {
		t.Errorf("%d refused Parse logins logged out at Parse, want 4", n)
	}
	p, err := EnrollmentPolicy(e.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	bobs, _, _ := p.Invites.Issue("b0b0002", e.clock.Now(), time.Hour)
	ch := e.expectChallenge(e.login("alice", "alice-pw"))
	if a := e.api("enroll/totp", map[string]any{"challenge": ch, "invite": bobs}); a.str("refusal") != "invite_other_user" {
		t.Fatalf("bob's invitation for alice: %d %s", a.status, a.raw)
	}
	alices, _, _ := p.Invites.Issue("aLiCe01", e.clock.Now(), time.Hour)
	ch = e.expectChallenge(e.login("alice", "alice-pw"))
	en := e.api("enroll/totp", map[string]any{"challenge": ch, "invite": alices})
	if en.status != 200 {
		t.Fatalf("enroll/totp with an invitation: %d %s", en.status, en.raw)
	}
	cf := e.api("enroll/confirm", map[string]any{"challenge": ch, "code": e.totp(en.str("secret"), 0), "invite": alices})
	if cf.status != 200 || cf.body["verified"] != true {
		t.Fatalf("enroll/confirm with an invitation: %d %s", cf.status, cf.raw)
	}
	e.expectReleased(e.api("verify", map[string]any{"challenge": ch}), "alice")
	if !strings.Contains(e.logs.String(), "event=enrollment factor=totp via=invite user=aLiCe01") {
		t.Fatal("Parse enrollment not audited with via=invite")
	}
}

// TestEnrollmentPagesTranslated: the refusal and invitation pages speak
// the user's language, like the other gate pages.
func TestEnrollmentPagesTranslated(t *testing.T) {
	cases := []struct{ lang, refusal, ask, invite string }{
		{"en", "needs an invitation link", "To get access, ask:", "Your invitation for alice is ready."},
		{"de", "brauchen Sie einen Einladungslink", "Für den Zugang wenden Sie sich an:", "Ihre Einladung für alice ist bereit."},
		{"fr", "nécessite un lien d’invitation", "Pour obtenir l’accès, adressez-vous à :", "Votre invitation pour alice est prête."},
		{"es", "se necesita un enlace de invitación", "Para obtener acceso, consulte a:", "Su invitación para alice está lista."},
	}
	e := enrollEnv(t, func(c *config.Config) { c.Enrollment.Mode = "invite" })
	for _, tc := range cases {
		t.Run(tc.lang, func(t *testing.T) {
			b := e.browser()
			b.login("alice", "wonderland")
			p := b.do("GET", "/.vestibule/verify", nil, "Accept-Language", tc.lang)
			body := html.UnescapeString(p.body)
			if p.status != http.StatusForbidden || p.header.Get("Content-Language") != tc.lang || !strings.Contains(body, tc.refusal) || !strings.Contains(body, tc.ask) {
				t.Errorf("refusal page in %s: %d %.700s", tc.lang, p.status, body)
			}
			p = e.browser().do("GET", e.invite("alice", time.Hour), nil, "Accept-Language", tc.lang)
			if body := html.UnescapeString(p.body); p.status != http.StatusOK || !strings.Contains(body, tc.invite) {
				t.Errorf("invitation page in %s: %d %.700s", tc.lang, p.status, body)
			}
		})
	}
}

// TestParseBrowserEnrollmentWithInvite: in a Parse app's browser page flow
// the user opens the invitation link first; the ticket page then leads to
// an enrollment the policy allows, and the app completes the login.
func TestParseBrowserEnrollmentWithInvite(t *testing.T) {
	e := newParseEnv(t, func(c *config.Config) { c.Enrollment.Mode, c.Enrollment.Contact = "invite", contact })
	p, err := EnrollmentPolicy(e.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := p.Invites.Issue("b0b0002", e.clock.Now(), time.Hour)
	a := e.login("bob", "bob-pw")
	ch := e.expectChallenge(a)
	u, _ := url.Parse(a.str("url"))
	b := (&env{t: t, gw: e.gw, clock: e.clock}).browser()
	must(t, b.get("/.vestibule/invite?t="+url.QueryEscape(tok)), http.StatusOK)
	must(t, b.get(u.RequestURI()), http.StatusSeeOther)
	must(t, b.get("/.vestibule/verify"), http.StatusSeeOther)
	page := b.get("/.vestibule/enroll")
	must(t, page, http.StatusOK)
	m := reSecret.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no key on the enroll page: %.500s", page.body)
	}
	page = b.post("/.vestibule/enroll", url.Values{"csrf": {csrf(t, page)}, "code": {e.totp(strings.ReplaceAll(m[1], " ", ""), 0)}})
	must(t, page, http.StatusOK)
	must(t, b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, page)}}), http.StatusOK)
	e.expectReleased(e.api("verify", map[string]any{"challenge": ch}), "bob")
	if !strings.Contains(e.logs.String(), "event=enrollment factor=totp via=invite user=b0b0002") {
		t.Fatal("enrollment not audited with via=invite")
	}
}
