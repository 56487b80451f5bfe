package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vestibule-gw/vestibule/config"
)

// dokuSecret is the text of a DokuWiki page only signed-in users may read.
const dokuSecret = "TOPSECRET-7f3a"

// The rules that keep a password alone from passing, tested against the
// real apps the project ships examples for. Every attack ends at the
// login page, a refusal or the code page of the real user: never in the app.

// dokuEnv is a real DokuWiki behind examples/dokuwiki.yaml where alice has
// already enrolled (her second factor exists).
type dokuEnv struct {
	wiki, gw string
	logs     *syncBuffer
	alice    *client // released after 2FA
}

func newDokuEnv(t *testing.T) *dokuEnv {
	t.Helper()
	e := &dokuEnv{wiki: startDokuWiki(t)}
	e.gw, e.logs = exampleGatewayLog(t, "dokuwiki.yaml", func(c *config.Config, gwURL string) {
		c.Upstream.URL, c.PublicURL = e.wiki, gwURL
	})
	// Control: the attack requests below do open the secret at DokuWiki
	// itself, so the test can tell a blocked attack from a broken one.
	direct := newClient(t)
	if p := direct.do("GET", e.wiki+"/doku.php?id=secret&do=export_raw&u=alice&p=wonderland", nil, ""); !strings.Contains(p.body, dokuSecret) {
		t.Fatalf("control: DokuWiki does not sign in from query credentials: %d %.300s", p.status, p.body)
	}
	alice := newClient(t)
	dokuLogin(t, alice, e.gw)
	alice.enrollRelease(e.gw)
	e.alice = alice
	if p := alice.do("GET", e.gw+"/doku.php?id=secret&do=export_raw", nil, ""); !strings.Contains(p.body, dokuSecret) {
		t.Fatalf("alice after 2FA can't read the secret page: %d %.300s", p.status, p.body)
	}
	return e
}

// showsSecret reports whether a DokuWiki answer shows the protected page:
// its text, or its entry in an index only signed-in users see.
func showsSecret(body string) bool {
	return strings.Contains(body, dokuSecret) || strings.Contains(body, `data-wiki-id="secret"`)
}

// noSecret fails if a gateway answer shows the protected page.
func noSecret(t *testing.T, what string, p resp) {
	t.Helper()
	if showsSecret(p.body) {
		t.Errorf("%s: DokuWiki's protected page reached the client (%d)", what, p.status)
	}
}

// heldForEnrolledUser checks that a login through the gateway was held and
// that its code page asks for an enrolled user's code (alice's), not for a
// new enrollment under an alias.
func heldForEnrolledUser(t *testing.T, c *client, gw string, p resp, what string) {
	t.Helper()
	if p.status != http.StatusSeeOther || p.loc != "/.vestibule/verify" {
		t.Fatalf("%s: login not held: %d %s %.200s", what, p.status, p.loc, p.body)
	}
	v := c.do("GET", gw+"/.vestibule/verify", nil, "")
	if v.status != http.StatusOK || !strings.Contains(v.body, `name="code"`) {
		t.Fatalf("%s: the code page does not ask the enrolled user's code (%d %s): the login was filed under another name", what, v.status, v.loc)
	}
}

