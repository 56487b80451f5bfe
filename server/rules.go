package server

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/cookieguard"
)

// The config's rules as the proxy reads them (routes, bypass and step-up
// paths, login form, success, identity probe): built at start and, for the
// path rules, again on Reload.

// pathRules builds the bypass and step-up rules of a config.
func pathRules(cfg *config.Config) ([]cookieguard.PathRule, []cookieguard.StepUpRule, error) {
	bypass, err := bypassRules(cfg.Bypass)
	if err != nil {
		return nil, nil, err
	}
	var stepUp []cookieguard.StepUpRule
	for i, su := range cfg.StepUp {
		rules, err := bypassRules([]config.Bypass{{Path: su.Path, Prefix: su.Prefix, Pattern: su.Pattern, Methods: su.Methods}})
		if err != nil {
			return nil, nil, fmt.Errorf("step_up[%d]: %w", i, err)
		}
		stepUp = append(stepUp, cookieguard.StepUpRule{Rule: rules[0], MaxAge: su.MaxAge})
	}
	return bypass, stepUp, nil
}

// guardRoutes converts configured login or logout routes for the cookie guard.
func guardRoutes(rs []config.Route) []cookieguard.Route {
	out := make([]cookieguard.Route, 0, len(rs))
	for _, r := range rs {
		out = append(out, cookieguard.Route{Path: r.Path, Methods: r.Methods, Query: r.Query})
	}
	return out
}

// loginForm is how the proxy reads login requests.
func loginForm(l config.Login) cookieguard.LoginForm {
	f := cookieguard.LoginForm{UserField: l.User.FormField, Fields: []cookieguard.Field{}}
	for _, fd := range l.Fields {
		name, value, _ := strings.Cut(fd, "=")
		f.Fields = append(f.Fields, cookieguard.Field{Name: name, Value: value})
	}
	f.Normalize = cookieguard.NormalizerOf(l.User.Normalize)
	return f
}

// identityProbe is the configured identity probe (nil: none).
func identityProbe(id config.Identity) (*cookieguard.IdentityProbe, error) {
	if id.Path == "" {
		return nil, nil
	}
	ip := &cookieguard.IdentityProbe{Path: id.Path, JSONPointer: id.JSONPointer, Header: id.Header, Timeout: id.Timeout}
	if id.Regexp != "" {
		re, err := regexp.Compile(id.Regexp)
		if err != nil {
			return nil, fmt.Errorf("login.identity.regexp: %w", err)
		}
		ip.Regexp = re
	}
	return ip, nil
}

func successMatcher(s config.Success) (cookieguard.Matcher, error) {
	m := cookieguard.Matcher{Status: s.Status, SetsSessionCookie: s.SetsSessionCookie}
	if len(s.Headers) > 0 {
		m.Headers = map[string]*regexp.Regexp{}
		for name, pat := range s.Headers {
			re, err := regexp.Compile(pat)
			if err != nil {
				return m, fmt.Errorf("login.success.headers.%s: %w", name, err)
			}
			m.Headers[http.CanonicalHeaderKey(name)] = re
		}
	}
	return m, nil
}

func bypassRules(bs []config.Bypass) ([]cookieguard.PathRule, error) {
	var out []cookieguard.PathRule
	for i, b := range bs {
		r := cookieguard.PathRule{Path: b.Path, Prefix: b.Prefix, Methods: b.Methods}
		if b.Pattern != "" {
			re, err := regexp.Compile(b.Pattern)
			if err != nil {
				return nil, fmt.Errorf("bypass[%d].pattern: %w", i, err)
			}
			r.Pattern = re
		}
		out = append(out, r)
	}
	return out, nil
}
