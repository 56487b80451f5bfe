package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Normalisations a login.user.normalize list may name.
var normalizations = []string{"nfkc", "trim", "casefold"}

// validateLogin checks the login section: its routes, which fields a
// login carries, whose it is (login.user, login.identity), its success,
// the held login's limits and login.logout_abandoned.
func (c *Config) validateLogin(p *problems) {
	l := &c.Login
	if len(l.Routes) == 0 && !c.Parse.Enabled && !l.Basic {
		p.add("login.routes", 0, "name at least one login route (path and methods)")
	}
	c.checkRoutes(p, "login.routes", l.Routes)
	if l.User.FormField == "" && l.User.Header == "" && !l.Basic {
		p.add("login.user", 0, "set form_field (the login form's username field) or header")
	}
	cookieLogins := len(l.Routes) > 0 && !(c.Parse.Enabled && len(c.SessionCookies) == 0)
	if cookieLogins && l.User.FormField != "" && len(l.Fields) == 0 {
		p.add("login.fields", 0, "list the fields the login form sends besides %s (e.g. [password, csrfmiddlewaretoken]); the rest are dropped", l.User.FormField)
	}
	seen := map[string]bool{}
	for i, f := range l.Fields {
		name, _, _ := strings.Cut(f, "=")
		switch {
		case strings.TrimSpace(name) != name || name == "":
			p.add(fmt.Sprintf("login.fields[%d]", i), 0, `want a field name or "name=value", got %q`, f)
		case seen[name]:
			p.add(fmt.Sprintf("login.fields[%d]", i), 0, "%q is listed twice", name)
		case name == l.User.FormField:
			p.add(fmt.Sprintf("login.fields[%d]", i), 0, "%q is the user field, which is always forwarded: leave it out", name)
		}
		seen[name] = true
	}
	for i, n := range l.User.Normalize {
		if !slices.Contains(normalizations, n) {
			p.add(fmt.Sprintf("login.user.normalize[%d]", i), 0, "want one of %s, got %q", strings.Join(normalizations, ", "), n)
		}
	}

	id := &l.Identity
	if id.Path != "" || id.Regexp != "" || id.JSONPointer != "" || id.Header != "" {
		if !strings.HasPrefix(id.Path, "/") {
			p.add("login.identity.path", 0, "want the path of a page that names the signed-in user, starting with /, got %q", id.Path)
		} else if strings.HasPrefix(id.Path, c.Prefix) {
			p.add("login.identity.path", 0, "must not be under the gateway prefix %s", c.Prefix)
		}
		n := 0
		for _, v := range []string{id.Regexp, id.JSONPointer, id.Header} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			p.add("login.identity", 0, "set exactly one of regexp, json_pointer and header (where the answer names the user)")
		}
		if id.Regexp != "" {
			if re, err := regexp.Compile(id.Regexp); err != nil {
				p.add("login.identity.regexp", 0, "not a valid regular expression: %v", err)
			} else if re.NumSubexp() == 0 && id.Path == "" {
				p.add("login.identity.regexp", 0, "needs a path")
			}
		}
		if id.JSONPointer != "" && !strings.HasPrefix(id.JSONPointer, "/") {
			p.add("login.identity.json_pointer", 0, `want a JSON pointer such as /user/username, got %q`, id.JSONPointer)
		}
		within(p, "login.identity.timeout", id.Timeout, 100*time.Millisecond, 30*time.Second)
	}

	for i, n := range l.PreLoginCookies {
		key := fmt.Sprintf("login.pre_login_cookies[%d]", i)
		if !cookieName(strings.TrimSuffix(n, "*")) {
			p.add(key, 0, `want a cookie name (a trailing "*" matches by prefix), got %q`, n)
		} else if !slices.Contains(c.SessionCookies, n) {
			p.add(key, 0, "%q must also be listed in session_cookies (it is a session cookie the app issues before login)", n)
		}
	}
	if l.Basic && c.Parse.Enabled {
		p.add("login.basic", 0, "HTTP Basic logins and Parse Server mode can't be combined")
	}
	for i, s := range l.Success.Status {
		if s < 100 || s > 599 {
			p.add(fmt.Sprintf("login.success.status[%d]", i), 0, "want an HTTP status code, got %d", s)
		}
	}
	for k, v := range l.Success.Headers {
		if _, err := regexp.Compile(v); err != nil {
			p.add("login.success.headers."+k, 0, "not a valid regular expression: %v", err)
		}
	}
	if l.MaxBodyBytes < 1<<10 || l.MaxBodyBytes > 16<<20 {
		p.add("login.max_body_bytes", 0, "want 1024 to 16777216, got %d", l.MaxBodyBytes)
	}
	within(p, "login.hold_ttl", l.HoldTTL, 30*time.Second, time.Hour)
	if l.MaxAttempts < 1 || l.MaxAttempts > 20 {
		p.add("login.max_attempts", 0, "want 1 to 20, got %d", l.MaxAttempts)
	}
	if l.LogoutAbandoned && len(c.Logout.Routes) == 0 {
		p.add("login.logout_abandoned", 0, "needs logout.routes to know how to log a session out")
	}
}
