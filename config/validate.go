package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Validate reports every problem in the config at once, each naming its key.
// Secret values are never echoed. It has no side effects.
func (c *Config) Validate() error {
	var p problems
	for _, s := range sections {
		s.check(c, &p)
	}
	return p.err("")
}

// sections are the validators, one per section of the config (the key it
// checks; "" the top-level scalars), in the order Validate reports their
// problems. Each names the bad key; a rule that spans sections lives in
// the section whose key it names.
var sections = []struct {
	key   string
	check func(c *Config, p *problems)
}{
	{"", (*Config).validateTop},
	{"admin", (*Config).validateAdmin},
	{"upstream", (*Config).validateUpstream},
	{"session_cookies", (*Config).validateSessionCookies},
	{"login", (*Config).validateLogin},
	{"credential_params", (*Config).validateCredentialParams},
	{"logout", (*Config).validateLogout},
	{"parse", (*Config).validateParse},
	{"bypass", (*Config).validateBypass},
	{"step_up", (*Config).validateStepUp},
	{"remember_device", (*Config).validateRememberDevice},
	{"regulation", (*Config).validateRegulation},
	{"factors", (*Config).validateFactors},
	{"sms", (*Config).validateSMS},
	{"enrollment", (*Config).validateEnrollment},
	{"account", (*Config).validateAccount},
	{"branding", (*Config).validateBranding},
	{"gate", (*Config).validateGate},
	{"secrets", (*Config).validateSecrets},
	{"store", (*Config).validateStore},
	{"server", (*Config).validateServer},
	{"log", (*Config).validateLog},
}

// checkRule checks a path rule: exactly one of path, prefix and pattern.
func checkRule(p *problems, key, gatePrefix, path, prefix, pattern string) {
	set := 0
	for _, s := range []string{path, prefix, pattern} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		p.add(key, 0, "set exactly one of path, prefix and pattern")
	}
	for _, s := range []string{path, prefix} {
		if s != "" && !strings.HasPrefix(s, "/") {
			p.add(key, 0, "path and prefix must start with /, got %q", s)
		}
		if s != "" && strings.HasPrefix(s, gatePrefix) {
			p.add(key, 0, "must not cover the gateway prefix %s", gatePrefix)
		}
	}
	if prefix == "/" {
		p.add(key+".prefix", 0, `"/" would cover every path; list the paths instead`)
	}
	if pattern != "" {
		if !strings.HasPrefix(pattern, "^") {
			p.add(key+".pattern", 0, "must be anchored with ^ so it can't match inside a longer path")
		} else if _, err := regexp.Compile(pattern); err != nil {
			p.add(key+".pattern", 0, "not a valid regular expression: %v", err)
		}
	}
}

// checkRoutes checks a route list: paths outside the gateway prefix,
// known methods, query pairs.
func (c *Config) checkRoutes(p *problems, key string, rs []Route) {
	for i, r := range rs {
		k := fmt.Sprintf("%s[%d]", key, i)
		if !strings.HasPrefix(r.Path, "/") {
			p.add(k+".path", 0, "want a path starting with /, got %q", r.Path)
		} else if strings.HasPrefix(r.Path, c.Prefix) {
			p.add(k+".path", 0, "must not be under the gateway prefix %s", c.Prefix)
		}
		checkMethods(p, k+".methods", r.Methods)
		for q, v := range r.Query {
			if q == "" || v == "" {
				p.add(k+".query", 0, "want parameter: value pairs, both set")
			}
		}
	}
}

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func checkMethods(p *problems, key string, ms []string) {
	for _, m := range ms {
		if !slices.Contains(methods, m) {
			p.add(key, 0, "unknown HTTP method %q (want one of %s)", m, strings.Join(methods, ", "))
		}
	}
}

func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, 0, "want a positive duration, got %s", d)
	}
}

func nonNegative(p *problems, key string, d time.Duration) {
	if d < 0 {
		p.add(key, 0, "want 0 (no limit) or a positive duration, got %s", d)
	}
}

func within(p *problems, key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		p.add(key, 0, "want %s to %s, got %s", lo, hi, d)
	}
}

// cookieName reports whether s is an RFC 6265 token.
func cookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
