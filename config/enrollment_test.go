package config

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestEnrollmentDefaults(t *testing.T) {
	c, err := ParseWith([]byte(minimal), "t.yaml", env(map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	e := c.Enrollment
	if e.Mode != "open" || e.InviteTTL != 72*time.Hour || e.Webhook.Timeout != 5*time.Second || e.OpenUntil != "" || e.Webhook.URL != "" {
		t.Errorf("enrollment defaults = %+v", e)
	}
}

func TestEnrollmentOpenUntil(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"2026-12-31", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-12-31T18:00:00+01:00", time.Date(2026, 12, 31, 17, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		got, err := Enrollment{OpenUntil: tc.in}.OpenUntilTime()
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("OpenUntilTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestEnrollmentValidation: each bad enrollment key is named, with the
// bad value where it is not a secret.
func TestEnrollmentValidation(t *testing.T) {
	webhookSecret := "s3cret-never-echoed-in-errors"
	cases := []struct {
		name string
		yaml string
		want []string // substrings of the error, in any order
	}{
		{"unknown mode", "mode: tofu", []string{`enrollment.mode: want open, invite or networks, got "tofu"`}},
		{"networks mode without networks", "mode: networks", []string{"enrollment.networks: mode \"networks\" needs at least one CIDR"}},
		{"bad network", "mode: networks\n  networks: [10.0.0.0/8, 300.1.1.1/8]", []string{`enrollment.networks[1]: want an IP address or CIDR such as 10.0.0.0/8, got "300.1.1.1/8"`}},
		{"networks outside networks mode", "networks: [10.0.0.0/8]", []string{`enrollment.networks: only used with mode "networks"`}},
		{"invite ttl too short", "invite_ttl: 1m", []string{"enrollment.invite_ttl: want 5m0s to 720h0m0s, got 1m0s"}},
		{"invite ttl too long", "invite_ttl: 1000h", []string{"enrollment.invite_ttl: want 5m0s to 720h0m0s, got 1000h0m0s"}},
		{"bad open_until", "open_until: next tuesday\n  contact: it@example.com", []string{`enrollment.open_until: want a date such as 2026-12-31 or an RFC 3339 time, got "next tuesday"`}},
		{"invite without contact", "mode: invite", []string{"enrollment.contact: say whom refused users should ask"}},
		{"open_until without contact", "open_until: 2026-12-31", []string{"enrollment.contact: say whom refused users should ask"}},
		{"contact on two lines", "contact: \"a\\nb\"", []string{"enrollment.contact: want one line"}},
		{"webhook bad url and short secret", "webhook:\n    url: ftp://hooks.example.com\n    secret: short", []string{
			`enrollment.webhook.url: want an http(s) URL without credentials, got "ftp://hooks.example.com"`,
			"enrollment.webhook.secret: want at least 16 characters (value hidden)"}},
		{"webhook secret without url", "webhook:\n    secret: " + webhookSecret, []string{"enrollment.webhook.url: set it, or remove enrollment.webhook.secret"}},
		{"webhook timeout", "webhook:\n    url: https://hooks.example.com/x\n    secret: " + webhookSecret + "\n    timeout: 5m", []string{"enrollment.webhook.timeout: want 100ms to 30s, got 5m0s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseWith([]byte(minimal+"enrollment:\n  "+tc.yaml+"\n"), "t.yaml", env(map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), webhookSecret) {
				t.Errorf("error echoes the webhook secret: %v", err)
			}
			if n := len(reProblem.FindAllString(err.Error(), -1)); n != len(tc.want) {
				t.Errorf("%d enrollment problems, want %d:\n%v", n, len(tc.want), err)
			}
		})
	}
	// A valid policy of each mode passes.
	for _, y := range []string{
		"mode: open",
		"mode: invite\n  contact: it@example.com\n  invite_ttl: 24h",
		"mode: networks\n  networks: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\"]",
		"open_until: 2026-12-31\n  contact: Helpdesk, ext. 4242\n  webhook:\n    url: https://hooks.example.com/enroll\n    secret: " + webhookSecret,
	} {
		c, err := ParseWith([]byte(minimal+"enrollment:\n  "+y+"\n"), "t.yaml", env(map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%q: %v", y, err)
		}
	}
}

// reProblem finds the start of each enrollment problem in a config error.
var reProblem = regexp.MustCompile(`(?m)^(\s*- )?enrollment\.`)
