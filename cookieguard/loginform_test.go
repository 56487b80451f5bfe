package cookieguard

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/store/memory"
)

func dokuForm() *LoginForm {
	return &LoginForm{
		UserField: "u",
		Fields:    []Field{{Name: "p"}, {Name: "sectok"}, {Name: "id"}, {Name: "do", Value: "login"}},
		Normalize: Normalizer{NFKC: true, Trim: true, CaseFold: true},
	}
}

func mpForm(t *testing.T, fields ...string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		w.WriteField(fields[i], fields[i+1])
	}
	w.Close()
	return w.FormDataContentType(), b.String()
}

// TestCanonicalLogin: the user name is read once, normalised as the app
// compares names, and the app sees only the allowed fields; anything
// ambiguous is refused.
func TestCanonicalLogin(t *testing.T) {
	form := "application/x-www-form-urlencoded"
	mpType, mpBody := mpForm(t, "u", "Alice", "p", "pw", "do", "login", "evil", "x")
	_, mpTwice := mpForm(t, "u", "bob", "u", "alice")
	for _, tc := range []struct {
		name, query, ctype, body string
		user                     string // "" with refused false: not a login attempt
		refused                  bool
		wantQuery, wantBody      string
	}{
		{name: "form", ctype: form, body: "u=alice&p=pw&do=login&sectok=&evil=1", user: "alice", wantBody: "u=alice&p=pw&do=login&sectok="},
		{name: "query only", query: "u=%EF%BD%81lice&p=pw", user: "alice", wantQuery: "u=alice&p=pw"},
		{name: "nfkc and case", ctype: form, body: "u=%EF%BC%A1LICE+&p=pw", user: "alice", wantBody: "u=alice&p=pw"},
		{name: "json", ctype: "application/json", body: `{"u":" Alice","p":"pw","admin":true}`, user: "alice", wantBody: `{"u":"alice","p":"pw"}`},
		{name: "multipart", ctype: mpType, body: mpBody, user: "alice"},
		{name: "no user: not a login", ctype: form, body: "do=save&wikitext=x", user: ""},
		{name: "user twice", ctype: form, body: "u=bob&u=alice&p=pw", refused: true},
		{name: "user in query and body", query: "u=alice", ctype: form, body: "u=&p=pw", refused: true},
		{name: "array spelling", ctype: form, body: "u=bob&u[]=alice", refused: true},
		{name: "case spelling", ctype: form, body: "u=bob&U=alice", refused: true},
		{name: "json case twin", ctype: "application/json", body: `{"u":"bob","U":"alice"}`, refused: true},
		{name: "json duplicate", ctype: "application/json", body: `{"u":"bob","u":"alice"}`, refused: true},
		{name: "json not a string", ctype: "application/json", body: `{"u":["alice"]}`, refused: true},
		{name: "json trailing value", ctype: "application/json", body: `{"u":"bob"}{"u":"alice"}`, refused: true},
		{name: "multipart twice", ctype: "multipart/form-data; boundary=" + strings.Split(strings.SplitN(mpTwice, "\r\n", 2)[0], "--")[1], body: mpTwice, refused: true},
		{name: "control character", ctype: form, body: "u=alice%00", refused: true},
		{name: "format character", ctype: form, body: "u=al%E2%80%8Bice", refused: true},
		{name: "empty name", ctype: form, body: "u=+&p=pw", refused: true},
		{name: "too long", ctype: form, body: "u=" + strings.Repeat("a", 300), refused: true},
		{name: "invalid utf-8", ctype: form, body: "u=%FF", refused: true},
		{name: "semicolon", ctype: form, body: "p=pw;u=alice&u=bob", refused: true},
		{name: "bad escape", ctype: form, body: "u=%zz", refused: true},
		{name: "unreadable type", ctype: "text/plain", body: "u=alice", refused: true},
		{name: "no content type", body: "u=alice", refused: true},
		{name: "other charset", ctype: form + "; charset=iso-8859-1", body: "u=alice", refused: true},
		{name: "fixed value", ctype: form, body: "u=alice&do=save", refused: true},
		{name: "fixed value twice", ctype: form, body: "u=alice&do=login&do=admin", refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/doku.php?"+tc.query, strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			body, _ := io.ReadAll(r.Body)
			user, err := dokuForm().Canonical(r, body)
			var lr *LoginRefused
			if tc.refused {
				if !errors.As(err, &lr) {
					t.Fatalf("want refused, got user %q err %v", user, err)
				}
				return
			}
			if err != nil || user != tc.user {
				t.Fatalf("user %q err %v, want %q", user, err, tc.user)
			}
			if r.URL.RawQuery != tc.wantQuery && tc.user != "" {
				t.Errorf("query %q, want %q", r.URL.RawQuery, tc.wantQuery)
			}
			got, _ := io.ReadAll(r.Body)
			if tc.wantBody != "" && string(got) != tc.wantBody {
				t.Errorf("body %q, want %q", got, tc.wantBody)
			}
			if tc.user != "" && r.ContentLength != int64(len(got)) {
				t.Errorf("Content-Length %d for a %d-byte body", r.ContentLength, len(got))
			}
			if strings.HasPrefix(tc.ctype, "multipart/") {
				// What the app parses is the one normalised name, no extras.
				r2 := httptest.NewRequest("POST", "/", bytes.NewReader(got))
				r2.Header.Set("Content-Type", r.Header.Get("Content-Type"))
				if err := r2.ParseMultipartForm(1 << 20); err != nil {
					t.Fatal(err)
				}
				if v := r2.MultipartForm.Value; len(v["u"]) != 1 || v["u"][0] != "alice" || v["evil"] != nil || v["do"][0] != "login" {
					t.Errorf("the app would read %v", v)
				}
			}
		})
	}
}

