package passkey

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
)

// Config is the relying party the ceremonies run for.
type Config struct {
	// PublicURL is how browsers reach the gateway (the config's
	// public_url): its origin is always allowed, and its host is the
	// relying party id unless RPID says otherwise.
	PublicURL string
	// RPID is the relying party id credentials are scoped to: empty for
	// PublicURL's host, or a parent domain of it ("example.com" for
	// https://login.example.com), so the passkeys also work on sibling
	// hosts. It can't change without invalidating every passkey.
	RPID string
	// RPName is the name authenticators show ("Example sign-in").
	RPName string
	// Origins are more origins allowed to run the ceremonies
	// ("https://other.example.com"), each on RPID or under it.
	Origins []string
	// UserVerification is "preferred" (empty: the default; a security key
	// without PIN still works) or "required" (PIN or biometric every time).
	UserVerification string
	// Attestation is the conveyance asked for: "none" (empty: the default;
	// nothing about the authenticator model is asked), "indirect" or
	// "direct".
	Attestation string
	// Timeout is how long the browser gets for a ceremony and how long its
	// session stays valid (zero: 5 minutes).
	Timeout time.Duration

	// Now is the clock for session expiry (nil: time.Now).
	Now func() time.Time
	// Random is the source of challenges (nil: crypto/rand).
	Random io.Reader
}

// DefaultTimeout is Config.Timeout's default (the WebAuthn recommendation).
const DefaultTimeout = 5 * time.Minute

// Validate reports every problem at once, each naming its key (relative to
// the config section: rp_id, origins, ...); it has no side effects.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	origins, host, err := c.origins()
	if err != nil {
		add("public_url", "%v", err)
	}
	rpid := c.rpID(host)
	if err := protocol.ValidateRPID(rpid); err != nil {
		add("rp_id", "want a domain name such as example.com (IP addresses can't be relying party ids), got %q", rpid)
	} else {
		for _, o := range origins {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				add("origins", "want an origin such as https://app.example.com, got %q", o)
				continue
			}
			h := strings.ToLower(u.Hostname())
			if h != rpid && !strings.HasSuffix(h, "."+rpid) {
				add("rp_id", "%q must be the host of every origin or a parent domain of it, and %q is not", rpid, o)
			}
			if u.Scheme == "http" && h != "localhost" && !strings.HasSuffix(h, ".localhost") {
				add("origins", "browsers allow WebAuthn only on https:// (or http://localhost), got %q", o)
			}
		}
	}
	if strings.TrimSpace(c.RPName) == "" {
		add("rp_name", "want the name authenticators show, such as the app's name")
	}
	switch c.UserVerification {
	case "", "preferred", "required":
	default:
		add("user_verification", `want "preferred" or "required", got %q`, c.UserVerification)
	}
	switch c.Attestation {
	case "", "none", "indirect", "direct":
	default:
		add("attestation", `want "none", "indirect" or "direct", got %q`, c.Attestation)
	}
	if c.Timeout < 0 || (c.Timeout > 0 && c.Timeout < 10*time.Second) || c.Timeout > 30*time.Minute {
		add("timeout", "want between 10s and 30m, got %s", c.Timeout)
	}
	return errors.Join(errs...)
}

// origins returns every allowed origin (PublicURL's first, normalised to
// scheme://host[:port]) and PublicURL's host.
func (c Config) origins() (origins []string, host string, err error) {
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return c.Origins, "", fmt.Errorf("want an absolute http or https URL, got %q", c.PublicURL)
	}
	origins = append([]string{strings.ToLower(u.Scheme + "://" + u.Host)}, c.Origins...)
	return origins, strings.ToLower(u.Hostname()), nil
}

func (c Config) rpID(host string) string {
	if c.RPID != "" {
		return strings.ToLower(c.RPID)
	}
	return host
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}
