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

// checkLogin validates what says how a login is read and whose it is:
// login.fields, login.user.normalize, login.identity,
// login.pre_login_cookies, login.basic and credential_params.
func (c *Config) checkLogin(p *problems) {
	l := &c.Login
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
	for i, n := range c.CredentialParams {
		if n == "" || strings.ContainsAny(n, "&=[] ") {
			p.add(fmt.Sprintf("credential_params[%d]", i), 0, "want a request field name, got %q", n)
		}
	}
	for _, list := range []struct {
		key string
		rs  []Route
	}{{"login.routes", l.Routes}, {"logout.routes", c.Logout.Routes}} {
		for i, r := range list.rs {
			for k, v := range r.Query {
				if k == "" || v == "" {
					p.add(fmt.Sprintf("%s[%d].query", list.key, i), 0, "want parameter: value pairs, both set")
				}
			}
		}
	}
}
