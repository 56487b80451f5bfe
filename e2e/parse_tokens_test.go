package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"

	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/vestibule-gw/vestibule/cli"
	"github.com/vestibule-gw/vestibule/server"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/factor"
)

// tokenShape finds revocable Parse session tokens in raw answers.
var tokenShape = regexp.MustCompile(`(?i)r:[0-9a-f]{32}`)

// parseEnv13 is a real Parse Server (GraphQL mounted) with the gateway in
// front, configured as examples/parse-server.yaml: the master key is only
// accepted from 10.0.0.0/8, so never from these tests' 127.0.0.1.
type parseEnv13 struct {
	t              *testing.T
	parseURL, root string
	master, gw     string
}

func newParseEnv13(t *testing.T) *parseEnv13 {
	parseURL, master := startParseServerKey(t)
	root := strings.TrimSuffix(parseURL, "/parse")
	gw := exampleGateway(t, "parse-server.yaml", func(cfg *config.Config, gwURL string) {
		cfg.PublicURL = gwURL
		cfg.Upstream.URL = root
		cfg.SMS.Enabled = false
		cfg.Regulation.User.MaxFailures, cfg.Regulation.IP.MaxFailures = 0, 0
	})
	return &parseEnv13{t: t, parseURL: parseURL, root: root, master: master, gw: gw}
}

// do sends one request; hdr are name, value pairs.
func (e *parseEnv13) do(method, u, ctype, body string, hdr ...string) (int, map[string]any, string) {
	e.t.Helper()
	return parseCall(e.t, method, u, ctype, body, hdr...)
}

// asMaster calls Parse directly with the master key.
func (e *parseEnv13) asMaster(method, path, body string) (int, map[string]any, string) {
	e.t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return e.do(method, e.parseURL+path, ct, body, "X-Parse-Application-Id", "e2eapp", "X-Parse-Master-Key", e.master)
}

// sessions counts the user's sessions at Parse (the master key reads _Session).
func (e *parseEnv13) sessions(userID string) int {
	e.t.Helper()
	where := url.QueryEscape(fmt.Sprintf(`{"user":{"__type":"Pointer","className":"_User","objectId":%q}}`, userID))
	st, m, raw := e.asMaster("GET", "/classes/_Session?count=1&limit=0&where="+where, "")
	if st != 200 {
		e.t.Fatalf("counting sessions: %d %s", st, raw)
	}
	return int(m["count"].(float64))
}

// sessionsBecome waits (the gateway ends refused sessions in the
// background) until the user has n sessions at Parse.
func (e *parseEnv13) sessionsBecome(what, userID string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := e.sessions(userID)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %d sessions live at Parse, want %d", what, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gql posts a GraphQL request; path is relative to the gateway or Parse root.
func (e *parseEnv13) gql(base, path, query string, vars map[string]any, hdr ...string) (int, map[string]any, string) {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return e.do("POST", base+path, "application/json", string(b), append([]string{"X-Parse-Application-Id", "e2eapp"}, hdr...)...)
}

// multipartGQL posts a GraphQL request the multipart (upload) way.
func (e *parseEnv13) multipartGQL(base, path, query string, vars map[string]any) (int, map[string]any, string) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	mw.WriteField("operations", string(ops))
	mw.WriteField("map", "{}")
	mw.Close()
	return e.do("POST", base+path, mw.FormDataContentType(), buf.String(),
		"X-Parse-Application-Id", "e2eapp", "Apollo-Require-Preflight", "true")
}

// expectHeld checks a held login's challenge, without any token.
func (e *parseEnv13) expectHeld(what string, st int, m map[string]any, raw string) string {
	e.t.Helper()
	if st != 400 || m["challenge"] == nil || tokenShape.MatchString(raw) {
		e.t.Fatalf("%s: want a held login, got %d %s", what, st, raw)
	}
	return m["challenge"].(string)
}

