package cookieguard

import (
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzCanonicalLogin: whatever a login request looks like, when the
// gateway accepts it as a login attempt the app (reading the forwarded
// request as Go's and PHP-like parsers do) sees the user field exactly
// once, with exactly the name the gateway filed, and no field outside the
// allowlist; a request the gateway calls no login attempt names no user
// an app could read.
func FuzzCanonicalLogin(f *testing.F) {
	f.Add("u=alice&p=pw", "", "application/x-www-form-urlencoded")
	f.Add("u=bob&u=alice", "", "application/x-www-form-urlencoded")
	f.Add("p=pw", "u=alice", "application/x-www-form-urlencoded")
	f.Add(`{"u":"alice","U":"bob"}`, "", "application/json")
	f.Add("u[]=alice&do=login", "", "application/x-www-form-urlencoded")
	f.Add("%75=%EF%BD%81lice", "", "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, body, query, ctype string) {
		r := httptest.NewRequest("POST", "/doku.php", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", ctype)
		form := dokuForm()
		user, err := form.Canonical(r, []byte(body))
		if err != nil {
			return
		}
		q, qerr := url.ParseQuery(r.URL.RawQuery)
		if user == "" {
			// No login attempt: no spelling of the user field anywhere.
			for name := range q {
				if strings.EqualFold(phpBase(name), "u") {
					t.Fatalf("query names the user (%q) but was no login attempt", r.URL.RawQuery)
				}
			}
			if qerr == nil && strings.Contains(ctype, "urlencoded") {
				if b, err := url.ParseQuery(body); err == nil {
					for name := range b {
						if strings.EqualFold(phpBase(name), "u") {
							t.Fatalf("body names the user (%q) but was no login attempt", body)
						}
					}
				}
			}
			return
		}
		if qerr != nil {
			t.Fatalf("forwarded query unparsable: %q", r.URL.RawQuery)
		}
		got := q["u"]
		if strings.HasPrefix(ctype, "application/x-www-form-urlencoded") {
			nb, _ := io.ReadAll(r.Body)
			b, err := url.ParseQuery(string(nb))
			if err != nil {
				t.Fatalf("forwarded body unparsable: %q", nb)
			}
			got = append(got, b["u"]...)
			for name := range b {
				if _, ok := form.allowed(name); !ok {
					t.Fatalf("field %q outside the allowlist forwarded", name)
				}
			}
		}
		for name := range q {
			if _, ok := form.allowed(name); !ok {
				t.Fatalf("query field %q outside the allowlist forwarded", name)
			}
		}
		if strings.HasPrefix(ctype, "application/x-www-form-urlencoded") || len(body) == 0 {
			if len(got) != 1 || got[0] != user {
				t.Fatalf("the app reads u=%q, the gateway filed %q", got, user)
			}
		}
	})
}
