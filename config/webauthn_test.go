package config

import (
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config/defaults"
)

// TestWebAuthn: the webauthn section and factors.webauthn, each problem
// naming its key; passkeys are on for a host name and off (without an
// error) for an IP address unless required.
func TestWebAuthn(t *testing.T) {
	base := func() *Config {
		c, err := ParseWith([]byte(minimal), "t.yaml", env(map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}))
		if err != nil {
			t.Fatal(err)
		}
		c.PublicURL = "https://login.example.com"
		return c
	}
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string // "" valid
		on     bool   // PasskeysOn
	}{
		{"defaults", func(*Config) {}, "", true},
		{"parent domain", func(c *Config) {
			c.WebAuthn.RPID, c.WebAuthn.Origins = "example.com", []string{"https://app.example.com"}
		}, "", true},
		{"forbidden", func(c *Config) { c.Factors.WebAuthn = "forbidden"; c.WebAuthn.Timeout = 0 }, "", false},
		{"IP address, allowed", func(c *Config) { c.PublicURL = "http://127.0.0.1:8080" }, "", false},
		{"IP address, required", func(c *Config) { c.PublicURL = "http://127.0.0.1:8080"; c.Factors.WebAuthn = "required" },
			"factors.webauthn: requiring passkeys needs public_url on https with a host name", false},
		{"http host name, allowed", func(c *Config) { c.PublicURL = "http://gw.example" }, "", false},
		{"http://localhost", func(c *Config) { c.PublicURL = "http://localhost:8080" }, "", true},
		{"unknown mode", func(c *Config) { c.Factors.WebAuthn = "sometimes" }, `factors.webauthn: want allowed, required or forbidden, got "sometimes"`, false},
		{"two required", func(c *Config) { c.Factors.WebAuthn, c.Factors.TOTP = "required", "required" }, "factors: only one factor can be required", true},
		{"rp id not a parent", func(c *Config) { c.WebAuthn.RPID = "other.example" }, `webauthn.rp_id: "other.example" must be the host of every origin`, true},
		{"origin not an origin", func(c *Config) { c.WebAuthn.Origins = []string{"https://app.example.com/path"} }, "webauthn.origins: want an origin", true},
		{"user verification", func(c *Config) { c.WebAuthn.UserVerification = "always" }, `webauthn.user_verification: want "preferred" or "required", got "always"`, true},
		{"attestation", func(c *Config) { c.WebAuthn.Attestation = "enterprise" }, `webauthn.attestation: want "none", "indirect" or "direct", got "enterprise"`, true},
		{"timeout", func(c *Config) { c.WebAuthn.Timeout = time.Hour }, "webauthn.timeout: want between 10s and 30m, got 1h0m0s", true},
		{"no timeout", func(c *Config) { c.WebAuthn.Timeout = 0 }, "webauthn.timeout: want between 10s and 30m, got 0s", true},
		{"TOTP forbidden, passkeys on", func(c *Config) { c.Factors.TOTP = "forbidden" }, "", true},
		{"TOTP forbidden, nothing else", func(c *Config) { c.Factors.TOTP, c.Factors.WebAuthn = "forbidden", "forbidden" },
			"factors.totp: forbidding TOTP needs text messages", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
			if c.PasskeysOn() != tc.on {
				t.Errorf("PasskeysOn = %v, want %v", c.PasskeysOn(), tc.on)
			}
		})
	}
	c := base()
	if p := c.Passkey(); p.RPName != c.AppName || p.UserVerification != "preferred" || p.Attestation != "none" || p.Timeout != defaults.WebAuthnTimeout || p.PublicURL != c.PublicURL {
		t.Errorf("defaults: %+v", p)
	}
	c.WebAuthn.RPName = "Example sign-in"
	if p := c.Passkey(); p.RPName != "Example sign-in" {
		t.Errorf("rp_name: %q", p.RPName)
	}
}