// TestCredentialParamsStripped: u and p never reach the app outside a
// login attempt, however they are spelled or carried; other fields and
// the body's length are kept.
func TestCredentialParamsStripped(t *testing.T) {
	params := []string{"u", "p"}
	for _, tc := range []struct{ in, want string }{
		{"id=start&u=alice&p=pw", "id=start"},
		{"%75=alice&x=1", "x=1"},
		{"u[]=alice&U=bob&x=1", "x=1"},
		{"a=1;u=alice&x=1", "x=1"},
		{"x=1&up=2", "x=1&up=2"},
		{"", ""},
	} {
		if got, _ := stripCredentialQuery(tc.in, params); got != tc.want {
			t.Errorf("query %q: %q, want %q", tc.in, got, tc.want)
		}
	}

	h := http.Header{"Cookie": {"DokuWiki=abc; u=alice", "p=pw; theme=dark"}}
	if !stripCredentialCookies(h, params) || h.Get("Cookie") != "DokuWiki=abc; theme=dark" {
		t.Errorf("cookies: %q", h.Get("Cookie"))
	}

	// Bodies, streamed in small reads: names renamed, length unchanged.
	ctype, mp := mpForm(t, "id", "start", "u", "alice", "wikitext", strings.Repeat("x", 20000)+"\r\n--notboundary", "p", "pw")
	for _, tc := range []struct {
		name, ctype, body string
	}{
		{"form", "application/x-www-form-urlencoded", "id=start&u=alice&text=" + strings.Repeat("y", 10000) + "&%70=pw&u%5B%5D=x"},
		{"multipart", ctype, mp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/doku.php", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ctype)
			found := 0
			credentialBody(r, params, func() { found++ })
			var out bytes.Buffer
			buf := make([]byte, 7) // small reads: boundaries split across them
			for {
				n, err := r.Body.Read(buf)
				out.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if out.Len() != len(tc.body) {
				t.Fatalf("body is %d bytes, was %d", out.Len(), len(tc.body))
			}
			if found == 0 {
				t.Fatal("nothing renamed")
			}
			r2 := httptest.NewRequest("POST", "/", &out)
			r2.Header.Set("Content-Type", tc.ctype)
			if err := r2.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				t.Fatal(err)
			}
			for _, name := range []string{"u", "p", "u[]"} {
				if r2.Form.Get(name) != "" || r2.PostForm.Get(name) != "" {
					t.Errorf("the app would still read %s", name)
				}
			}
			if r2.FormValue("id") != "start" {
				t.Errorf("other fields lost: %v", r2.Form)
			}
		})
	}
}

func TestNormalizer(t *testing.T) {
	n := Normalizer{NFKC: true, Trim: true}
	for in, want := range map[string]string{"ａｄｍｉｎ": "admin", " Admin\u00a0": "Admin", "ﬁle": "file"} {
		if got, err := n.Normalize(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	if got, _ := (Normalizer{CaseFold: true}).Normalize("ALİCE"); got == "ALİCE" {
		t.Errorf("casefold left %q", got)
	}
}

// TestFormKeptWithoutUserField: a config whose user comes only from the
// app's answer (login.user.header) keeps its normalisation; the
// trim-and-fold fallback is only for callers that set UserField alone.
func TestFormKeptWithoutUserField(t *testing.T) {
	codec, _ := gate.NewCodec("vestibule_gate", [][]byte{make([]byte, 32)}, nil)
	up, _ := url.Parse("http://app.internal")
	base := Options{Upstream: up, Transport: cannedTransport{}, Prefix: "/.vestibule/",
		Challenger: noChallenger{}, Cookies: &gate.Issuer{Codec: codec, MaxAge: time.Hour}, Store: memory.New(nil), Held: &held.Logins{Store: memory.New(nil)}}
	headerOnly := base
	headerOnly.UserHeader, headerOnly.Form = "X-User", LoginForm{Normalize: Normalizer{NFKC: true, Trim: true}}
	p, err := New(headerOnly)
	if err != nil {
		t.Fatal(err)
	}
	if p.opt.Form.Normalize.CaseFold || !p.opt.Form.Normalize.NFKC {
		t.Errorf("header-only config lost its normalisation: %+v", p.opt.Form.Normalize)
	}
	legacy := base
	legacy.UserField = "username"
	if p, _ = New(legacy); p.opt.Form.UserField != "username" || !p.opt.Form.Normalize.CaseFold {
		t.Errorf("UserField alone: %+v", p.opt.Form)
	}
}
