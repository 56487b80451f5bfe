package config

import (
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/passkey"
)

// WebAuthn is the relying party of passkeys and security keys as the
// second factor (factors.webauthn). Every field has its default here.
type WebAuthn struct {
	// RPID is the relying party id passkeys are scoped to: "" for
	// public_url's host, or a parent domain of it ("example.com" for
	// https://login.example.com). Changing it invalidates every passkey.
	RPID string `yaml:"rp_id"`
	// RPName is the name authenticators show ("": app_name).
	RPName string `yaml:"rp_name"`
	// Origins are more origins that may run the ceremonies besides
	// public_url's, each on rp_id or under it.
	Origins []string `yaml:"origins"`
	// UserVerification is "preferred" (a security key without a PIN
	// works) or "required" (a PIN or biometric every time).
	UserVerification string `yaml:"user_verification"`
	// Attestation is "none" (nothing asked about the authenticator's
	// model), "indirect" or "direct".
	Attestation string `yaml:"attestation"`
	// Timeout is how long the browser gets for a ceremony (10s to 30m).
	Timeout time.Duration `yaml:"timeout"`
}

// Passkey is the relying party of this config: the webauthn section with
// its defaults (rp_name: app_name) and public_url.
func (c *Config) Passkey() passkey.Config {
	w := c.WebAuthn
	name := w.RPName
	if name == "" {
		name = c.AppName
	}
	return passkey.Config{PublicURL: c.PublicURL, RPID: w.RPID, RPName: name, Origins: w.Origins,
		UserVerification: w.UserVerification, Attestation: w.Attestation, Timeout: w.Timeout}
}

// PasskeysOn reports whether passkeys are offered: factors.webauthn is
// allowed or required and browsers can use them at public_url: a host name
// (not an IP address) over https, or http://localhost (or webauthn.rp_id
// set, which then has to fit). Otherwise, with factors.webauthn "allowed"
// the gateway runs without passkeys (and says so in its log); "required"
// is a config error.
func (c *Config) PasskeysOn() bool {
	return (c.Factors.WebAuthn == "allowed" || c.Factors.WebAuthn == "required") && c.passkeysPossible()
}

func (c *Config) passkeysPossible() bool {
	if c.WebAuthn.RPID != "" {
		return true
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	if h == "" || net.ParseIP(h) != nil {
		return false
	}
	return u.Scheme == "https" || h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// validateWebAuthn checks the webauthn section when passkeys are on,
// through the passkey package's own checks, each key named under webauthn.
// (factors.webauthn is the factors section's.)
func (c *Config) validateWebAuthn(p *problems) {
	if !c.PasskeysOn() {
		return
	}
	if c.WebAuthn.Timeout == 0 {
		p.add("webauthn.timeout", 0, "want between 10s and 30m, got 0s")
	}
	err := c.Passkey().Validate()
	if err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		key, msg, _ := strings.Cut(line, ": ")
		if key == "public_url" { // reported by the top level
			continue
		}
		name := "webauthn." + key
		if key == "rp_name" && c.WebAuthn.RPName == "" {
			name = "app_name" // the default
		}
		p.add(name, 0, "%s", msg)
	}
}