// enroll signs a user up at Parse directly, enrolls TOTP through the
// gateway and returns the user's id, secret and released token.
func (e *parseEnv13) enroll(user, pass string) (string, string, string) {
	e.t.Helper()
	app := []string{"X-Parse-Application-Id", "e2eapp"}
	if st, _, raw := e.do("POST", e.parseURL+"/users", "application/json", fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass), app...); st != 201 {
		e.t.Fatalf("signup at Parse: %d %s", st, raw)
	}
	st, m, raw := e.do("POST", e.gw+"/parse/login", "application/json", fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass), app...)
	ch := e.expectHeld("login", st, m, raw)
	_, en, _ := e.do("POST", e.gw+"/.vestibule/api/enroll/totp", "application/json", `{"challenge":"`+ch+`"}`)
	secret, _ := en["secret"].(string)
	c := code(e.t, secret, factor.DefaultTOTP().Step(time.Now()))
	if st, _, raw := e.do("POST", e.gw+"/.vestibule/api/enroll/confirm", "application/json", `{"challenge":"`+ch+`","code":"`+c+`"}`); st != 200 {
		e.t.Fatalf("confirm: %d %s", st, raw)
	}
	_, rel, raw := e.do("POST", e.gw+"/.vestibule/api/verify", "application/json", `{"challenge":"`+ch+`"}`)
	tok, _ := rel["sessionToken"].(string)
	id, _ := rel["objectId"].(string)
	if tok == "" || id == "" {
		e.t.Fatalf("release: %s", raw)
	}
	return id, secret, tok
}

// exhaust spends a held login's attempts with wrong codes.
func (e *parseEnv13) exhaust(ch string) {
	e.t.Helper()
	var st int
	var raw string
	for i := 0; i < 5; i++ {
		st, _, raw = e.do("POST", e.gw+"/.vestibule/api/verify", "application/json", `{"challenge":"`+ch+`","code":"000000"}`)
	}
	if st != http.StatusTooManyRequests {
		e.t.Fatalf("5th wrong code: %d %s", st, raw)
	}
}

