package server

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
)

// TestStepUpByTextMessage: a user whose only factor is the phone steps up
// with a code texted to the enrolled number (under the same limits as
// sign-in codes); a wrong code is refused, the right one works once.
func TestStepUpByTextMessage(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, func(c *config.Config) {
		c.StepUp = []config.StepUp{{Path: "/account", MaxAge: 5 * time.Minute}}
	})
	b := e.smsSignedIn(f, "alice", "wonderland")

	e.clock.Advance(6 * time.Minute)
	p := b.get("/account")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(location(p), "/.vestibule/step-up") {
		t.Fatalf("stale session: %d %q", p.status, location(p))
	}
	su := b.get(location(p))
	must(t, su, http.StatusOK)
	body := html.UnescapeString(su.body)
	if !strings.Contains(body, "We will send a code by text message to") || !strings.Contains(body, "+44 •••• ••3456") ||
		strings.Contains(body, "authenticator app for") || !strings.Contains(body, `id="use-recovery"`) {
		t.Fatalf("step-up page of a text-message user: %.1500s", body)
	}
	// A right code of the sign-in does not step up: no code was sent yet.
	sent := f.count()
	must(t, b.post("/.vestibule/step-up", url.Values{"csrf": {csrf(t, su)}, "method": {"sms"}, "code": {f.lastCode(t, "+447400123456")}, "next": {"/account"}}), http.StatusUnauthorized)
	p = b.post("/.vestibule/step-up/sms", url.Values{"csrf": {csrf(t, su)}, "next": {"/account"}})
	must(t, p, http.StatusSeeOther)
	if f.count() != sent+1 || location(p) != "/.vestibule/step-up?next=%2Faccount&use=sms" {
		t.Fatalf("sending: %d messages, to %q", f.count()-sent, location(p))
	}
	code := f.lastCode(t, "+447400123456")
	su = b.get(location(p))
	if !strings.Contains(su.body, `name="method" value="sms"`) {
		t.Fatalf("no code form after sending: %.800s", su.body)
	}
	// Within the cooldown no second text goes out.
	must(t, b.post("/.vestibule/step-up/sms", url.Values{"csrf": {csrf(t, su)}, "next": {"/account"}}), http.StatusTooManyRequests)
	must(t, b.post("/.vestibule/step-up", url.Values{"csrf": {csrf(t, su)}, "method": {"sms"}, "code": {"000000"}, "next": {"/account"}}), http.StatusUnauthorized)
	copied := gateCookie(b, "vestibule_step_up")
	if copied == "" {
		t.Fatal("no step-up cookie under the gate prefix")
	}
	p = b.post("/.vestibule/step-up", url.Values{"csrf": {csrf(t, su)}, "method": {"sms"}, "code": {code}, "next": {"/account"}})
	must(t, p, http.StatusSeeOther)
	if location(p) != "/account" {
		t.Fatalf("step-up returns to %q", location(p))
	}
	must(t, b.get("/account"), http.StatusOK)
	// The code works once, even with its cookie put back.
	u, _ := url.Parse(e.gw.URL + "/.vestibule/")
	b.jar.SetCookies(u, []*http.Cookie{{Name: "vestibule_step_up", Value: copied, Path: "/.vestibule/"}})
	su = b.get("/.vestibule/step-up?next=/account")
	p = b.post("/.vestibule/step-up", url.Values{"csrf": {csrf(t, su)}, "method": {"sms"}, "code": {code}, "next": {"/account"}})
	must(t, p, http.StatusUnauthorized)
}

// TestStepUpByRecoveryCode: step-up takes a recovery code, which is then
// used up.
func TestStepUpByRecoveryCode(t *testing.T) {
	e := newEnv(t, envOpt{mutate: func(c *config.Config) {
		c.StepUp = []config.StepUp{{Path: "/account", MaxAge: 5 * time.Minute}}
	}})
	b := e.browser()
	b.login("alice", "wonderland")
	_, codes := b.enroll()
	e.clock.Advance(6 * time.Minute)
	su := b.get("/.vestibule/step-up?next=/account")
	if !strings.Contains(su.body, `id="use-recovery"`) || !strings.Contains(su.body, `name="method" value="totp"`) {
		t.Fatalf("step-up page: %.1000s", su.body)
	}
	su = b.get("/.vestibule/step-up?use=recovery&next=/account")
	if !strings.Contains(su.body, `name="method" value="recovery"`) {
		t.Fatalf("recovery step-up page: %.1000s", su.body)
	}
	p := b.post("/.vestibule/step-up", url.Values{"csrf": {csrf(t, su)}, "method": {"recovery"}, "code": {codes[0]}, "next": {"/account"}})
	must(t, p, http.StatusSeeOther)
	must(t, b.get("/account"), http.StatusOK)
	e.clock.Advance(6 * time.Minute)
	su = b.get("/.vestibule/step-up?use=recovery&next=/account")
	must(t, b.post("/.vestibule/step-up", url.Values{"csrf": {csrf(t, su)}, "method": {"recovery"}, "code": {codes[0]}, "next": {"/account"}}), http.StatusUnauthorized)
}

// gateCookie returns the browser's cookie of that name under the gate
// prefix (cookies the gate pages keep to themselves).
func gateCookie(b *browser, name string) string {
	u, _ := url.Parse(b.e.gw.URL + "/.vestibule/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// smsSignedIn signs user in with a first text-message code (to the number
// the demo app gives, which it enrolls) and returns the released browser.
func (e *env) smsSignedIn(f *fakeTwilio, user, pass string) *browser {
	e.t.Helper()
	b := e.browser()
	b.login(user, pass)
	must(e.t, b.sendSMS(), http.StatusSeeOther)
	p := b.enterSMS(f.lastCode(e.t, "+447400123456"))
	must(e.t, p, http.StatusOK)
	b.expectReleased(b.post("/.vestibule/release", url.Values{"csrf": {csrf(e.t, p)}}))
	return b
}
