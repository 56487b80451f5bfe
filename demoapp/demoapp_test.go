package demoapp

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func postForm(t *testing.T, c *http.Client, u string, v url.Values) *http.Response {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func hasSetCookie(resp *http.Response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.MaxAge >= 0 {
			return true
		}
	}
	return false
}

func TestStyles(t *testing.T) {
	for _, tc := range []struct {
		style           Style
		cookieFirstSeen bool // cookie on the first anonymous visit
		cookieAtLogin   bool // Set-Cookie on the login answer
	}{
		{StyleRegenerate, false, true},
		{StyleKeep, true, false},
	} {
		t.Run(tc.style.String(), func(t *testing.T) {
			app := New(Options{Style: tc.style})
			srv := httptest.NewServer(app)
			defer srv.Close()
			c := client(t)
			resp, body := get(t, c, srv.URL+"/login")
			if !strings.Contains(body, `name="username"`) {
				t.Fatal("no login form")
			}
			if got := hasSetCookie(resp, "demo_session"); got != tc.cookieFirstSeen {
				t.Errorf("cookie on first visit = %v", got)
			}
			if r, _ := get(t, c, srv.URL+"/account"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
				t.Errorf("anonymous /account: %d", r.StatusCode)
			}
			resp = postForm(t, c, srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"nope"}})
			if resp.Header.Get("Location") != "/login?error=1" {
				t.Errorf("wrong password: %s", resp.Header.Get("Location"))
			}
			resp = postForm(t, c, srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
				t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if got := hasSetCookie(resp, "demo_session"); got != tc.cookieAtLogin {
				t.Errorf("Set-Cookie at login = %v", got)
			}
			if _, body := get(t, c, srv.URL+"/account"); !strings.Contains(body, "Welcome, alice") {
				t.Errorf("account page: %.200s", body)
			}
			if _, body := get(t, c, srv.URL+"/whoami"); strings.TrimSpace(body) != "alice" {
				t.Errorf("whoami = %q", body)
			}
			resp, _ = get(t, c, srv.URL+"/logout")
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("logout: %d", resp.StatusCode)
			}
			if _, body := get(t, c, srv.URL+"/whoami"); strings.TrimSpace(body) != "anonymous" {
				t.Errorf("whoami after logout = %q", body)
			}
		})
	}
}

func TestRoutingVariantsAndRotate(t *testing.T) {
	app := New(Options{})
	srv := httptest.NewServer(app)
	defer srv.Close()
	for _, p := range []string{"/signin", "/LOGIN", "/login/", "/Signin/"} {
		c := client(t)
		resp := postForm(t, c, srv.URL+p, url.Values{"username": {"Bob "}, "password": {"builder"}})
		if resp.Header.Get("Location") != "/account" {
			t.Errorf("%s: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	c := client(t)
	postForm(t, c, srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
	u, _ := url.Parse(srv.URL)
	before := c.Jar.Cookies(u)[0].Value
	resp := postForm(t, c, srv.URL+"/rotate", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("rotate: %d", resp.StatusCode)
	}
	after := c.Jar.Cookies(u)[0].Value
	if after == before {
		t.Fatal("rotate kept the id")
	}
	if _, ok := app.UserOf(before); ok {
		t.Error("old id still valid")
	}
	if user, _ := app.UserOf(after); user != "alice" {
		t.Errorf("new id user = %q", user)
	}
}

func TestJSONLoginAndEcho(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/login", "application/json", strings.NewReader(`{"username":"bob","password":"builder"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"bob"`) || !hasSetCookie(resp, "demo_session") {
		t.Fatalf("JSON login: %d %s", resp.StatusCode, b)
	}
	resp, _ = http.Post(srv.URL+"/login", "application/json", strings.NewReader(`{"username":"bob","password":"x"}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad JSON login: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/echo-cookies", nil)
	req.AddCookie(&http.Cookie{Name: "b", Value: "2"})
	req.AddCookie(&http.Cookie{Name: "a", Value: "1"})
	resp, _ = http.DefaultClient.Do(req)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "a=1\nb=2\n" {
		t.Errorf("echo-cookies = %q", b)
	}
}

func TestStart(t *testing.T) {
	u, stop, err := Start(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	stop()
	if _, err := http.Get(u + "/healthz"); err == nil {
		t.Error("still serving after stop")
	}
}

// TestSecurityPageLink: a signed-in page links to the gateway's security
// page when one is named, and no page does without it.
func TestSecurityPageLink(t *testing.T) {
	for _, page := range []string{"", "/.vestibule/account"} {
		srv := httptest.NewServer(New(Options{SecurityPage: page}))
		c := client(t)
		if _, body := get(t, c, srv.URL+"/login"); strings.Contains(body, `id="security"`) {
			t.Errorf("%q: anonymous page links to the security page", page)
		}
		postForm(t, c, srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
		_, body := get(t, c, srv.URL+"/account")
		if got, want := strings.Contains(body, `<a href="/.vestibule/account" id="security">`), page != ""; got != want {
			t.Errorf("%q: link on the signed-in page = %v, want %v", page, got, want)
		}
		srv.Close()
	}
}
