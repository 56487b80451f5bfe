package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/internal/parsefake"
)

// TestParseTokensByValue: a token the gateway did not release is removed
// from any answer, whatever the key, nesting or spelling, in object
// queries that stream; a released one passes; a cloud function's newly
// minted token is removed and its session ended at the app.
func TestParseTokensByValue(t *testing.T) {
	e := newParseEnv(t, nil)
	_, _, good := e.enrollTOTP("alice", "alice-pw")
	stolen := e.fake.Mint("bob")
	esc := `\u0072` + stolen[1:]
	body := fmt.Sprintf(`{"note":"token: %s.","mine":%q,"deep":{"list":[{"x":%q}]},"e":"%s","k":{%q:1}}`, stolen, good, stolen, esc, stolen)
	if a := e.rest("POST", "/parse/classes/Echo", body, good); a.status != 201 {
		t.Fatalf("save: %d %s", a.status, a.raw)
	}
	for _, path := range []string{"/parse/classes/Echo", "/PARSE//classes/echo/"} {
		a := e.rest("GET", path, "", good)
		if a.status != 200 || !json.Valid(a.raw) {
			t.Fatalf("%s: %d %s", path, a.status, a.raw)
		}
		if bytes.Contains(bytes.ToLower(a.raw), []byte(stolen[2:])) || !bytes.Contains(a.raw, []byte(good)) {
			t.Errorf("%s: %s", path, a.raw)
		}
		if cl := a.header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(a.raw)) {
			t.Errorf("Content-Length %s for %d bytes", cl, len(a.raw))
		}
	}
	// A cloud function that logs a user in: the new token is removed and
	// its session ended at the app; the stolen one in its answer too.
	before := e.fake.Sessions("b0b0002")
	a := e.rest("POST", "/parse/functions/echo", `{"login":"bob"}`, good)
	e.srv.WaitBackground()
	if a.status != 200 || tokenIn(a.raw) {
		t.Fatalf("function: %d %s", a.status, a.raw)
	}
	if n := e.fake.Sessions("b0b0002"); n != before {
		t.Errorf("bob has %d sessions at the app after the function, want %d", n, before)
	}
	// A held login's token in a function's answer is removed, but that
	// login is not ended: it still completes.
	ch := e.expectChallenge(e.login("alice", "alice-pw"))
	h, _ := e.srv.Ephemeral().Held(context.Background(), ch)
	held := h.Session["sessionToken"]
	a = e.rest("POST", "/parse/functions/echo", `{"x":"`+held+`"}`, good)
	e.srv.WaitBackground()
	if a.status != 200 || strings.Contains(string(a.raw), held) || !e.fake.Live(held) {
		t.Fatalf("held token in a function's answer: %d %s (live %v)", a.status, a.raw, e.fake.Live(held))
	}
}

// tokenIn reports a revocable token shape in an answer.
func tokenIn(b []byte) bool {
	return len(findTokenShapes(b)) > 0
}

func findTokenShapes(b []byte) []string {
	var out []string
	s := strings.ToLower(string(b))
	for i := strings.Index(s, "r:"); i >= 0 && i+34 <= len(s); {
		ok := true
		for _, c := range s[i+2 : i+34] {
			if !strings.ContainsRune("0123456789abcdef", c) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s[i:i+34])
		}
		j := strings.Index(s[i+2:], "r:")
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return out
}