// TestParseServerGraphQLTokens: against the real Parse Server, every
// GraphQL operation that mints a token (logIn, signUp, logInWith, anonymous
// too), plain, with aliases and with fragments, at the configured path and
// at the sub-path and case variants Express routes to GraphQL, plain and
// multipart, is held without its token; a released token's sessions query
// shows no other token.
func TestParseServerGraphQLTokens(t *testing.T) {
	e := newParseEnv13(t)
	userID, _, released := e.enroll("gus", "gus-pw")

	// Premises: Express routes the variants to GraphQL, and Parse answers
	// an aliased logIn with a live token.
	for _, p := range []string{"/graphql/x", "/GRAPHQL/x", "/graphql/a/b"} {
		if st, _, raw := e.gql(e.root, p, `{ health }`, nil); st != 200 || !strings.Contains(raw, `"health":true`) {
			t.Fatalf("premise: Parse answers GraphQL at %s: %d %s", p, st, raw)
		}
	}
	login := map[string]any{"input": map[string]any{"username": "gus", "password": "gus-pw"}}
	if _, _, raw := e.gql(e.root, "/graphql/x", `mutation L($input: LogInInput!) { a: logIn(input: $input) { v: viewer { t: sessionToken } } }`, login); !tokenShape.MatchString(raw) {
		t.Fatalf("premise: an aliased logIn answers a token: %s", raw)
	}

	n := 0
	ops := []struct {
		name, query string
		vars        func() map[string]any
	}{
		{"logIn", `mutation L($input: LogInInput!) { logIn(input: $input) { viewer { sessionToken user { objectId } } } }`, func() map[string]any { return login }},
		{"logIn aliased", `mutation L($input: LogInInput!) { a: logIn(input: $input) { v: viewer { t: sessionToken u: user { i: objectId } } } }`, func() map[string]any { return login }},
		{"logIn fragment", `mutation L($input: LogInInput!) { logIn(input: $input) { ...P } } fragment P on LogInPayload { viewer { tok: sessionToken } }`, func() map[string]any { return login }},
		{"signUp aliased", `mutation S($input: SignUpInput!) { s: signUp(input: $input) { v: viewer { t: sessionToken } } }`, func() map[string]any {
			n++
			return map[string]any{"input": map[string]any{"fields": map[string]any{"username": fmt.Sprintf("new%d", n), "password": "pw"}}}
		}},
		{"signUp fragment", `mutation S($input: SignUpInput!) { signUp(input: $input) { ...V } } fragment V on SignUpPayload { viewer { x: sessionToken } }`, func() map[string]any {
			n++
			return map[string]any{"input": map[string]any{"fields": map[string]any{"username": fmt.Sprintf("new%d", n), "password": "pw"}}}
		}},
		{"logInWith anonymous aliased", `mutation W($input: LogInWithInput!) { w: logInWith(input: $input) { v: viewer { t: sessionToken } } }`, func() map[string]any {
			n++
			return map[string]any{"input": map[string]any{"authData": map[string]any{"anonymous": map[string]any{"id": fmt.Sprintf("0b6b5f6e-8a2c-4d1e-9c7f-%012d", n)}}}}
		}},
	}
	for _, path := range []string{"/graphql", "/graphql/x", "/GRAPHQL/x", "/graphql/a/b", "/Graphql//", "/gr%61phql/x"} {
		for _, op := range ops {
			st, m, raw := e.gql(e.gw, path, op.query, op.vars())
			if strings.Contains(path, "%") && st == 404 && !tokenShape.MatchString(raw) {
				// Express does not decode before routing: not GraphQL at
				// Parse, but treated as GraphQL by the gateway all the same.
				continue
			}
			e.expectHeld(op.name+" at "+path, st, m, raw)
		}
	}
	// Multipart (the GraphQL upload form): held as well.
	st, m, raw := e.multipartGQL(e.gw, "/graphql/up", `mutation L($input: LogInInput!) { a: logIn(input: $input) { v: viewer { t: sessionToken } } }`, login)
	e.expectHeld("multipart logIn", st, m, raw)

	// A released token's sessions query (aliased, at a sub-path) shows
	// only that token, though Parse lists every held one.
	q := `{ s: sessions { edges { node { t: sessionToken } } } }`
	_, _, direct := e.gql(e.root, "/graphql", q, nil, "X-Parse-Session-Token", released)
	if len(tokenShape.FindAllString(direct, -1)) < 3 {
		t.Fatalf("premise: Parse lists the held sessions' tokens: %s", direct)
	}
	for _, path := range []string{"/graphql", "/GRAPHQL/sub"} {
		st, _, raw := e.gql(e.gw, path, q, nil, "X-Parse-Session-Token", released)
		if found := tokenShape.FindAllString(raw, -1); st != 200 || len(found) != 1 || found[0] != released {
			t.Fatalf("sessions query at %s: %d %s", path, st, raw)
		}
	}

	// Two logins in one GraphQL request: refused, and both sessions ended
	// at Parse; plain and multipart.
	two := `mutation L($input: LogInInput!) { a: logIn(input: $input) { viewer { sessionToken } } b: logIn(input: $input) { viewer { sessionToken } } }`
	before := e.sessions(userID)
	st, _, raw = e.gql(e.gw, "/graphql/x", two, login)
	if st != 400 || tokenShape.MatchString(raw) {
		t.Fatalf("two GraphQL logins: %d %s", st, raw)
	}
	e.sessionsBecome("two GraphQL logins", userID, before)
	st, _, raw = e.multipartGQL(e.gw, "/graphql", two, login)
	if st != 400 || tokenShape.MatchString(raw) {
		t.Fatalf("two multipart GraphQL logins: %d %s", st, raw)
	}
	e.sessionsBecome("two multipart GraphQL logins", userID, before)

	// parse.anonymous: pass releases anonymous-only logins at once (Parse
	// confirms the user's only authData is anonymous), REST and GraphQL;
	// a password login is still held.
	gw3 := exampleGateway(t, "parse-server.yaml", func(cfg *config.Config, gwURL string) {
		cfg.PublicURL = gwURL
		cfg.Upstream.URL = e.root
		cfg.SMS.Enabled = false
		cfg.Parse.Anonymous = "pass"
	})
	st, m, raw = e.do("POST", gw3+"/parse/users", "application/json", `{"authData":{"anonymous":{"id":"5d0c3c49-2f9e-4f55-9a55-6f0e6a1f0001"}}}`, "X-Parse-Application-Id", "e2eapp")
	anonTok, _ := m["sessionToken"].(string)
	if st != 201 || anonTok == "" {
		t.Fatalf("anonymous login with pass: %d %s", st, raw)
	}
	if st, _, raw := e.do("GET", gw3+"/parse/users/me", "", "", "X-Parse-Application-Id", "e2eapp", "X-Parse-Session-Token", anonTok); st != 200 {
		t.Fatalf("released anonymous token: %d %s", st, raw)
	}
	anonVars := map[string]any{"input": map[string]any{"authData": map[string]any{"anonymous": map[string]any{"id": "5d0c3c49-2f9e-4f55-9a55-6f0e6a1f0002"}}}}
	if st, _, raw := e.gql(gw3, "/graphql", `mutation W($input: LogInWithInput!) { w: logInWith(input: $input) { v: viewer { t: sessionToken } } }`, anonVars); st != 200 || !tokenShape.MatchString(raw) {
		t.Fatalf("GraphQL anonymous login with pass: %d %s", st, raw)
	}
	st, m, raw = e.gql(gw3, "/graphql", ops[0].query, login)
	e.expectHeld("password login with anonymous: pass", st, m, raw)
}

