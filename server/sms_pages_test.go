package server

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
)

// TestSMSNumberTypes: satellite and other numbers of no country, and
// premium-rate ones, get no text while allowed_countries is empty, unless
// sms.allow_number_types lists their kind.
func TestSMSNumberTypes(t *testing.T) {
	for _, tc := range []struct {
		number, kind string
		allow        []string
		sent         bool
	}{
		{"+881612345678", "non_geographic", nil, false}, // Iridium
		{"+870301234567", "non_geographic", nil, false}, // Inmarsat
		{"+449012345678", "premium_rate", nil, false},
		{"+881612345678", "", []string{"non_geographic"}, true},
	} {
		t.Run(tc.number, func(t *testing.T) {
			f := newFakeTwilio(t)
			e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, phones: map[string]string{"alice": tc.number},
				mutate: func(c *config.Config) {
					c.SMS.Enabled, c.SMS.Sender, c.SMS.BaseURL = true, "twilio", f.srv.URL
					c.SMS.Twilio.AccountSID, c.SMS.Twilio.AuthToken, c.SMS.Twilio.From = "ACtest", "token-test", "+15005550006"
					c.SMS.PhoneFrom.Header = "X-User-Phone"
					c.SMS.AllowNumberTypes = tc.allow
				}})
			b := e.browser()
			b.login("alice", "wonderland")
			p := b.sendSMS()
			if tc.sent {
				must(t, p, http.StatusSeeOther)
				if f.count() != 1 {
					t.Fatalf("%d sent", f.count())
				}
				return
			}
			if p.status != http.StatusForbidden || !strings.Contains(p.body, "this kind of number") || f.count() != 0 {
				t.Fatalf("%s: %d, %d sent: %.300s", tc.number, p.status, f.count(), p.body)
			}
			if !strings.Contains(e.logs.String(), "reason=number_type number_type="+tc.kind) {
				t.Errorf("no refusal event for %s", tc.kind)
			}
		})
	}
	// A kind that does not exist is a config error naming the key.
	c := config.Defaults()
	c.SMS.Enabled, c.SMS.AllowNumberTypes = true, []string{"satellite"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sms.allow_number_types[0]") {
		t.Errorf("bad number type: %v", err)
	}
}

// TestSMSPages: the phone form keeps the typed number after an error; a
// wrong code says which budget is left (this code's, this sign-in's); the
// recovery-code link appears only once the user has recovery codes.
func TestSMSPages(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, func(c *config.Config) { c.Factors.TOTP = "forbidden"; c.SMS.MaxAttempts = 3 })
	b := e.browser()
	b.login("bob", "builder")
	p := b.get("/.vestibule/enroll-phone")
	must(t, p, http.StatusOK)
	token := csrf(t, p)
	p = b.post("/.vestibule/enroll-phone", url.Values{"csrf": {token}, "phone": {"+44 20 7946 0000"}})
	if p.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(p.body), `value="+44 20 7946 0000"`) {
		t.Fatalf("typed number not kept: %d %.600s", p.status, p.body)
	}
	p = b.post("/.vestibule/enroll-phone", url.Values{"csrf": {token}, "phone": {`"><script>`}})
	if strings.Contains(p.body, `"><script>`) {
		t.Fatal("typed number not escaped")
	}
	must(t, b.post("/.vestibule/enroll-phone", url.Values{"csrf": {token}, "phone": {"+33 6 12 34 56 78"}}), http.StatusSeeOther)
	p = b.get("/.vestibule/sms")
	if strings.Contains(p.body, "use-recovery") {
		t.Error("recovery codes offered before any exist")
	}
	p = b.enterSMS("000000")
	if body := html.UnescapeString(p.body); p.status != http.StatusUnauthorized || !strings.Contains(body, "2 attempts left with this code, 4 for this sign-in.") {
		t.Fatalf("wrong code: %d %.600s", p.status, body)
	}
	p = b.enterSMS(f.lastCode(t, "+33612345678"))
	must(t, p, http.StatusOK)
	b.expectReleased(b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}}))
	b.get("/logout")
	e.clock.Advance(time.Minute)
	b2 := e.browser()
	b2.login("bob", "builder")
	if p := b2.get("/.vestibule/sms"); !strings.Contains(p.body, "use-recovery") {
		t.Errorf("an enrolled user is not offered recovery codes: %.600s", p.body)
	}
}