// TestParseGraphQLPrefix: GraphQL below the configured path and in any
// case is GraphQL: logins there are held (also multipart and aliased), and
// two logins in one request are refused with both sessions ended.
func TestParseGraphQLPrefix(t *testing.T) {
	e := newParseEnv(t, nil)
	app := []string{"X-Parse-Application-Id", parsefake.AppID}
	login := `{"query":"mutation { a: logIn(input: {}) { viewer { t: sessionToken } } }","variables":{"username":"alice","password":"alice-pw"}}`
	for _, p := range []string{"/graphql", "/graphql/x", "/GRAPHQL/x", "/graphql//a/b/"} {
		a := e.call("POST", p, "application/json", login, app...)
		e.expectChallenge(a)
		h, err := e.srv.Ephemeral().Held(context.Background(), a.str("challenge"))
		if err != nil || h.User != "aLiCe01" {
			t.Fatalf("%s: held login of %q (%v)", p, h.User, err)
		}
	}
	// The user is asked of Parse the way the client named its app: here
	// the body's app id behind a header naming another app.
	noid := fmt.Sprintf(`{"_ApplicationId":%q,"query":"mutation noid { logIn(input: {}) { viewer { t: sessionToken } } }","variables":{"username":"alice","password":"alice-pw"}}`, parsefake.AppID)
	a := e.call("POST", "/graphql/y", "text/plain", noid, "X-Parse-Application-Id", "other-app")
	e.expectChallenge(a)
	if h, err := e.srv.Ephemeral().Held(context.Background(), a.str("challenge")); err != nil || h.User != "aLiCe01" {
		t.Fatalf("GraphQL login named by the body: held login of %q (%v)", h.User, err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("operations", `{"query":"mutation { a: logIn(input: {}) { viewer { t: sessionToken } } }","variables":{"username":"alice","password":"alice-pw"}}`)
	mw.WriteField("map", "{}")
	mw.Close()
	e.expectChallenge(e.call("POST", "/graphql/upload", mw.FormDataContentType(), buf.String(), app...))

	before := e.fake.Sessions("aLiCe01")
	two := `{"query":"mutation { a: logIn(input: {}) { viewer { sessionToken } } b: logIn(input: {}) { viewer { sessionToken } } }","variables":{"username":"alice","password":"alice-pw"}}`
	a = e.call("POST", "/graphql/x", "application/json", two, app...)
	e.srv.WaitBackground()
	if a.status != 400 || tokenIn(a.raw) {
		t.Fatalf("two logins: %d %s", a.status, a.raw)
	}
	if n := e.fake.Sessions("aLiCe01"); n != before {
		t.Errorf("alice has %d sessions after a refused double login, want %d", n, before)
	}
}

// TestParseSessionsEndedWithAppKeys: refused and abandoned sessions are
// ended at the app whatever way the client named its app.
func TestParseSessionsEndedWithAppKeys(t *testing.T) {
	e := newParseEnv(t, func(c *config.Config) { c.Regulation.User.MaxFailures, c.Regulation.IP.MaxFailures = 0, 0 })
	e.enrollTOTP("alice", "alice-pw")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(parsefake.AppID+":javascript-key=js"))
	body := `{"username":"alice","password":"alice-pw"}`
	jsBody := fmt.Sprintf(`{"username":"alice","password":"alice-pw","_ApplicationId":%q,"_JavaScriptKey":"js"}`, parsefake.AppID)
	cases := []struct {
		name, ctype, body string
		hdr               []string
		end               string // how the held login ends
	}{
		{"basic auth, attempts run out", "application/json", body, []string{"Authorization", basic}, "attempts"},
		{"basic auth, expired", "application/json", body, []string{"Authorization", basic}, "expiry"},
		{"body behind a wrong header, attempts run out", "text/plain", jsBody, []string{"X-Parse-Application-Id", "other-app"}, "attempts"},
		{"body behind a wrong header, expired", "text/plain", jsBody, []string{"X-Parse-Application-Id", "other-app"}, "expiry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.fake.Sessions("aLiCe01")
			ch := e.expectChallenge(e.call("POST", "/parse/login", c.ctype, c.body, c.hdr...))
			if n := e.fake.Sessions("aLiCe01"); n != before+1 {
				t.Fatalf("premise: the held login is a session (%d, was %d)", n, before)
			}
			switch c.end {
			case "attempts":
				for i := 0; i < 5; i++ {
					e.api("verify", map[string]any{"challenge": ch, "code": "000000"})
				}
			case "expiry":
				e.clock.Advance(6 * time.Minute)
				e.srv.Sweep(context.Background())
			}
			if n := e.fake.Sessions("aLiCe01"); n != before {
				t.Errorf("%d sessions at the app after the login ended, want %d", n, before)
			}
		})
	}
	// A batch with two logins is refused as a whole, both sessions ended.
	before := e.fake.Sessions("aLiCe01") + e.fake.Sessions("b0b0002")
	a := e.call("POST", "/parse/batch", "application/json",
		`{"requests":[{"method":"POST","path":"/parse/login","body":{"username":"alice","password":"alice-pw"}},{"method":"POST","path":"/parse/login","body":{"username":"bob","password":"bob-pw"}}]}`,
		"Authorization", basic)
	e.srv.WaitBackground()
	if a.status != 400 || tokenIn(a.raw) {
		t.Fatalf("batch: %d %s", a.status, a.raw)
	}
	if n := e.fake.Sessions("aLiCe01") + e.fake.Sessions("b0b0002"); n != before {
		t.Errorf("%d sessions after a refused batch, want %d", n, before)
	}
	if !strings.Contains(e.logs.String(), "event=upstream_session_revoked reason=several_logins") {
		t.Error("no audit event for the ended sessions")
	}
}