// TestParseServerMasterKeyVariants: against the real Parse Server, a
// master-only object can't be read through the gateway from an address
// outside master_key_from, whatever the path variant (mount and GraphQL,
// sub-paths, case, slashes, percent-encoding, outside both) and whatever
// way the key is sent (header, maintenance header, basic auth padded or
// not, body _MasterKey, batch).
func TestParseServerMasterKeyVariants(t *testing.T) {
	e := newParseEnv13(t)
	if st, _, raw := e.asMaster("POST", "/schemas/Secret", `{"className":"Secret","classLevelPermissions":{"find":{},"count":{},"get":{},"create":{},"update":{},"delete":{},"addField":{},"protectedFields":{}}}`); st != 200 {
		t.Fatalf("schema: %d %s", st, raw)
	}
	if st, _, raw := e.asMaster("POST", "/classes/Secret", `{"v":"hidden-value"}`); st != 201 {
		t.Fatalf("object: %d %s", st, raw)
	}
	if st, _, raw := e.do("GET", e.parseURL+"/classes/Secret", "", "", "X-Parse-Application-Id", "e2eapp"); strings.Contains(raw, "hidden-value") {
		t.Fatalf("premise: the class is master-only: %d %s", st, raw)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	app := []string{"X-Parse-Application-Id", "e2eapp"}
	hdr := append(append([]string(nil), app...), "X-Parse-Master-Key", e.master)
	gqlBody := `{"query":"{ secrets { count } }"}`
	jsBody := fmt.Sprintf(`{"_method":"GET","_ApplicationId":"e2eapp","_MasterKey":%q}`, e.master)
	cases := []struct {
		name, method, path, ctype, body string
		hdr                             []string
	}{
		{"header", "GET", "/parse/classes/Secret", "", "", hdr},
		{"header, case and slashes", "GET", "/PARSE//classes/Secret/", "", "", hdr},
		{"header, percent-encoded", "GET", "/p%61rse/classes/Secret", "", "", hdr},
		{"maintenance key", "GET", "/parse/classes/Secret", "", "", append(append([]string(nil), app...), "X-Parse-Maintenance-Key", e.master)},
		{"basic", "GET", "/parse/classes/Secret", "", "", []string{"Authorization", "Basic " + b64("e2eapp:"+e.master)}},
		{"basic without padding", "GET", "/parse/classes/Secret", "", "", []string{"Authorization", "basic " + strings.TrimRight(b64("e2eapp:"+e.master), "=")}},
		{"body _MasterKey", "POST", "/parse/classes/Secret", "text/plain", jsBody, nil},
		{"batch", "POST", "/parse/batch", "application/json", `{"requests":[{"method":"GET","path":"/parse/classes/Secret"}]}`, hdr},
		{"GraphQL", "POST", "/graphql", "application/json", gqlBody, hdr},
		{"GraphQL sub-path", "POST", "/graphql/x", "application/json", gqlBody, hdr},
		{"GraphQL case", "POST", "/GRAPHQL/x", "application/json", gqlBody, hdr},
		{"GraphQL deeper", "POST", "/graphql/a/b", "application/json", gqlBody, hdr},
		{"outside the mount", "GET", "/health", "", "", hdr},
	}
	// Premise: Parse itself takes each form of the key (Express does not
	// route the percent-encoded path; the gateway refuses it all the same).
	for _, c := range cases[:7] {
		if strings.Contains(c.path, "%") || c.name == "maintenance key" {
			continue // (no maintenance key is configured at Parse here)
		}
		if st, _, raw := e.do(c.method, e.root+c.path, c.ctype, c.body, c.hdr...); st != 200 || !strings.Contains(raw, "hidden-value") {
			t.Fatalf("premise %s: Parse reads the secret: %d %s", c.name, st, raw)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, m, raw := e.do(c.method, e.gw+c.path, c.ctype, c.body, c.hdr...)
			if st != 403 || m["code"] != float64(119) || strings.Contains(raw, "hidden-value") {
				t.Fatalf("got %d %s, want 403 code 119", st, raw)
			}
		})
	}
}

