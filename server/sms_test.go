package server

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
)

// fakeTwilio records the messages sent through it; fail makes it answer
// like an outage.
type fakeTwilio struct {
	srv   *httptest.Server
	mu    sync.Mutex
	sent  []url.Values
	fail  bool
	delay time.Duration // before answering (a slow provider)
	// answer, if set, writes the answer instead (faults); the message
	// does not count as sent.
	answer func(w http.ResponseWriter)
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/2010-04-01/Accounts/ACtest/Messages.json" {
			t.Errorf("twilio path %s", r.URL.Path)
		}
		if u, p, _ := r.BasicAuth(); u != "ACtest" || p != "token-test" {
			t.Errorf("twilio auth %q", u)
		}
		r.ParseForm()
		f.mu.Lock()
		delay := f.delay
		f.mu.Unlock()
		time.Sleep(delay)
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if f.answer != nil {
			f.answer(w)
			return
		}
		if f.fail {
			w.WriteHeader(503)
			io.WriteString(w, `{"code":20503,"message":"Service unavailable","status":503}`)
			return
		}
		f.sent = append(f.sent, r.PostForm)
		w.WriteHeader(201)
		io.WriteString(w, `{"sid":"SMtest","status":"queued"}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.sent) }

var reSMSCode = regexp.MustCompile(`^(\d{6}) is your Test App sign-in code\.\n\n@127\.0\.0\.1 #(\d{6})$`)

// lastCode returns the code of the last message and checks its format.
func (f *fakeTwilio) lastCode(t *testing.T, to string) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		t.Fatal("no text message sent")
	}
	m := f.sent[len(f.sent)-1]
	if m.Get("To") != to || m.Get("From") != "+15005550006" {
		t.Fatalf("message to %q from %q, want to %s", m.Get("To"), m.Get("From"), to)
	}
	g := reSMSCode.FindStringSubmatch(m.Get("Body"))
	if g == nil || g[1] != g[2] {
		t.Fatalf("message text %q", m.Get("Body"))
	}
	return g[1]
}

func smsEnv(t *testing.T, f *fakeTwilio, extra func(*config.Config)) *env {
	return newEnv(t, envOpt{style: demoapp.StyleRegenerate,
		phones: map[string]string{"alice": "+44 7400 123456"},
		mutate: func(c *config.Config) {
			c.SMS.Enabled = true
			c.SMS.Sender = "twilio"
			c.SMS.BaseURL = f.srv.URL
			c.SMS.Twilio.AccountSID, c.SMS.Twilio.AuthToken, c.SMS.Twilio.From = "ACtest", "token-test", "+15005550006"
			c.SMS.PhoneFrom.Header = "X-User-Phone"
			c.Regulation.User.MaxFailures = 0
			if extra != nil {
				extra(c)
			}
		}})
}

func (b *browser) sendSMS() page {
	b.t.Helper()
	p := b.get("/.vestibule/sms")
	must(b.t, p, http.StatusOK)
	return b.post("/.vestibule/sms/send", url.Values{"csrf": {csrf(b.t, p)}})
}

func (b *browser) enterSMS(code string) page {
	b.t.Helper()
	p := b.get("/.vestibule/sms")
	must(b.t, p, http.StatusOK)
	return b.post("/.vestibule/sms", url.Values{"csrf": {csrf(b.t, p)}, "code": {code}})
}