// TestParseAnonymousPolicy: anonymous logins are held by default and,
// with parse.anonymous: pass, released at once (REST and GraphQL); a
// password login is never released that way.
func TestParseAnonymousPolicy(t *testing.T) {
	anon := `{"authData":{"anonymous":{"id":"9f1c"}}}`
	e := newParseEnv(t, nil)
	e.expectChallenge(e.rest("POST", "/parse/users", anon, ""))

	p := newParseEnv(t, func(c *config.Config) { c.Parse.Anonymous = "pass" })
	a := p.rest("POST", "/parse/users", anon, "")
	tok := a.str("sessionToken")
	if a.status != 201 || tok == "" {
		t.Fatalf("anonymous with pass: %d %s", a.status, a.raw)
	}
	if n := p.rest("GET", "/parse/classes/Note", "", tok); n.status != 200 {
		t.Errorf("released anonymous token refused: %d %s", n.status, n.raw)
	}
	g := p.call("POST", "/graphql", "application/json", `{"query":"mutation { logInWith(input: {authData: $a}) { viewer { sessionToken } } }","variables":{"anonymous":"77aa"}}`,
		"X-Parse-Application-Id", parsefake.AppID)
	if g.status != 200 || !tokenIn(g.raw) {
		t.Fatalf("GraphQL anonymous with pass: %d %s", g.status, g.raw)
	}
	// A password login that mentions anonymous is still held.
	p.expectChallenge(p.call("POST", "/graphql", "application/json",
		`{"query":"mutation { logIn(input: {}) { viewer { sessionToken } } } # logInWith anonymous","variables":{"username":"alice","password":"alice-pw"}}`,
		"X-Parse-Application-Id", parsefake.AppID))
	p.expectChallenge(p.rest("POST", "/parse/users", `{"username":"zed","password":"pw","authData":{"anonymous":{"id":"1"}}}`, ""))
}

// TestParseUnimportedMFAUser: a user still enrolled in Parse's own mfa
// adapter gets a Parse-shaped answer that says what to do, not a bare -1.
func TestParseUnimportedMFAUser(t *testing.T) {
	e := newParseEnv(t, nil)
	e.fake.Add(parsefake.User{ID: "mfa0001", Username: "mia", Password: "mia-pw", ParseMFA: true})
	a := e.login("mia", "mia-pw")
	if a.status != 400 || a.code() != -1 || a.str("reason") != "mfa_import_required" || !strings.Contains(a.str("error"), "vestibule parse import-mfa") {
		t.Fatalf("got %d %s", a.status, a.raw)
	}
	if !strings.Contains(e.logs.String(), "event=mfa_import_required username=mia") {
		t.Error("no audit event")
	}
	// Beside another login that succeeds, the answer is still held: the
	// message never lets a token through.
	b := e.rest("POST", "/parse/batch", `{"requests":[{"method":"POST","path":"/parse/login","body":{"username":"mia","password":"mia-pw"}},{"method":"POST","path":"/parse/login","body":{"username":"alice","password":"alice-pw"}}]}`, "")
	e.expectChallenge(b)
	// In a batch alone, the message is replaced in place.
	b = e.rest("POST", "/parse/batch", `{"requests":[{"method":"POST","path":"/parse/login","body":{"username":"mia","password":"mia-pw"}}]}`, "")
	if b.status != 200 || !strings.Contains(string(b.raw), "import-mfa") || tokenIn(b.raw) {
		t.Errorf("batch: %d %s", b.status, b.raw)
	}
}

// TestParseChallengeShape: "methods" is a list even when empty, and the
// pages name the user by the Parse username (from the login answer, or
// asked of Parse for a GraphQL login), not the objectId.
func TestParseChallengeShape(t *testing.T) {
	e := newParseEnv(t, nil)
	a := e.login("alice", "alice-pw")
	e.expectChallenge(a)
	if !bytes.Contains(a.raw, []byte(`"methods":[]`)) {
		t.Errorf("methods of an unenrolled user: %s", a.raw)
	}
	g := e.call("POST", "/graphql", "application/json", `{"query":"mutation noid { logIn(input: {}) { viewer { t: sessionToken } } }","variables":{"username":"alice","password":"alice-pw"}}`,
		"X-Parse-Application-Id", parsefake.AppID)
	for _, ans := range []answer{a, g} {
		e.expectChallenge(ans)
		benv := &env{t: t, gw: e.gw, clock: e.clock}
		b := benv.browser()
		u := ans.str("url")
		p := b.get(u[strings.Index(u, "/.vestibule/"):])
		for i := 0; i < 3 && p.status == 303; i++ {
			p = b.get(location(p))
		}
		if p.status != 200 || !strings.Contains(p.body, "<strong>alice</strong>") || strings.Contains(p.body, "aLiCe01") {
			t.Errorf("page: %d %.600s", p.status, p.body)
		}
	}
}