func dokuForm(user string, extra ...string) url.Values {
	v := url.Values{"sectok": {""}, "id": {"start"}, "do": {"login"}, "u": {user}, "p": {"wonderland"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// TestDokuWikiAliasesAreTheRealUser: names DokuWiki cleans to alice
// (accents, separators, case, full-width forms) are held as alice, whose
// code they need; repeated and ambiguous fields are refused.
func TestDokuWikiAliasesAreTheRealUser(t *testing.T) {
	e := newDokuEnv(t)
	for _, alias := range []string{"alice.", "álice", "ALICE", "ａｌｉｃｅ", " alice ", "alice_"} {
		c := newClient(t)
		c.do("GET", e.gw+"/doku.php?id=start&do=login", nil, "")
		p := c.do("POST", e.gw+"/doku.php?id=start&do=login", dokuForm(alias), "")
		heldForEnrolledUser(t, c, e.gw, p, fmt.Sprintf("alias %q", alias))
		noSecret(t, alias, c.do("GET", e.gw+"/doku.php?id=secret&do=export_raw", nil, ""))
	}
	if !strings.Contains(e.logs.String(), "event=identity_mismatch") {
		t.Error("no identity_mismatch event for an alias")
	}

	refused := []struct {
		name, ctype, body, query string
	}{
		{"user field twice", "application/x-www-form-urlencoded", "u=bob&u=alice&p=wonderland&do=login", ""},
		{"user in query and body", "application/x-www-form-urlencoded", "u=&p=wonderland&do=login", "u=alice"},
		{"PHP array spelling", "application/x-www-form-urlencoded", "u=bob&u[]=alice&p=wonderland&do=login", ""},
		{"control character", "application/x-www-form-urlencoded", "u=alice%00&p=wonderland&do=login", ""},
		{"unreadable body", "text/plain", "u=alice&p=wonderland", ""},
		{"login that saves a page", "application/x-www-form-urlencoded", "u=alice&p=wonderland&do=save&id=start&wikitext=defaced", ""},
		{"login that opens the admin", "application/x-www-form-urlencoded", "u=alice&p=wonderland&do=admin", ""},
	}
	for _, tc := range refused {
		c := newClient(t)
		p := c.send("POST", e.gw+"/doku.php?"+tc.query, tc.ctype, tc.body)
		if p.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", tc.name, p.status, p.loc)
		}
		noSecret(t, tc.name, p)
	}
	if !strings.Contains(e.logs.String(), "event=login_refused_ambiguous") {
		t.Error("no login_refused_ambiguous event")
	}

	// A multipart login is read like a form one: held as alice.
	var mb bytes.Buffer
	mw := multipart.NewWriter(&mb)
	for k, v := range map[string]string{"u": "Alice", "p": "wonderland", "do": "login", "sectok": ""} {
		mw.WriteField(k, v)
	}
	mw.Close()
	c := newClient(t)
	p := c.send("POST", e.gw+"/doku.php", mw.FormDataContentType(), mb.String())
	heldForEnrolledUser(t, c, e.gw, p, "multipart login")
}

// TestDokuWikiCredentialChannels: u/p in queries, bodies and cookies on
// every entry point, and HTTP Basic, never sign anyone in through the
// gateway.
func TestDokuWikiCredentialChannels(t *testing.T) {
	e := newDokuEnv(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))
	var mb bytes.Buffer
	mw := multipart.NewWriter(&mb)
	mw.WriteField("u", "alice")
	mw.WriteField("p", "wonderland")
	mw.WriteField("id", "secret")
	mw.WriteField("do", "export_raw")
	mw.Close()
	form := "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, path, ctype, body string
		header                          []string
		// control: the same request straight to DokuWiki shows the page
		// (PHP here reads $_REQUEST from GET and POST only, so cookies
		// alone don't sign in; the gateway removes them all the same).
		control bool
	}{
		{"query on doku.php", "GET", "/doku.php?id=secret&do=export_raw&u=alice&p=wonderland", "", "", nil, true},
		{"encoded query names", "GET", "/doku.php?id=secret&do=export_raw&%75=alice&%70=wonderland", "", "", nil, true},
		{"query on feed.php", "GET", "/feed.php?mode=list&ns=&content=html&u=alice&p=wonderland", "", "", nil, true},
		{"form body on feed.php", "POST", "/feed.php", form, "mode=list&ns=&content=html&u=alice&p=wonderland", nil, true},
		{"form body on ajax.php", "POST", "/lib/exe/ajax.php", form, "call=index&idx=&u=alice&p=wonderland", nil, true},
		{"query on ajax.php", "GET", "/lib/exe/ajax.php?call=index&idx=&u=alice&p=wonderland", "", "", nil, true},
		{"multipart body on the login path", "POST", "/doku.php", mw.FormDataContentType(), mb.String(), nil, true},
		{"cookies", "GET", "/doku.php?id=secret&do=export_raw", "", "", []string{"Cookie", "u=alice; p=wonderland"}, false},
		{"HTTP Basic", "GET", "/doku.php?id=secret&do=export_raw", "", "", []string{"Authorization", basic}, true},
		{"HTTP Basic on feed.php", "GET", "/feed.php?mode=list&ns=&content=html", "", "", []string{"Authorization", basic}, true},
	}
	for _, tc := range cases {
		if tc.control {
			direct := newClient(t).send(tc.method, e.wiki+tc.path, tc.ctype, tc.body, tc.header...)
			if !showsSecret(direct.body) {
				t.Errorf("control %s: DokuWiki itself did not sign in: %d %.200s", tc.name, direct.status, direct.body)
			}
		}
		p := newClient(t).send(tc.method, e.gw+tc.path, tc.ctype, tc.body, tc.header...)
		noSecret(t, tc.name, p)
	}
	if !strings.Contains(e.logs.String(), "event=credential_stripped") {
		t.Error("no credential_stripped event")
	}
	// PHP here reads no cookies into $_REQUEST, so the cookie case can't
	// show at the app: the gateway's own record shows they were removed.
	for _, ch := range []string{"channel=cookie", "channel=query", "channel=body", "channel=authorization"} {
		if !strings.Contains(e.logs.String(), ch) {
			t.Errorf("no credential_stripped event with %s", ch)
		}
	}
}

