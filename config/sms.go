package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/sms"
)

var factorModes = []string{"allowed", "required", "forbidden"}

// validateFactors checks which second factors are allowed, required or
// forbidden, and that what they need is on.
func (c *Config) validateFactors(p *problems) {
	required := 0
	for _, f := range []struct{ key, mode string }{{"factors.totp", c.Factors.TOTP}, {"factors.sms", c.Factors.SMS}, {"factors.webauthn", c.Factors.WebAuthn}} {
		if !slices.Contains(factorModes, f.mode) {
			p.add(f.key, 0, "want allowed, required or forbidden, got %q", f.mode)
		}
		if f.mode == "required" {
			required++
		}
	}
	if required > 1 {
		p.add("factors", 0, "only one factor can be required")
	}
	if c.Factors.TOTP == "forbidden" && (c.Factors.SMS == "forbidden" || !c.SMS.Enabled) && !c.PasskeysOn() {
		p.add("factors.totp", 0, "forbidding TOTP needs text messages (sms.enabled, factors.sms not forbidden) or passkeys (factors.webauthn)")
	}
	if c.Factors.WebAuthn == "required" && !c.passkeysPossible() {
		p.add("factors.webauthn", 0, "requiring passkeys needs public_url on https with a host name (or http://localhost): browsers refuse them elsewhere")
	}
	if c.Factors.SMS == "required" && !c.SMS.Enabled {
		p.add("factors.sms", 0, "requiring text messages needs sms.enabled")
	}
}

// validateSMS checks the sms section (when enabled): the sender and its
// credentials, codes, caps and regions.
func (c *Config) validateSMS(p *problems) {
	s := c.SMS
	if !s.Enabled {
		return
	}
	switch s.Sender {
	case "vonage":
		if s.Vonage.APIKey == "" || s.Vonage.APISecret == "" || s.Vonage.From == "" {
			p.add("sms.vonage", 0, "set api_key, api_secret and from")
		} else if len(s.Vonage.APIKey) != 8 {
			// The SDK refuses any other length, so every send would fail.
			p.add("sms.vonage.api_key", 0, "want the 8-character API key from the Vonage dashboard, got %d characters (value hidden)", len(s.Vonage.APIKey))
		}
	case "twilio":
		if s.Twilio.AccountSID == "" || s.Twilio.AuthToken == "" {
			p.add("sms.twilio", 0, "set account_sid and auth_token")
		}
		if (s.Twilio.From == "") == (s.Twilio.MessagingServiceSID == "") {
			p.add("sms.twilio", 0, "set exactly one of from and messaging_service_sid")
		}
	case "webhook":
		if u, err := url.Parse(s.Webhook.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("sms.webhook.url", 0, "want an http(s) URL, got %q", s.Webhook.URL)
		}
		if len(s.Webhook.Secret) < 16 {
			p.add("sms.webhook.secret", 0, "want at least 16 characters (value hidden)")
		}
	case "log":
		if !s.AllowLogSender {
			p.add("sms.sender", 0, `"log" writes live codes to the log: for development only, and only with sms.allow_log_sender: true`)
		}
	default:
		p.add("sms.sender", 0, "want vonage, twilio, webhook or log, got %q", s.Sender)
	}
	if s.BaseURL != "" {
		if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("sms.base_url", 0, "want an http(s) URL, got %q", s.BaseURL)
		} else if s.Sender == "vonage" {
			if _, err := sms.VonageBasePath(s.BaseURL); err != nil {
				p.add("sms.base_url", 0, "%v", err)
			}
		}
	}
	for i, k := range s.AllowNumberTypes {
		if !slices.Contains(phone.CostlyKinds, k) {
			p.add(fmt.Sprintf("sms.allow_number_types[%d]", i), 0, "want one of %s, got %q", strings.Join(phone.CostlyKinds, ", "), k)
		}
	}
	if s.CodeLength < 6 || s.CodeLength > 10 {
		p.add("sms.code_length", 0, "want 6 to 10 digits, got %d", s.CodeLength)
	}
	within(p, "sms.code_ttl", s.CodeTTL, 30*time.Second, 30*time.Minute)
	within(p, "sms.timeout", s.Timeout, time.Second, time.Minute)
	within(p, "sms.resend_cooldown", s.ResendCooldown, 0, time.Hour)
	if s.MaxAttempts < 1 || s.MaxAttempts > 10 {
		p.add("sms.max_attempts", 0, "want 1 to 10, got %d", s.MaxAttempts)
	}
	for _, lim := range []struct {
		key string
		n   int
	}{{"sms.per_user_per_hour", s.PerUserPerHour}, {"sms.per_phone_per_hour", s.PerPhonePerHour}, {"sms.per_ip_per_hour", s.PerIPPerHour}} {
		if lim.n < 1 {
			p.add(lim.key, 0, "want at least 1, got %d", lim.n)
		}
	}
	for i, cc := range s.AllowedCountries {
		if len(cc) != 2 || strings.ToUpper(cc) != cc {
			p.add(fmt.Sprintf("sms.allowed_countries[%d]", i), 0, "want a two-letter region code such as GB, got %q", cc)
		}
	}
	if len(s.DefaultRegion) != 2 {
		p.add("sms.default_region", 0, "want a two-letter region code such as US, got %q", s.DefaultRegion)
	}
	if _, err := template.New("sms").Parse(s.Template); err != nil || !strings.Contains(s.Template, "{{.Code}}") {
		p.add("sms.template", 0, "want a text/template containing {{.Code}}")
	}
}
