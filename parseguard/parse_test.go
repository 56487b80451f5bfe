package parseguard

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name          string
		method, ctype string
		body          string
		hdr           map[string]string
		headerTok     string
		bodyTok       string
		master        bool
		method2       string
		mfa           string
		hasMFA        bool
		err           error
	}{
		{name: "header token", method: "GET", hdr: map[string]string{"X-Parse-Session-Token": "r:h"}, headerTok: "r:h", method2: "GET"},
		{name: "JS SDK body", method: "POST", ctype: "text/plain", body: `{"_ApplicationId":"a","_SessionToken":"r:b","_method":"GET"}`, bodyTok: "r:b", method2: "GET"},
		{name: "leading space, escaped key", method: "POST", ctype: "text/plain", body: " \n{\"_Session\\u0054oken\":\"r:e\"}", bodyTok: "r:e", method2: "POST"},
		{name: "duplicate key: the last wins, as in JavaScript", method: "POST", body: `{"_SessionToken":"r:1","_SessionToken":"r:2"}`, bodyTok: "r:2", method2: "POST"},
		{name: "form body", method: "POST", ctype: "application/x-www-form-urlencoded", body: "_ApplicationId=a&_SessionToken=r%3Af&_MasterKey=m", bodyTok: "r:f", master: true, method2: "POST"},
		{name: "master header", method: "GET", hdr: map[string]string{"X-Parse-Master-Key": "m"}, master: true, method2: "GET"},
		{name: "maintenance header", method: "GET", hdr: map[string]string{"X-Parse-Maintenance-Key": "m"}, master: true, method2: "GET"},
		{name: "basic master", method: "GET", hdr: map[string]string{"Authorization": basic("app:m")}, master: true, method2: "GET"},
		{name: "basic javascript key", method: "GET", hdr: map[string]string{"Authorization": basic("app:javascript-key=js")}, method2: "GET"},
		{name: "body master", method: "POST", body: `{"_MasterKey":"m"}`, master: true, method2: "POST"},
		{name: "mfa token", method: "POST", body: `{"username":"a","authData":{"mfa":{"token":"123456"}}}`, mfa: "123456", hasMFA: true, method2: "POST"},
		{name: "mfa request", method: "POST", body: `{"authData":{"mfa":{"token":"request"}}}`, mfa: "request", hasMFA: true, method2: "POST"},
		{name: "not JSON", method: "POST", ctype: "image/png", body: "\x89PNG", method2: "POST"},
		{name: "gzip", method: "POST", body: "x", hdr: map[string]string{"Content-Encoding": "gzip"}, err: errEncoding},
		{name: "utf-16", method: "POST", ctype: "application/json; charset=utf-16le", body: "{\x00}\x00", err: errEncoding},
		{name: "byte order mark", method: "POST", body: "\xef\xbb\xbf{}", err: errEncoding},
		{name: "token that is not a string", method: "POST", body: `{"_SessionToken":{"$ne":null}}`, err: errBadJSON},
		{name: "broken JSON object", method: "POST", body: `{"_SessionToken":`, err: errBadJSON},
		{name: "too large", method: "POST", body: strings.Repeat("x", 65), err: errBodyTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			r := httptest.NewRequest(c.method, "/parse/x", body)
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			for k, v := range c.hdr {
				r.Header.Set(k, v)
			}
			q, err := readRequest(r, 64)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.headerToken != c.headerTok || q.bodyToken != c.bodyTok || q.master != c.master || q.method != c.method2 || q.mfa != c.mfa || q.hasMFA != c.hasMFA {
				t.Errorf("got header %q body %q master %v method %q mfa %q/%v", q.headerToken, q.bodyToken, q.master, q.method, q.mfa, q.hasMFA)
			}
			// The body is forwarded unchanged.
			if b, _ := io.ReadAll(r.Body); string(b) != c.body {
				t.Errorf("forwarded body %q, want %q", b, c.body)
			}
		})
	}
}