// TestDokuWikiStolenCookiesAndLogout: app cookies made at DokuWiki
// directly ride on no login attempt, and copies of a released session's
// cookies are worthless once DokuWiki logged it out.
func TestDokuWikiStolenCookiesAndLogout(t *testing.T) {
	e := newDokuEnv(t)

	direct := newClient(t)
	if p := dokuLogin(t, direct, e.wiki); p.status != http.StatusFound {
		t.Fatalf("direct login at DokuWiki: %d", p.status)
	}
	thief := newClient(t)
	thief.copyCookies(direct, e.wiki, e.gw)
	control := newClient(t)
	control.copyCookies(direct, e.wiki, e.wiki)
	for _, tc := range []struct{ name, query, body string }{
		{"user in query, body's empty", "id=secret&do=export_raw&u=nobody", "u=&p=x"},
		{"wrong password login", "", "u=nobody&p=wrong&do=login&id=secret"},
		{"login route, no user", "id=secret&do=export_raw", "id=secret&do=export_raw"},
	} {
		p := thief.send("POST", e.gw+"/doku.php?"+tc.query, "application/x-www-form-urlencoded", tc.body)
		noSecret(t, "stolen cookies: "+tc.name, p)
	}
	if p := control.send("POST", e.wiki+"/doku.php?id=secret&do=export_raw", "application/x-www-form-urlencoded", "id=secret&do=export_raw"); !strings.Contains(p.body, dokuSecret) {
		t.Errorf("control: the stolen cookies don't open the page at DokuWiki itself: %d", p.status)
	}

	// The released browser logs out through DokuWiki's own link; copies of
	// its cookies (app and gate) open nothing afterwards, although
	// DokuWiki itself still honours its copied auth cookie.
	c := e.alice
	page := c.do("GET", e.gw+"/doku.php?id=start", nil, "")
	m := regexp.MustCompile(`href="([^"]*do=logout[^"]*)"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no Log Out link: %.300s", page.body)
	}
	copied := newClient(t)
	copied.copyCookies(c, e.gw, e.gw)
	logout := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.HasPrefix(logout, "http") {
		logout = e.gw + logout
	}
	c.do("GET", logout, nil, "")
	if p := c.do("GET", e.gw+"/doku.php?id=secret&do=export_raw", nil, ""); strings.Contains(p.body, dokuSecret) {
		t.Fatal("still signed in after logout")
	}
	noSecret(t, "replayed cookies after logout", copied.do("GET", e.gw+"/doku.php?id=secret&do=export_raw", nil, ""))
}

// TestDjangoAdminIdentityAndPaths: a real Django admin behind
// examples/django-admin.yaml: repeated and compatibility-form names are
// refused or held as the real admin; a stolen session rides on no login;
// a step-up path can't be dodged with characters Django ignores; copied
// cookies are worthless after logout.
func TestDjangoAdminIdentityAndPaths(t *testing.T) {
	app := startDjango(t)
	gw, logs := exampleGatewayLog(t, "django-admin.yaml", func(c *config.Config, _ string) {
		c.Upstream.URL, c.PublicURL = app, "http://127.0.0.1"
	})
	admin := newClient(t)
	if p := djangoLogin(t, admin, gw); p.status != http.StatusSeeOther {
		t.Fatalf("login not held: %d", p.status)
	}
	admin.enrollRelease(gw)
	if p := admin.do("GET", gw+"/admin/", nil, ""); !strings.Contains(p.body, "Site administration") {
		t.Fatalf("admin after 2FA: %d", p.status)
	}

	form := func(c *client, base string, user ...string) (url.Values, string) {
		p := c.do("GET", base+"/admin/login/?next=/admin/", nil, "")
		m := djangoCSRF.FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no Django login form: %d", p.status)
		}
		v := url.Values{"csrfmiddlewaretoken": {m[1]}, "password": {"correct horse battery"}, "next": {"/admin/"}, "username": user}
		return v, m[1]
	}
	// Control: Django itself reads the last of two names, and NFKC forms.
	direct := newClient(t)
	v, _ := form(direct, app, "nobody", "admin")
	if p := direct.do("POST", app+"/admin/login/?next=/admin/", v, ""); p.status != http.StatusFound {
		t.Fatalf("control: Django does not take the last name: %d", p.status)
	}

	// Two names: refused.
	c := newClient(t)
	v, _ = form(c, gw, "nobody", "admin")
	if p := c.do("POST", gw+"/admin/login/?next=/admin/", v, ""); p.status != http.StatusBadRequest {
		t.Errorf("two user names: %d %s, want 400", p.status, p.loc)
	}
	// Full-width and padded names are Django's admin: held for the admin.
	for _, alias := range []string{"ａｄｍｉｎ", " admin"} {
		c := newClient(t)
		v, _ := form(c, gw, alias)
		p := c.do("POST", gw+"/admin/login/?next=/admin/", v, "")
		heldForEnrolledUser(t, c, gw, p, fmt.Sprintf("alias %q", alias))
		if p := c.do("GET", gw+"/admin/", nil, ""); strings.Contains(p.body, "Site administration") {
			t.Errorf("alias %q: the admin opened before the second factor", alias)
		}
	}
	// An unreadable login body: refused; a multipart one: held.
	c = newClient(t)
	_, tok := form(c, gw)
	if p := c.send("POST", gw+"/admin/login/", "text/plain", "username=admin&password=correct+horse+battery&csrfmiddlewaretoken="+tok); p.status != http.StatusBadRequest {
		t.Errorf("text/plain login: %d, want 400", p.status)
	}
	var mb bytes.Buffer
	mw := multipart.NewWriter(&mb)
	for k, val := range map[string]string{"username": "admin", "password": "correct horse battery", "csrfmiddlewaretoken": tok, "next": "/admin/"} {
		mw.WriteField(k, val)
	}
	mw.Close()
	p := c.send("POST", gw+"/admin/login/", mw.FormDataContentType(), mb.String(), "Referer", gw+"/admin/login/")
	heldForEnrolledUser(t, c, gw, p, "multipart login")

	// A session made at Django directly rides on no login attempt.
	thief := newClient(t)
	thief.copyCookies(direct, app, gw)
	v, _ = form(thief, gw, "nobody")
	v.Set("password", "wrong")
	if p := thief.do("POST", gw+"/admin/login/?next=/admin/", v, ""); strings.Contains(p.body, "Site administration") || p.status == http.StatusFound {
		t.Errorf("stolen session on a login attempt reached the admin: %d %s", p.status, p.loc)
	}

	// Step-up on /admin/auth/ (10 minutes): once the factor is older, the
	// user pages need a fresh code whatever the spelling of the path.
	// The gateway's clock is real here, so check the paths are at least
	// not dodging the rule by being refused or sent to step-up.
	for _, path := range []string{"/admin/auth/user/1%09/change/", "/admin/auth/user/1%0B/change/", "/admin/auth/user/1%0D/change/", "/admin/auth/user/1%0C/change/"} {
		direct := direct.do("GET", app+path, nil, "")
		if direct.status != http.StatusOK {
			t.Errorf("control %s: Django answered %d, want the user page", path, direct.status)
		}
		p := admin.do("GET", gw+path, nil, "")
		if p.status != http.StatusBadRequest {
			t.Errorf("%s with a session: %d, want 400 (a path the gateway can't canonicalise)", path, p.status)
		}
	}
	if !strings.Contains(logs.String(), "event=path_refused") {
		t.Error("no path_refused event")
	}

	// Logout, then replay copied cookies: nothing opens.
	copied := newClient(t)
	copied.copyCookies(admin, gw, gw)
	admin.do("GET", gw+"/admin/logout/", nil, "")
	if p := copied.do("GET", gw+"/admin/", nil, ""); strings.Contains(p.body, "Site administration") {
		t.Error("copied cookies open the admin after logout")
	}
}