// TestSMSLoginWithAppPhone: the number comes from the app's login answer;
// the first confirmed code enrolls it, later logins go straight to it.
func TestSMSLoginWithAppPhone(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, nil)
	b := e.browser()
	b.login("alice", "wonderland")
	p := b.get("/.vestibule/enroll")
	if !strings.Contains(p.body, `href="/.vestibule/sms"`) || !strings.Contains(html.UnescapeString(p.body), "+44 •••• ••3456") {
		t.Fatalf("enroll page offers no text messages to the app's number: %.500s", p.body)
	}
	p = b.get("/.vestibule/sms")
	if !strings.Contains(html.UnescapeString(p.body), "+44 •••• ••3456") || strings.Contains(p.body, "7400123456") {
		t.Fatalf("sms page must show the number masked: %.400s", p.body)
	}
	must(t, b.sendSMS(), http.StatusSeeOther)
	code := f.lastCode(t, "+447400123456")
	// The code is stored hashed.
	if strings.Contains(e.logs.String(), code) {
		t.Fatal("the code is in the log")
	}
	p = b.enterSMS(code)
	must(t, p, http.StatusOK) // recovery codes: the number is now enrolled
	if len(reCodes.FindAllStringSubmatch(p.body, -1)) != 10 {
		t.Fatalf("no recovery codes after the first SMS: %.400s", p.body)
	}
	b.expectReleased(b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}}))
	if got := b.whoami(); got != "alice" {
		t.Fatalf("whoami = %q", got)
	}
	b.get("/logout")

	// Next time: straight to the text message; the code releases the login.
	e.clock.Advance(time.Minute)
	b.login("alice", "wonderland")
	p = b.get("/.vestibule/verify")
	if p.status != http.StatusSeeOther || location(p) != "/.vestibule/sms" {
		t.Fatalf("SMS user's code page: %d %s", p.status, location(p))
	}
	must(t, b.sendSMS(), http.StatusSeeOther)
	b.expectReleased(b.enterSMS(f.lastCode(t, "+447400123456")))
	// A code works once.
	b.get("/logout")
	e.clock.Advance(time.Minute)
	old := f.lastCode(t, "+447400123456")
	b.login("alice", "wonderland")
	must(t, b.sendSMS(), http.StatusSeeOther)
	if p := b.enterSMS(old); p.status != http.StatusUnauthorized {
		t.Fatalf("an earlier code worked: %d", p.status)
	}
}

func TestSMSWrongExpiredCooldownCaps(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, func(c *config.Config) { c.SMS.PerUserPerHour = 3; c.SMS.CodeTTL = time.Minute })
	b := e.browser()
	b.login("alice", "wonderland")
	must(t, b.sendSMS(), http.StatusSeeOther)
	code := f.lastCode(t, "+447400123456")
	p := b.enterSMS("000000")
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "That code is not valid") {
		t.Fatalf("wrong code: %d %.300s", p.status, p.body)
	}
	// Resend within the cooldown is refused, after it allowed.
	p = b.sendSMS()
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "seconds") {
		t.Fatalf("resend within cooldown: %d %.300s", p.status, p.body)
	}
	if f.count() != 1 {
		t.Fatalf("%d messages sent", f.count())
	}
	// Expired code.
	e.clock.Advance(time.Minute)
	if p := b.enterSMS(code); !strings.Contains(p.body, "expired") {
		t.Fatalf("expired code: %d %.300s", p.status, p.body)
	}
	must(t, b.sendSMS(), http.StatusSeeOther)
	e.clock.Advance(31 * time.Second)
	b2 := e.browser()
	b2.login("alice", "wonderland")
	must(t, b2.sendSMS(), http.StatusSeeOther)
	e.clock.Advance(31 * time.Second)
	// Fourth send in the hour for alice: over the cap of 3.
	b3 := e.browser()
	b3.login("alice", "wonderland")
	p = b3.sendSMS()
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many text messages") {
		t.Fatalf("over the hourly cap: %d %.300s", p.status, p.body)
	}
	if f.count() != 3 {
		t.Fatalf("%d messages sent, want 3", f.count())
	}
	if !strings.Contains(e.logs.String(), "reason=cap_user") {
		t.Error("no cap event in the log")
	}
}