func TestStripMFA(t *testing.T) {
	r := httptest.NewRequest("POST", "/parse/login", strings.NewReader(`{"username":"a","n":12345678901234567890,"authData":{"mfa":{"token":"1"}}}`))
	q, err := readRequest(r, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.stripMFA(r); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	if string(b) != `{"n":12345678901234567890,"username":"a"}` || r.ContentLength != int64(len(b)) {
		t.Errorf("forwarded %s (%d)", b, r.ContentLength)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		path, method string
		want         kind
	}{
		{"/parse/login", "POST", login},
		{"/PARSE//Login/", "GET", login},
		{"/parse/users", "POST", login},
		{"/parse/users", "GET", scan},
		{"/parse/classes/_User", "POST", login},
		{"/parse/users/abc", "PUT", follow},
		{"/parse/users/me", "GET", scan},
		{"/parse/sessions", "POST", follow},
		{"/parse/sessions", "GET", scan},
		{"/parse/sessions/abc", "DELETE", deleteSession},
		{"/parse/upgradeToRevocableSession", "POST", follow},
		{"/parse/logout", "POST", logout},
		{"/parse/loginAs", "POST", loginAs},
		{"/parse/verifyPassword", "GET", verifyPassword},
		{"/parse/classes/_Session", "GET", scan},
		{"/parse/functions/hello", "POST", mint},
		{"/parse/classes/Note", "GET", pass},
		{"/parse/files/a.png", "POST", pass},
	}
	for _, c := range cases {
		route, ok := under(key(c.path), "/parse")
		if !ok {
			t.Fatalf("%s not under /parse", c.path)
		}
		if got := classify(route, c.method); got != c.want {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, got, c.want)
		}
	}
	if _, ok := under(key("/parsex/login"), "/parse"); ok {
		t.Error("/parsex is not under /parse")
	}
}

func TestAnswerTokens(t *testing.T) {
	gid := base64.StdEncoding.EncodeToString([]byte("_User:u2"))
	v, ok := decodeAnswer([]byte(`{"objectId":"u1","sessionToken":"r:1","list":[{"objectId":"s9","sessionToken":"r:2","expiresAt":{},"user":{"objectId":"u1"}}],
		"data":{"logIn":{"viewer":{"sessionToken":"r:3","user":{"id":"` + gid + `"}}}}, "n": 12345678901234567890}`))
	if !ok {
		t.Fatal("decode")
	}
	got := map[string]string{}
	for _, m := range findTokens(v, nil) {
		got[m.token] = m.user
	}
	if got["r:1"] != "u1" || got["r:2"] != "u1" || got["r:3"] != "u2" || len(got) != 3 {
		t.Fatalf("tokens: %v", got)
	}
	if !redact(v, func(t string) bool { return t == "r:2" }) {
		t.Fatal("nothing redacted")
	}
	if left := findTokens(v, nil); len(left) != 2 {
		t.Errorf("after redaction: %v", left)
	}
	if _, ok := decodeAnswer([]byte(`{} {}`)); ok {
		t.Error("two values decoded as one answer")
	}
}

func TestOperationKinds(t *testing.T) {
	cases := []struct {
		name, body string
		gql        bool
		want       kind
	}{
		{"GraphQL logIn", `{"query":"mutation { logIn(input: {}) { viewer { sessionToken } } }"}`, true, login},
		{"GraphQL logInWith", `{"query":"mutation { logInWith(input: {}) { viewer { sessionToken } } }"}`, true, login},
		{"GraphQL signUp", `{"query":"mutation { signUp(input: {}) { viewer { sessionToken } } }"}`, true, login},
		{"GraphQL query", `{"query":"{ viewer { sessionToken } }"}`, true, scan},
		{"batch login", `{"requests":[{"method":"GET","path":"/parse/classes/Note"},{"method":"POST","path":"/PARSE/login"}]}`, false, login},
		{"batch signup without the mount", `{"requests":[{"method":"post","path":"/users"}]}`, false, login},
		{"batch password change", `{"requests":[{"method":"PUT","path":"/parse/users/abc"}]}`, false, follow},
		{"batch objects", `{"requests":[{"method":"POST","path":"/parse/classes/Note"}]}`, false, scan},
		{"batch loginAs", `{"requests":[{"method":"POST","path":"/parse/login"},{"method":"POST","path":"/parse/loginAs"}]}`, false, refused},
		{"batch verifyPassword", `{"requests":[{"method":"GET","path":"/parse/verifyPassword"}]}`, false, refused},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/x", strings.NewReader(c.body))
		q, err := readRequest(r, 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		got := batchKind(q, "/parse")
		if c.gql {
			got = graphQLKind(q)
		}
		if got != c.want {
			t.Errorf("%s: kind %d, want %d", c.name, got, c.want)
		}
	}
}
