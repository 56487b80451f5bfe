package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Enrollment is the enrollment policy: who may set up a user's first
// second factor, and who is told when factors change.
//
// Trust on first use ("open") lets whoever first has a user's password
// enroll their own factor for that user; "invite" and "networks" close that
// gap. A valid invitation for the user enrolls in every mode, also after
// open_until.
type Enrollment struct {
	// Mode is "open" (a first login enrolls), "invite" (only through a
	// one-time link from `vestibule users invite NAME`) or "networks" (a
	// first enrollment only from the client networks in Networks).
	Mode string `yaml:"mode"`
	// InviteTTL is how long an invitation link stays valid.
	InviteTTL time.Duration `yaml:"invite_ttl"`
	// Networks lists the client networks (CIDR or address) a first
	// enrollment may come from in "networks" mode.
	Networks []string `yaml:"networks"`
	// OpenUntil, when set, is the last day ("2026-12-31", through the end
	// of that day UTC) or the instant (RFC 3339) users may still enroll
	// without an invitation; after it unenrolled users are refused.
	OpenUntil string `yaml:"open_until"`
	// Contact is whom a refused user should ask (free text shown on the
	// page: a name, an address, a help-desk URL).
	Contact string `yaml:"contact"`
	// Webhook, when its URL is set, is told of every enrollment and factor
	// change, signed like the SMS webhook.
	Webhook EnrollmentWebhook `yaml:"webhook"`
}

// EnrollmentWebhook is where enrollment and factor-change events are posted.
type EnrollmentWebhook struct {
	URL string `yaml:"url"`
	// Secret signs each request (X-Vestibule-Signature); at least 16
	// characters, from ${ENV}.
	Secret  string        `yaml:"secret"`
	Timeout time.Duration `yaml:"timeout"`
}

// Enrollment modes.
const (
	EnrollOpen     = "open"
	EnrollInvite   = "invite"
	EnrollNetworks = "networks"
)

// DefaultEnrollment is the enrollment section every config starts from.
func DefaultEnrollment() Enrollment {
	return Enrollment{Mode: EnrollOpen, InviteTTL: 72 * time.Hour, Webhook: EnrollmentWebhook{Timeout: 5 * time.Second}}
}

// OpenUntilTime reads open_until: zero when unset; a date means through the
// end of that day (UTC), so enrollment closes at the next midnight.
func (e Enrollment) OpenUntilTime() (time.Time, error) {
	s := strings.TrimSpace(e.OpenUntil)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	return time.Parse(time.RFC3339, s)
}

// validateEnrollment checks the enrollment section.
func (c *Config) validateEnrollment(p *problems) {
	e := c.Enrollment
	switch e.Mode {
	case EnrollOpen, EnrollInvite:
		if len(e.Networks) > 0 {
			p.add("enrollment.networks", 0, `only used with mode "networks" (mode is %q)`, e.Mode)
		}
	case EnrollNetworks:
		if len(e.Networks) == 0 {
			p.add("enrollment.networks", 0, `mode "networks" needs at least one CIDR such as 10.0.0.0/8`)
		}
	default:
		p.add("enrollment.mode", 0, "want open, invite or networks, got %q", e.Mode)
	}
	for i, s := range e.Networks {
		if _, err := ParsePrefix(s); err != nil {
			p.add(fmt.Sprintf("enrollment.networks[%d]", i), 0, "want an IP address or CIDR such as 10.0.0.0/8, got %q", s)
		}
	}
	within(p, "enrollment.invite_ttl", e.InviteTTL, 5*time.Minute, 30*24*time.Hour)
	if _, err := e.OpenUntilTime(); err != nil {
		p.add("enrollment.open_until", 0, `want a date such as 2026-12-31 or an RFC 3339 time, got %q`, e.OpenUntil)
	}
	if len(e.Contact) > 200 || strings.ContainsAny(e.Contact, "\r\n") {
		p.add("enrollment.contact", 0, "want one line of at most 200 characters")
	}
	if (e.Mode == EnrollInvite || e.OpenUntil != "") && strings.TrimSpace(e.Contact) == "" {
		p.add("enrollment.contact", 0, "say whom refused users should ask (a name, address or help-desk URL): enrollment is not open to everyone")
	}
	w := e.Webhook
	if w.URL == "" && w.Secret != "" {
		p.add("enrollment.webhook.url", 0, "set it, or remove enrollment.webhook.secret")
	}
	if w.URL != "" {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			p.add("enrollment.webhook.url", 0, "want an http(s) URL without credentials, got %q", w.URL)
		}
		if len(w.Secret) < 16 {
			p.add("enrollment.webhook.secret", 0, "want at least 16 characters (value hidden)")
		}
		within(p, "enrollment.webhook.timeout", w.Timeout, 100*time.Millisecond, 30*time.Second)
	}
}