// TestSMSProviderDownThenUp: a failed send shows a clear message, keeps the
// held login, does not count against the hourly caps, and may be retried
// after a short back-off.
func TestSMSProviderDownThenUp(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, func(c *config.Config) { c.SMS.PerUserPerHour, c.SMS.PerPhonePerHour, c.SMS.PerIPPerHour = 1, 1, 1 })
	b := e.browser()
	b.login("alice", "wonderland")
	f.mu.Lock()
	f.fail = true
	f.mu.Unlock()
	for i := range 3 { // an outage: more failures than the caps allow sends
		p := b.sendSMS()
		if p.status != http.StatusBadGateway || !strings.Contains(p.body, "could not send the text message") {
			t.Fatalf("provider down (%d): %d %.300s", i, p.status, p.body)
		}
		// Retried at once: the short back-off; after it: allowed again.
		if p := b.sendSMS(); p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "5 seconds") {
			t.Fatalf("retry within the back-off: %d %.300s", p.status, p.body)
		}
		e.clock.Advance(5 * time.Second)
	}
	if !strings.Contains(e.logs.String(), "event=sms_failed reason=rejected provider=twilio provider_code=20503") || strings.Contains(e.logs.String(), "token-test") {
		t.Fatalf("log line for the failure:\n%s", e.logs.String())
	}
	f.mu.Lock()
	f.fail = false
	f.mu.Unlock()
	must(t, b.sendSMS(), http.StatusSeeOther) // the failures did not use up the caps of 1
	p := b.enterSMS(f.lastCode(t, "+447400123456"))
	must(t, p, http.StatusOK)
	if f.count() != 1 {
		t.Errorf("%d texts sent, want 1", f.count())
	}
}

// TestSMSSwitchFactorAndCountries: a TOTP user with a number may switch to
// text messages; numbers outside the allowed countries get nothing.
func TestSMSSwitchFactorAndCountries(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, nil)
	b := e.browser()
	b.login("alice", "wonderland")
	secret, _ := b.enroll() // TOTP
	b.get("/logout")
	e.srv.Durable().SetPhone(t.Context(), "alice", "+447400123456", e.clock.Now())

	e.clock.Advance(time.Minute)
	b.login("alice", "wonderland")
	p := b.get("/.vestibule/verify")
	if !strings.Contains(p.body, `id="use-sms"`) {
		t.Fatalf("no switch to text messages: %.400s", p.body)
	}
	p = b.get("/.vestibule/sms")
	if !strings.Contains(p.body, `id="use-totp"`) {
		t.Fatalf("no switch back to the authenticator: %.400s", p.body)
	}
	must(t, b.sendSMS(), http.StatusSeeOther)
	b.expectReleased(b.enterSMS(f.lastCode(t, "+447400123456")))
	b.get("/logout")
	e.clock.Advance(time.Minute)
	b.login("alice", "wonderland")
	b.expectReleased(b.verify(b.code(secret, 0)))

	// Country allowlist.
	f2 := newFakeTwilio(t)
	e2 := smsEnv(t, f2, func(c *config.Config) { c.SMS.AllowedCountries = []string{"FR"} })
	c := e2.browser()
	c.login("alice", "wonderland")
	p = c.sendSMS()
	if p.status != http.StatusForbidden || f2.count() != 0 {
		t.Fatalf("number outside the allowed countries: %d, %d sent", p.status, f2.count())
	}
}

// TestSMSSelfEnrollment: without a number from the app, the user adds and
// confirms their own; bad numbers are refused.
func TestSMSSelfEnrollment(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, func(c *config.Config) { c.Factors.TOTP = "forbidden" })
	b := e.browser()
	b.login("bob", "builder") // the app gives no number for bob
	p := b.get("/.vestibule/verify")
	if location(p) != "/.vestibule/enroll-phone" {
		t.Fatalf("TOTP forbidden, no number: %d %s", p.status, location(p))
	}
	p = b.get("/.vestibule/enroll-phone")
	must(t, p, http.StatusOK)
	token := csrf(t, p)
	for _, bad := range []string{"12345", "+44 20 7946 0000" /* landline */, "call me"} {
		if p := b.post("/.vestibule/enroll-phone", url.Values{"csrf": {token}, "phone": {bad}}); p.status != http.StatusBadRequest {
			t.Errorf("number %q: %d", bad, p.status)
		}
	}
	p = b.post("/.vestibule/enroll-phone", url.Values{"csrf": {token}, "phone": {"06 12 34 56 78"}})
	if p.status != http.StatusBadRequest {
		t.Fatalf("a number without country code read in the default region US: %d", p.status)
	}
	p = b.post("/.vestibule/enroll-phone", url.Values{"csrf": {token}, "phone": {"+33 6 12 34 56 78"}})
	must(t, p, http.StatusSeeOther)
	p = b.enterSMS(f.lastCode(t, "+33612345678"))
	must(t, p, http.StatusOK)
	b.expectReleased(b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}}))
	enr, err := e.srv.Durable().Enrollment(t.Context(), "bob")
	if err != nil || enr.Phone != "+33612345678" || len(enr.TOTPSecret) != 0 || len(enr.RecoveryHashes) != 10 {
		t.Fatalf("enrollment: %+v %v", enr, err)
	}
}

