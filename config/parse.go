package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// validateParse checks the parse section (when enabled).
func (c *Config) validateParse(p *problems) {
	pc := c.Parse
	if !pc.Enabled {
		return
	}
	pathOK := func(s string) bool {
		return strings.HasPrefix(s, "/") && len(strings.Trim(s, "/")) > 0 && !strings.ContainsAny(s, "\\;?#%") &&
			!strings.Contains(s, "/./") && !strings.Contains(s, "/../") && !strings.HasPrefix(strings.ToLower(s), strings.ToLower(strings.TrimSuffix(c.Prefix, "/")))
	}
	if !pathOK(pc.Mount) {
		p.add("parse.mount", 0, "want Parse Server's mount path such as /parse (not / and not under prefix), got %q", pc.Mount)
	}
	if pc.GraphQLPath != "" && !pathOK(pc.GraphQLPath) {
		p.add("parse.graphql_path", 0, `want a path such as /graphql, or "" when GraphQL is not exposed, got %q`, pc.GraphQLPath)
	}
	for i, s := range pc.MasterKeyFrom {
		if _, err := ParsePrefix(s); err != nil {
			p.add(fmt.Sprintf("parse.master_key_from[%d]", i), 0, "want an IP address or CIDR such as 10.0.0.0/8, got %q", s)
		}
	}
	if pc.AllowLoginAs && len(pc.MasterKeyFrom) == 0 {
		p.add("parse.allow_login_as", 0, "loginAs needs the master key: list the admin networks in parse.master_key_from")
	}
	if pc.Signup != "hold" && pc.Signup != "grace" {
		p.add("parse.signup", 0, `want "hold" (a new user enrolls a second factor first) or "grace", got %q`, pc.Signup)
	}
	if pc.Anonymous != "hold" && pc.Anonymous != "pass" {
		p.add("parse.anonymous", 0, `want "hold" (anonymous users enroll a second factor like others) or "pass", got %q`, pc.Anonymous)
	}
	positive(p, "parse.session_ttl", pc.SessionTTL)
	if pc.MaxBodyBytes < 1 {
		p.add("parse.max_body_bytes", 0, "want a positive size in bytes, got %d", pc.MaxBodyBytes)
	}
	if pc.TokenCache < 0 || pc.TokenCache > time.Minute {
		p.add("parse.token_cache", 0, "want 0 (no cache) up to 1m, got %s", pc.TokenCache)
	}
}

// ParsePrefix reads an IP address or CIDR as a network.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(strings.TrimSpace(s))
		return pf.Masked(), err
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