// TestParseServerSessionsEnded: against the real Parse Server, sessions the
// gateway refuses or abandons are ended at Parse whatever way the client
// named its app: held logins whose attempts ran out (app id in HTTP basic
// auth; in a JS SDK body behind a wrong header), and a signed-in user's
// creating another user.
func TestParseServerSessionsEnded(t *testing.T) {
	e := newParseEnv13(t)
	userID, _, released := e.enroll("ida", "ida-pw")
	body := `{"username":"ida","password":"ida-pw"}`
	cases := []struct {
		name, ctype, body string
		hdr               []string
	}{
		{"app id in basic auth", "application/json", body, []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("e2eapp:javascript-key=js"))}},
		{"app id in the body, wrong header", "text/plain", `{"username":"ida","password":"ida-pw","_ApplicationId":"e2eapp","_JavaScriptKey":"js"}`, []string{"X-Parse-Application-Id", "not-the-app"}},
		{"app id header", "application/json", body, []string{"X-Parse-Application-Id", "e2eapp"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.sessions(userID)
			st, m, raw := e.do("POST", e.gw+"/parse/login", c.ctype, c.body, c.hdr...)
			ch := e.expectHeld(c.name, st, m, raw)
			if got := e.sessions(userID); got != before+1 {
				t.Fatalf("premise: the held login is a session at Parse (%d, was %d)", got, before)
			}
			e.exhaust(ch)
			e.sessionsBecome("attempts exhausted", userID, before)
		})
	}
	// A signed-in user creates another: the new user's session is ended.
	st, m, raw := e.do("POST", e.gw+"/parse/users", "application/json", `{"username":"newbie","password":"pw"}`,
		"X-Parse-Application-Id", "e2eapp", "X-Parse-Session-Token", released)
	newID, _ := m["objectId"].(string)
	if st != 201 || newID == "" || tokenShape.MatchString(raw) {
		t.Fatalf("user created by a signed-in user: %d %s", st, raw)
	}
	e.sessionsBecome("created user", newID, 0)

	// A held login that expires (basic auth names the app), and one whose
	// user earns a ban, on a gateway with a clock the test moves.
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	gw2, srv := exampleGatewayServer(t, "parse-server.yaml", func(cfg *config.Config, gwURL string) {
		cfg.PublicURL = gwURL
		cfg.Upstream.URL = e.root
		cfg.SMS.Enabled = false
		cfg.Regulation.User.MaxFailures = 2
	}, server.Deps{Now: now})
	before := e.sessions(userID)
	st, m, raw = e.do("POST", gw2+"/parse/login", "application/json", body, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("e2eapp:javascript-key=js")))
	e.expectHeld("login to expire", st, m, raw)
	offset.Store(int64(10 * time.Minute))
	if n := srv.Sweep(context.Background()); n != 1 {
		t.Fatalf("swept %d held logins", n)
	}
	e.sessionsBecome("expired held login", userID, before)
	st, m, raw = e.do("POST", gw2+"/parse/login", "application/json", body, "X-Parse-Application-Id", "e2eapp")
	ch := e.expectHeld("login to be banned", st, m, raw)
	var answers []string
	// The user has no second factor: each code is still a failure, and the
	// second one reaches regulation.user.max_failures (2).
	for i := 0; i < 2; i++ {
		_, _, raw := e.do("POST", gw2+"/.vestibule/api/verify", "application/json", `{"challenge":"`+ch+`","code":"000000"}`)
		answers = append(answers, raw)
	}
	if !strings.Contains(answers[0], "enrollment_required") || !strings.Contains(answers[1], "too_many_attempts") {
		t.Fatalf("wrong codes until a ban: %v", answers)
	}
	e.sessionsBecome("banned user's held login", userID, before)
}