// TestSMSCapsPerPhoneAndAddress: the hourly caps also count per number and
// per client address, whoever the user is.
func TestSMSCapsPerPhoneAndAddress(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  func(*config.Config)
		reason string
	}{
		{"per phone", func(c *config.Config) { c.SMS.PerPhonePerHour = 2 }, "reason=cap_phone"},
		{"per address", func(c *config.Config) { c.SMS.PerIPPerHour = 2 }, "reason=cap_ip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTwilio(t)
			e := newEnv(t, envOpt{style: demoapp.StyleRegenerate,
				phones: map[string]string{"alice": "+44 7400 123456", "bob": "+44 7400 123456"},
				mutate: func(c *config.Config) {
					c.SMS.Enabled, c.SMS.Sender, c.SMS.BaseURL = true, "twilio", f.srv.URL
					c.SMS.Twilio.AccountSID, c.SMS.Twilio.AuthToken, c.SMS.Twilio.From = "ACtest", "token-test", "+15005550006"
					c.SMS.PhoneFrom.Header = "X-User-Phone"
					tc.limit(c)
				}})
			// Two users, one number (or one address): the third send is refused.
			for i, user := range []string{"alice", "bob", "alice"} {
				b := e.browser()
				b.login(user, map[string]string{"alice": "wonderland", "bob": "builder"}[user])
				p := b.sendSMS()
				if i < 2 && p.status != http.StatusSeeOther {
					t.Fatalf("send %d: %d %.200s", i+1, p.status, p.body)
				}
				if i == 2 && p.status != http.StatusTooManyRequests {
					t.Fatalf("send over the cap: %d", p.status)
				}
				e.clock.Advance(31 * time.Second)
			}
			if f.count() != 2 || !strings.Contains(e.logs.String(), tc.reason) {
				t.Fatalf("%d sent; log has %s: %v", f.count(), tc.reason, strings.Contains(e.logs.String(), tc.reason))
			}
		})
	}
}

// TestSMSRequired: with factors.sms required, a user who also has an
// authenticator is sent to the text message, and the authenticator is not
// offered.
func TestSMSRequired(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, nil)
	b := e.browser()
	b.login("alice", "wonderland")
	b.enroll() // TOTP, while SMS is optional
	b.get("/logout")
	e.srv.Durable().SetPhone(t.Context(), "alice", "+447400123456", e.clock.Now())
	// A gateway with the same store and SMS required.
	e3 := newEnv(t, envOpt{style: demoapp.StyleRegenerate, dbPath: e.cfg.Store.SQLite, gateKeys: []string{e.gateKey},
		upstream: e.appSrv.URL, mutate: func(c *config.Config) {
			c.SMS.Enabled, c.SMS.Sender, c.SMS.BaseURL = true, "twilio", f.srv.URL
			c.SMS.Twilio.AccountSID, c.SMS.Twilio.AuthToken, c.SMS.Twilio.From = "ACtest", "token-test", "+15005550006"
			c.Factors.SMS = "required"
		}})
	c := e3.browser()
	c.login("alice", "wonderland")
	p := c.get("/.vestibule/verify")
	if p.status != http.StatusSeeOther || location(p) != "/.vestibule/sms" {
		t.Fatalf("SMS required: verify page %d %s", p.status, location(p))
	}
	p = c.get("/.vestibule/sms")
	if strings.Contains(p.body, `id="use-totp"`) {
		t.Fatal("the authenticator is offered although SMS is required")
	}
}