// TestParseServerImportMFA: a user enrolled in the real Parse Server's own
// mfa adapter (TOTP) gets a clear answer through the gateway until
// `vestibule parse import-mfa` moves them; then they sign in through the
// gateway with the same authenticator, and Parse no longer holds the
// adapter's data.
func TestParseServerImportMFA(t *testing.T) {
	parseURL, master := startParseServerKey(t, `PARSE_SERVER_AUTH_PROVIDERS={"mfa":{"enabled":true,"options":["TOTP"]}}`,
		"PARSE_SERVER_DIRECT_ACCESS=false") // (its in-process routing fails with this install's router)
	root := strings.TrimSuffix(parseURL, "/parse")
	var gwCfg *config.Config
	gw := exampleGateway(t, "parse-server.yaml", func(cfg *config.Config, gwURL string) {
		cfg.PublicURL = gwURL
		cfg.Upstream.URL = root
		cfg.SMS.Enabled = false
		gwCfg = cfg
	})
	e := &parseEnv13{t: t, parseURL: parseURL, root: root, master: master, gw: gw}
	app := []string{"X-Parse-Application-Id", "e2eapp"}
	st, m, raw := e.do("POST", parseURL+"/users", "application/json", `{"username":"tom","password":"tom-pw"}`, app...)
	if st != 201 {
		t.Fatalf("signup: %d %s", st, raw)
	}
	id, tok := m["objectId"].(string), m["sessionToken"].(string)
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := factor.DefaultTOTP().Step(time.Now())
	setup := fmt.Sprintf(`{"authData":{"mfa":{"secret":%q,"token":%q}}}`, secret, code(t, secret, now))
	if st, _, raw := e.do("PUT", parseURL+"/users/"+id, "application/json", setup, append(app, "X-Parse-Session-Token", tok)...); st != 200 {
		t.Fatalf("mfa setup at Parse: %d %s", st, raw)
	}
	// Premise: Parse stored the adapter's data where the import reads it.
	if _, u, raw := e.asMaster("GET", "/users/"+id, ""); !strings.Contains(raw, secret) || u["authData"] == nil {
		t.Fatalf("premise: authData.mfa holds the secret: %s", raw)
	}
	login := `{"username":"tom","password":"tom-pw"}`
	st, m, raw = e.do("POST", gw+"/parse/login", "application/json", login, app...)
	if st != 400 || m["reason"] != "mfa_import_required" || !strings.Contains(raw, "import-mfa") {
		t.Fatalf("before the import: %d %s", st, raw)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "import.yaml")
	yml := fmt.Sprintf("upstream: {url: %q}\nparse: {enabled: true, mount: /parse}\ngate: {keys: [%q]}\nsecrets: {encryption_keys: [%q]}\nstore: {sqlite: %q}\n",
		root, gwCfg.Gate.Keys[0], gwCfg.Secrets.EncryptionKeys[0], gwCfg.Store.SQLite)
	os.WriteFile(cfgPath, []byte(yml), 0o600)
	var out bytes.Buffer
	env := func(k string) (string, bool) {
		switch k {
		case "PARSE_APP_ID":
			return "e2eapp", true
		case "PARSE_MASTER_KEY":
			return master, true
		}
		return "", false
	}
	if err := cli.Run(context.Background(), []string{"parse", "import-mfa", "-config", cfgPath}, &out, io.Discard, env, nil); err != nil {
		t.Fatalf("import-mfa: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), id+" (tom): enrolled: authenticator (TOTP)") || !strings.Contains(out.String(), "imported 1, skipped 0, failed 0") {
		t.Fatalf("report:\n%s", out.String())
	}
	if _, _, raw := e.asMaster("GET", "/users/"+id, ""); strings.Contains(raw, secret) {
		t.Fatalf("authData.mfa still at Parse: %s", raw)
	}
	// The same authenticator now signs in through the gateway (the mfa
	// adapter's protocol, unchanged for the client).
	withCode := fmt.Sprintf(`{"username":"tom","password":"tom-pw","authData":{"mfa":{"token":%q}}}`, code(t, secret, factor.DefaultTOTP().Step(time.Now())+1))
	st, m, raw = e.do("POST", gw+"/parse/login", "application/json", withCode, app...)
	if st != 200 || m["sessionToken"] == nil {
		t.Fatalf("login after the import: %d %s", st, raw)
	}
}

// TestParseServerBatchLogins: against the real Parse Server, a /batch that
// carries one login is held like a login; one that carries two is refused
// as a whole and both sessions it made are ended at Parse; no token of
// either reaches the client.
func TestParseServerBatchLogins(t *testing.T) {
	e := newParseEnv13(t)
	idaID, _, _ := e.enroll("ida", "ida-pw")
	joID, _, _ := e.enroll("jo", "jo-pw")
	login := func(user, pass string) string {
		return fmt.Sprintf(`{"method":"POST","path":"/parse/login","body":{"username":%q,"password":%q}}`, user, pass)
	}
	// Control: Parse itself answers batch logins with session tokens.
	st, _, raw := e.do("POST", e.parseURL+"/batch", "application/json", `{"requests":[`+login("ida", "ida-pw")+`]}`, "X-Parse-Application-Id", "e2eapp")
	if st != 200 || !tokenShape.MatchString(raw) {
		t.Fatalf("control: Parse's own batch login: %d %.300s", st, raw)
	}
	idaBefore, joBefore := e.sessions(idaID), e.sessions(joID)

	st, m, raw := e.do("POST", e.gw+"/parse/batch", "application/json", `{"requests":[`+login("ida", "ida-pw")+`]}`, "X-Parse-Application-Id", "e2eapp")
	e.expectHeld("batch with one login", st, m, raw)

	st, _, raw = e.do("POST", e.gw+"/parse/batch", "application/json", `{"requests":[`+login("ida", "ida-pw")+`,`+login("jo", "jo-pw")+`]}`, "X-Parse-Application-Id", "e2eapp")
	if st == 200 || tokenShape.MatchString(raw) {
		t.Fatalf("batch with two logins: %d %.300s", st, raw)
	}
	// The one-login batch is held (one session of ida's live at Parse);
	// the two-login batch's sessions are ended.
	e.sessionsBecome("batch with two logins (ida)", idaID, idaBefore+1)
	e.sessionsBecome("batch with two logins (jo)", joID, joBefore)
}
