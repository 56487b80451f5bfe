package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/internal/parsefake"
	"github.com/vestibule-gw/vestibule/internal/testsvc"
)

// parseEnv is a gateway in Parse mode in front of the fake Parse Server.
type parseEnv struct {
	t     *testing.T
	fake  *parsefake.Server
	gw    *httptest.Server
	srv   *Server
	clock *clock
	logs  *logBuffer
	sms   *fakeTwilio
	cfg   *config.Config
}

const parseConfig = `
listen: 127.0.0.1:0
public_url: http://127.0.0.1
app_name: Test App
upstream:
  url: %s
parse:
  enabled: true
  graphql_path: /graphql
  phone_field: phone
gate:
  keys: ["%s"]
secrets:
  encryption_keys: ["%s"]
store:
  sqlite: %s
`

func newParseEnv(t *testing.T, mutate func(*config.Config)) *parseEnv {
	t.Helper()
	e := &parseEnv{t: t, clock: &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}, logs: &logBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", e.logs.String())
		}
	})
	e.fake = parsefake.New(
		parsefake.User{ID: "aLiCe01", Username: "alice", Password: "alice-pw", Phone: "+44 7400 123456"},
		parsefake.User{ID: "b0b0002", Username: "bob", Password: "bob-pw"},
	)
	app := httptest.NewServer(e.fake)
	t.Cleanup(app.Close)
	e.sms = newFakeTwilio(t)
	yml := fmt.Sprintf(parseConfig, app.URL, key32(), testEncKey, filepath.Join(t.TempDir(), "v.db"))
	cfg, err := config.Parse([]byte(yml), "parse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SMS.Enabled = true
	cfg.SMS.Sender = "twilio"
	cfg.SMS.BaseURL = e.sms.srv.URL
	cfg.SMS.Twilio.AccountSID, cfg.SMS.Twilio.AuthToken, cfg.SMS.Twilio.From = "ACtest", "token-test", "+15005550006"
	cfg.SMS.ResendCooldown = 0
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	e.cfg = cfg
	e.srv, e.gw = startGateway(t, cfg, e.clock, e.logs)
	return e
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
	list   []any
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }
func (a answer) code() int           { f, _ := a.body["code"].(float64); return int(f) }

// call sends a request to the gateway; hdr is name, value pairs.
func (e *parseEnv) call(method, path, ctype string, body string, hdr ...string) answer {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.gw.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	a.raw, _ = io.ReadAll(resp.Body)
	if json.Unmarshal(a.raw, &a.body) != nil {
		json.Unmarshal(a.raw, &a.list)
	}
	return a
}

// rest calls the Parse REST API with the app id header (and a token).
func (e *parseEnv) rest(method, path, body, token string) answer {
	e.t.Helper()
	h := []string{"X-Parse-Application-Id", parsefake.AppID}
	if token != "" {
		h = append(h, "X-Parse-Session-Token", token)
	}
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return e.call(method, path, ct, body, h...)
}

// api calls the gateway's JSON challenge protocol.
func (e *parseEnv) api(path string, v map[string]any) answer {
	e.t.Helper()
	b, _ := json.Marshal(v)
	return e.call("POST", "/.vestibule/api/"+path, "application/json", string(b))
}

func (e *parseEnv) login(user, pass string) answer {
	e.t.Helper()
	return e.rest("POST", "/parse/login", fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass), "")
}

// expectChallenge checks a held login's Parse-shaped challenge answer and
// returns its challenge id.
func (e *parseEnv) expectChallenge(a answer) string {
	e.t.Helper()
	if a.status != http.StatusBadRequest || a.code() != -1 || a.str("challenge") == "" {
		e.t.Fatalf("want a challenge (400, code -1), got %d %s", a.status, a.raw)
	}
	if bytes.Contains(a.raw, []byte("sessionToken")) || bytes.Contains(a.raw, []byte("r:")) {
		e.t.Fatalf("a challenge leaks the held token: %s", a.raw)
	}
	return a.str("challenge")
}

func (e *parseEnv) totp(secret string, steps int64) string {
	e.t.Helper()
	t := factor.DefaultTOTP()
	c, err := t.Code(secret, t.Step(e.clock.Now())+steps)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// enrollTOTP enrolls alice through the JSON protocol and returns her
// secret, recovery codes and released token.
func (e *parseEnv) enrollTOTP(user, pass string) (secret string, codes []string, token string) {
	e.t.Helper()
	a := e.login(user, pass)
	ch := e.expectChallenge(a)
	if a.body["enroll"] != true {
		e.t.Fatalf("first login should ask to enroll: %s", a.raw)
	}
	en := e.api("enroll/totp", map[string]any{"challenge": ch})
	secret = en.str("secret")
	if en.status != 200 || secret == "" || !strings.HasPrefix(en.str("otpauthUrl"), "otpauth://totp/") || !strings.HasPrefix(en.str("qrPng"), "data:image/png;base64,") {
		e.t.Fatalf("enroll/totp: %d %s", en.status, en.raw)
	}
	if !strings.Contains(en.str("otpauthUrl"), url.PathEscape(user)) {
		e.t.Errorf("authenticator label should be the username: %s", en.str("otpauthUrl"))
	}
	cf := e.api("enroll/confirm", map[string]any{"challenge": ch, "code": e.totp(secret, 0)})
	if cf.status != 200 || cf.body["verified"] != true {
		e.t.Fatalf("enroll/confirm: %d %s", cf.status, cf.raw)
	}
	for _, c := range cf.body["recoveryCodes"].([]any) {
		codes = append(codes, c.(string))
	}
	if len(codes) != 10 {
		e.t.Fatalf("recovery codes: %v", codes)
	}
	rel := e.api("verify", map[string]any{"challenge": ch})
	token = e.expectReleased(rel, user)
	e.clock.Advance(30 * time.Second)
	return secret, codes, token
}

// expectReleased checks that a is the held Parse login answer and returns
// its token, which must be live at the app and usable through the gateway.
func (e *parseEnv) expectReleased(a answer, user string) string {
	e.t.Helper()
	tok := a.str("sessionToken")
	if a.status != 200 && a.status != 201 || tok == "" {
		e.t.Fatalf("want the released login answer, got %d %s", a.status, a.raw)
	}
	if user != "" && a.str("username") != user {
		e.t.Fatalf("released answer of %q, want %q: %s", a.str("username"), user, a.raw)
	}
	if !e.fake.Live(tok) {
		e.t.Fatal("released token is not a live session at the app")
	}
	if n := e.rest("GET", "/parse/classes/Note", "", tok); n.status != 200 || !strings.Contains(string(n.raw), "note of") {
		e.t.Fatalf("released token refused: %d %s", n.status, n.raw)
	}
	return tok
}

// seenToken reports whether the app ever saw the token.
func (e *parseEnv) seenToken(tok string) bool {
	for _, s := range e.fake.Seen() {
		if s.Token == tok {
			return true
		}
	}
	return false
}

// TestParseEnrollVerifyAndReplay: the first login enrolls over JSON; later
// logins complete with a TOTP code or a recovery code, each once.
func TestParseEnrollVerifyAndReplay(t *testing.T) {
	e := newParseEnv(t, nil)
	secret, codes, _ := e.enrollTOTP("alice", "alice-pw")

	a := e.login("alice", "alice-pw")
	ch := e.expectChallenge(a)
	if a.body["enroll"] != false || fmt.Sprint(a.body["methods"]) != "[totp sms recovery]" {
		t.Errorf("challenge fields: %s", a.raw)
	}
	// The phone (from the user's record) is masked: its end only.
	if p := a.str("phone"); !strings.HasSuffix(p, "56") || strings.Contains(strings.ReplaceAll(p, " ", ""), "740012") {
		t.Errorf("challenge phone %q", p)
	}
	if !strings.HasPrefix(a.str("url"), "http://127.0.0.1/.vestibule/parse?t=") {
		t.Errorf("challenge page url: %q", a.str("url"))
	}
	code := e.totp(secret, 0)
	wrong := e.api("verify", map[string]any{"challenge": ch, "code": "000000"})
	if wrong.status != 400 || wrong.str("reason") != "invalid_code" || wrong.body["attemptsLeft"] != float64(4) {
		t.Fatalf("wrong code: %d %s", wrong.status, wrong.raw)
	}
	e.expectReleased(e.api("verify", map[string]any{"challenge": ch, "code": code}), "alice")
	if again := e.api("verify", map[string]any{"challenge": ch, "code": code}); again.str("reason") != "challenge_expired" {
		t.Errorf("a released challenge answered again: %s", again.raw)
	}
	// The same TOTP code can't release another login.
	ch2 := e.expectChallenge(e.login("alice", "alice-pw"))
	if r := e.api("verify", map[string]any{"challenge": ch2, "code": code}); r.str("reason") != "invalid_code" {
		t.Fatalf("replayed TOTP code: %d %s", r.status, r.raw)
	}
	// A recovery code works once.
	e.expectReleased(e.api("verify", map[string]any{"challenge": ch2, "code": codes[0]}), "alice")
	ch3 := e.expectChallenge(e.login("alice", "alice-pw"))
	if r := e.api("verify", map[string]any{"challenge": ch3, "code": codes[0]}); r.str("reason") != "invalid_code" {
		t.Fatalf("reused recovery code: %d %s", r.status, r.raw)
	}
	// Enrolling again through a held login is refused.
	if r := e.api("enroll/totp", map[string]any{"challenge": ch3}); r.status != http.StatusConflict {
		t.Errorf("second enrollment: %d %s", r.status, r.raw)
	}
}

// TestParseAttemptsExhausted: too many wrong codes end the held login and
// log its session out at the app.
func TestParseAttemptsExhausted(t *testing.T) {
	e := newParseEnv(t, func(c *config.Config) { c.Regulation.User.MaxFailures = 0 })
	e.enrollTOTP("alice", "alice-pw")
	ch := e.expectChallenge(e.login("alice", "alice-pw"))
	before := len(e.fake.Seen())
	var last answer
	for i := 0; i < 5; i++ {
		last = e.api("verify", map[string]any{"challenge": ch, "code": "000000"})
	}
	if last.status != http.StatusTooManyRequests || last.str("reason") != "too_many_attempts" {
		t.Fatalf("5th wrong code: %d %s", last.status, last.raw)
	}
	var logout bool
	for _, s := range e.fake.Seen()[before:] {
		logout = logout || strings.HasSuffix(s.Path, "/logout") && s.Token != ""
	}
	if !logout {
		t.Error("the abandoned held login was not logged out at the app")
	}
}

// TestParseOnlyReleasedTokens: a token obtained around the gateway is
// refused in every place Parse reads one, without reaching the app.
func TestParseOnlyReleasedTokens(t *testing.T) {
	e := newParseEnv(t, nil)
	_, _, good := e.enrollTOTP("alice", "alice-pw")
	stolen := e.fake.Mint("alice")
	jsBody := func(tok string) string {
		return fmt.Sprintf(`{"_method":"GET","_ApplicationId":%q,"_JavaScriptKey":"js","_InstallationId":"i1","_SessionToken":%q}`, parsefake.AppID, tok)
	}
	cases := []struct {
		name, method, path, ctype, body string
		hdr                             []string
	}{
		{"header", "GET", "/parse/classes/Note", "", "", []string{"X-Parse-Application-Id", parsefake.AppID, "X-Parse-Session-Token", stolen}},
		{"JS SDK body", "POST", "/parse/classes/Note", "text/plain", jsBody(stolen), nil},
		{"JS SDK body with a released header", "POST", "/parse/classes/Note", "text/plain", jsBody(stolen), []string{"X-Parse-Session-Token", good}},
		{"escaped key", "POST", "/parse/classes/Note", "text/plain", strings.Replace(jsBody(stolen), "_SessionToken", `_Session\u0054oken`, 1), nil},
		{"form body", "POST", "/parse/classes/Note", "application/x-www-form-urlencoded", url.Values{"_ApplicationId": {parsefake.AppID}, "_SessionToken": {stolen}, "_method": {"GET"}}.Encode(), nil},
		{"odd path", "GET", "/PARSE//classes/Note/", "", "", []string{"X-Parse-Application-Id", parsefake.AppID, "X-Parse-Session-Token", stolen}},
		{"graphql", "POST", "/graphql", "application/json", `{"query":"{ viewer { sessionToken } }"}`, []string{"X-Parse-Application-Id", parsefake.AppID, "X-Parse-Session-Token", stolen}},
		{"outside the mount", "GET", "/other", "", "", []string{"X-Parse-Session-Token", stolen}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := e.call(c.method, c.path, c.ctype, c.body, c.hdr...)
			if a.status != 400 || a.code() != 209 || a.str("error") != "Invalid session token" {
				t.Fatalf("got %d %s, want 400 code 209", a.status, a.raw)
			}
		})
	}
	if e.seenToken(stolen) {
		t.Error("the app saw a token the gateway never released")
	}
	// The released one works in the same shapes.
	if a := e.call("POST", "/parse/classes/Note", "text/plain", jsBody(good)); a.status != 200 || !strings.Contains(string(a.raw), "note of alice") {
		t.Errorf("released token in a JS SDK body: %d %s", a.status, a.raw)
	}
	// Parse gets a request id of the gateway's (a client's own is not
	// believed from an untrusted peer) and the verified user.
	e.call("GET", "/parse/classes/Note", "", "", "X-Parse-Application-Id", parsefake.AppID, "X-Parse-Session-Token", good,
		"X-Request-Id", "client-chosen", "X-Vestibule-User", "bob")
	last := e.fake.Seen()[len(e.fake.Seen())-1]
	if last.RequestID == "" || last.RequestID == "client-chosen" || last.User != "aLiCe01" {
		t.Errorf("forwarded request id %q, user %q", last.RequestID, last.User)
	}
	// Numbers in answers pass unchanged (no float rounding).
	if a := e.rest("GET", "/parse/classes/Note", "", good); !bytes.Contains(a.raw, []byte("12345678901234567890")) {
		t.Errorf("answer changed: %s", a.raw)
	}
}

// TestParseLoginShapes: every way Parse accepts a login is held.
func TestParseLoginShapes(t *testing.T) {
	e := newParseEnv(t, nil)
	js := fmt.Sprintf(`{"username":"alice","password":"alice-pw","_method":"GET","_ApplicationId":%q,"_JavaScriptKey":"js","_InstallationId":"i1"}`, parsefake.AppID)
	appHdr := []string{"X-Parse-Application-Id", parsefake.AppID}
	cases := []struct {
		name, method, path, ctype, body string
		hdr                             []string
	}{
		{"REST JSON", "POST", "/parse/login", "application/json", `{"username":"alice","password":"alice-pw"}`, appHdr},
		{"upper case", "POST", "/parse/LOGIN", "application/json", `{"username":"alice","password":"alice-pw"}`, appHdr},
		{"double slash", "POST", "/parse//login", "application/json", `{"username":"alice","password":"alice-pw"}`, appHdr},
		{"trailing slash", "POST", "/parse/login/", "application/json", `{"username":"alice","password":"alice-pw"}`, appHdr},
		{"query string", "GET", "/parse/login?username=alice&password=alice-pw", "", "", appHdr},
		{"JS SDK", "POST", "/parse/login", "text/plain", js, nil},
		{"batch", "POST", "/parse/batch", "application/json", `{"requests":[{"method":"POST","path":"/parse/login","body":{"username":"alice","password":"alice-pw"}}]}`, appHdr},
		{"graphql", "POST", "/graphql", "application/json", `{"query":"mutation logIn($username: String!, $password: String!) { logIn(input: {username: $username, password: $password}) { viewer { sessionToken user { id } } } }","variables":{"username":"alice","password":"alice-pw"}}`, appHdr},
		{"graphql without the user id", "POST", "/graphql", "application/json", `{"query":"mutation noid { logIn(input: {}) { viewer { sessionToken } } }","variables":{"username":"alice","password":"alice-pw"}}`, appHdr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := e.call(c.method, c.path, c.ctype, c.body, c.hdr...)
			e.expectChallenge(a)
			held, err := e.srv.Ephemeral().Held(context.Background(), a.str("challenge"))
			if err != nil || held.User != "aLiCe01" {
				t.Fatalf("held login of %q (%v), want user aLiCe01", held.User, err)
			}
		})
	}
	// A failed login passes unchanged.
	if a := e.login("alice", "nope"); a.status != 404 || a.code() != 101 {
		t.Errorf("failed login: %d %s", a.status, a.raw)
	}
}

// TestParseAdapterProtocol: a client written for Parse's mfa adapter logs
// in with authData.mfa.token; "request" sends a text message.
func TestParseAdapterProtocol(t *testing.T) {
	e := newParseEnv(t, nil)
	secret, _, _ := e.enrollTOTP("alice", "alice-pw")
	withMFA := func(tok string) answer {
		return e.rest("POST", "/parse/login", fmt.Sprintf(`{"username":"alice","password":"alice-pw","authData":{"mfa":{"token":%q}}}`, tok), "")
	}
	// No mfa: the adapter's error.
	if a := e.login("alice", "alice-pw"); a.str("error") != "Missing additional authData mfa" {
		t.Errorf("no mfa: %s", a.raw)
	}
	// A right code: released at once (the app got no authData.mfa, or it
	// would have refused the login).
	e.expectReleased(withMFA(e.totp(secret, 0)), "alice")
	// A wrong code: refused, and that login's session is ended at the app.
	before := len(e.fake.Seen())
	if a := withMFA("123456"); a.status != 400 || a.str("error") != "Invalid MFA token" {
		t.Fatalf("wrong code: %d %s", a.status, a.raw)
	}
	ended := false
	for _, s := range e.fake.Seen()[before:] {
		ended = ended || strings.HasSuffix(s.Path, "/logout")
	}
	if !ended {
		t.Error("the refused login's session was not ended at the app")
	}
	// "request" sends a code to the phone from the user's record...
	if a := withMFA("request"); a.str("error") != "Please enter the token" || a.str("reason") != "sms_sent" {
		t.Fatalf("request: %d %s", a.status, a.raw)
	}
	code := e.sms.lastCode(t, "+447400123456")
	// ...which the next login brings.
	e.expectReleased(withMFA(code), "alice")
	if a := withMFA(code); a.str("error") != "Invalid MFA token" {
		t.Errorf("a used text-message code worked again: %s", a.raw)
	}
}

// TestParseSignup: a new user's token is held until a factor is enrolled
// (default), or released with a flag under signup: grace.
func TestParseSignup(t *testing.T) {
	e := newParseEnv(t, nil)
	for _, path := range []string{"/parse/users", "/parse/classes/_User"} {
		a := e.rest("POST", path, `{"username":"carol`+path[len(path)-4:]+`","password":"pw"}`, "")
		e.expectChallenge(a)
		if a.body["enroll"] != true {
			t.Errorf("signup should ask to enroll: %s", a.raw)
		}
	}
	// A signed-in user creating another user gets the record, not the new
	// user's session (ended at the app).
	_, _, tok := e.enrollTOTP("alice", "alice-pw")
	before := len(e.fake.Seen())
	cr := e.rest("POST", "/parse/users", `{"username":"frank","password":"pw"}`, tok)
	e.srv.WaitBackground()
	if cr.status != 201 || cr.str("objectId") == "" || bytes.Contains(cr.raw, []byte("r:")) {
		t.Fatalf("user created by alice: %d %s", cr.status, cr.raw)
	}
	if seen := e.fake.Seen()[before:]; len(seen) != 2 || !strings.HasSuffix(seen[1].Path, "/logout") || !strings.HasPrefix(seen[1].Token, "r:") || seen[1].Token == tok {
		t.Errorf("the new user's session was not ended at the app: %+v", seen)
	}
	e.expectChallenge(e.login("frank", "pw"))
	// Anonymous authData logins are logins too.
	e.expectChallenge(e.rest("POST", "/parse/users", `{"authData":{"anonymous":{"id":"6f1b"}}}`, ""))

	g := newParseEnv(t, func(c *config.Config) { c.Parse.Signup = "grace" })
	a := g.rest("POST", "/parse/users", `{"username":"dave","password":"pw"}`, "")
	if a.status != 201 || a.header.Get("X-Vestibule-Enrollment") != "required" || a.str("sessionToken") == "" {
		t.Fatalf("grace signup: %d %v %s", a.status, a.header, a.raw)
	}
	if n := g.rest("GET", "/parse/classes/Note", "", a.str("sessionToken")); n.status != 200 {
		t.Errorf("grace token refused: %d %s", n.status, n.raw)
	}
	// The next login of that user is held and asks to enroll.
	if l := g.login("dave", "pw"); l.body["enroll"] != true {
		t.Errorf("after grace: %s", l.raw)
	}
	// A GraphQL signUp the same (GraphQL answers 200, not 201).
	gs := g.call("POST", "/graphql", "application/json", `{"query":"mutation { signUp(input: {}) { viewer { sessionToken } } }","variables":{"username":"erin","password":"pw"}}`,
		"X-Parse-Application-Id", parsefake.AppID)
	if gs.status != 200 || gs.header.Get("X-Vestibule-Enrollment") != "required" || !bytes.Contains(gs.raw, []byte(`"r:`)) {
		t.Fatalf("grace GraphQL signUp: %d %v %s", gs.status, gs.header, gs.raw)
	}
	// A signed-in user signing another up over GraphQL gets no token for
	// that user, grace or not; its session is ended at the app.
	gs = g.call("POST", "/graphql", "application/json", `{"query":"mutation { signUp(input: {}) { viewer { sessionToken } } }","variables":{"username":"fay","password":"pw"}}`,
		"X-Parse-Application-Id", parsefake.AppID, "X-Parse-Session-Token", a.str("sessionToken"))
	g.srv.WaitBackground()
	if gs.status != 200 || bytes.Contains(gs.raw, []byte(`"r:`)) {
		t.Fatalf("GraphQL signUp by a signed-in user: %d %s", gs.status, gs.raw)
	}
	if id := g.fake.ID("fay"); id == "" || g.fake.Sessions(id) != 0 {
		t.Errorf("the signed-up user %q still has a session at the app", id)
	}
}

// TestParseSessionsFollowAndEnd: tokens minted from a released session
// follow it; logout and deleting a session end them; listings never show a
// token the gateway holds.
func TestParseSessionsFollowAndEnd(t *testing.T) {
	e := newParseEnv(t, nil)
	_, _, tok := e.enrollTOTP("alice", "alice-pw")

	// A held login's token does not leak through the session list.
	held := e.expectChallenge(e.login("alice", "alice-pw"))
	list := e.rest("GET", "/parse/sessions", "", tok)
	if list.status != 200 || !bytes.Contains(list.raw, []byte(tok)) {
		t.Fatalf("sessions: %d %s", list.status, list.raw)
	}
	if n := bytes.Count(list.raw, []byte(`"r:`)); n != 1 {
		t.Errorf("session list shows %d tokens, want only the released one: %s", n, list.raw)
	}
	h, _ := e.srv.Ephemeral().Held(context.Background(), held)
	if bytes.Contains(list.raw, []byte(h.Session["sessionToken"])) {
		t.Error("the held token leaked")
	}
	if me := e.rest("GET", "/parse/users/me", "", tok); me.str("sessionToken") != tok {
		t.Errorf("users/me: %s", me.raw)
	}
	if me := e.rest("GET", "/parse/sessions/me", "", tok); me.str("sessionToken") != tok {
		t.Errorf("sessions/me: %s", me.raw)
	}

	// POST /sessions from a released session: the new token works.
	ns := e.rest("POST", "/parse/sessions", `{}`, tok)
	if ns.status != 201 || ns.str("sessionToken") == "" {
		t.Fatalf("POST /sessions: %d %s", ns.status, ns.raw)
	}
	if n := e.rest("GET", "/parse/classes/Note", "", ns.str("sessionToken")); n.status != 200 {
		t.Errorf("token from POST /sessions refused: %d %s", n.status, n.raw)
	}
	// DELETE /sessions/:id ends that token at the gateway too.
	var sid string
	for _, s := range e.rest("GET", "/parse/sessions", "", tok).body["results"].([]any) {
		if m := s.(map[string]any); m["sessionToken"] == ns.str("sessionToken") {
			sid = m["objectId"].(string)
		}
	}
	if d := e.rest("DELETE", "/parse/sessions/"+sid, "", ns.str("sessionToken")); d.status != 200 {
		t.Fatalf("delete session: %d %s", d.status, d.raw)
	}
	before := len(e.fake.Seen())
	if n := e.rest("GET", "/parse/classes/Note", "", ns.str("sessionToken")); n.code() != 209 || len(e.fake.Seen()) != before {
		t.Errorf("deleted session's token: %d %s (app asked: %v)", n.status, n.raw, len(e.fake.Seen()) != before)
	}

	// A password change: Parse revokes the sessions and answers a new
	// token, which follows the released session.
	pc := e.rest("PUT", "/parse/users/aLiCe01", `{"password":"new-pw"}`, tok)
	if pc.status != 200 || pc.str("sessionToken") == "" {
		t.Fatalf("password change: %d %s", pc.status, pc.raw)
	}
	tok2 := pc.str("sessionToken")
	if n := e.rest("GET", "/parse/classes/Note", "", tok2); n.status != 200 {
		t.Fatalf("token after password change refused: %d %s", n.status, n.raw)
	}

	// Logout: the token is gone from the registry; the app is not asked.
	if lo := e.rest("POST", "/parse/logout", `{}`, tok2); lo.status != 200 {
		t.Fatalf("logout: %d %s", lo.status, lo.raw)
	}
	before = len(e.fake.Seen())
	if n := e.rest("GET", "/parse/classes/Note", "", tok2); n.code() != 209 || len(e.fake.Seen()) != before {
		t.Errorf("after logout: %d %s", n.status, n.raw)
	}
}

// TestParseRefusals: master keys from outside the allowlist, loginAs,
// verifyPassword, several logins in one batch and bodies the gateway can't
// read the way Parse does are refused before the app.
func TestParseRefusals(t *testing.T) {
	e := newParseEnv(t, nil)
	app := []string{"X-Parse-Application-Id", parsefake.AppID}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(parsefake.AppID+":"+parsefake.MasterKey))
	cases := []struct {
		name, method, path, ctype, body string
		hdr                             []string
		status, code                    int
	}{
		{"master key header", "GET", "/parse/classes/Note", "", "", append(app, "X-Parse-Master-Key", parsefake.MasterKey), 403, 119},
		{"maintenance key", "GET", "/parse/classes/Note", "", "", append(app, "X-Parse-Maintenance-Key", "m"), 403, 119},
		{"master key by basic auth", "GET", "/parse/classes/Note", "", "", append(app, "Authorization", basic), 403, 119},
		{"master key in the body", "POST", "/parse/classes/Note", "text/plain", `{"_ApplicationId":"testapp","_MasterKey":"master-secret","_method":"GET"}`, nil, 403, 119},
		{"loginAs", "POST", "/parse/loginAs", "application/json", `{"userId":"aLiCe01"}`, app, 403, 119},
		{"verifyPassword", "POST", "/parse/verifyPassword", "application/json", `{"username":"alice","password":"alice-pw"}`, app, 403, 119},
		{"loginAs in a batch", "POST", "/parse/batch", "application/json", `{"requests":[{"method":"POST","path":"/parse/loginAs","body":{"userId":"aLiCe01"}}]}`, app, 403, 119},
		{"two logins in a batch", "POST", "/parse/batch", "application/json", `{"requests":[{"method":"POST","path":"/parse/login","body":{"username":"alice","password":"alice-pw"}},{"method":"POST","path":"/parse/login","body":{"username":"bob","password":"bob-pw"}}]}`, app, 400, 119},
		{"gzip body", "POST", "/parse/login", "application/json", "\x1f\x8b", append(app, "Content-Encoding", "gzip"), 415, 107},
		{"utf-16 body", "POST", "/parse/login", "application/json; charset=utf-16le", "{\x00}\x00", app, 415, 107},
		{"broken JSON", "POST", "/parse/login", "text/plain", `{"_ApplicationId":"testapp",`, nil, 400, 107},
		{"dot segments", "GET", "/parse/x/../classes/Note", "", "", app, 400, 107},
		{"websocket", "GET", "/parse/", "", "", append(app, "Connection", "Upgrade", "Upgrade", "websocket"), 403, 119},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.srv.WaitBackground()
			before := len(e.fake.Seen())
			a := e.call(c.method, c.path, c.ctype, c.body, c.hdr...)
			e.srv.WaitBackground()
			if a.status != c.status || a.code() != c.code {
				t.Fatalf("got %d %s, want %d code %d", a.status, a.raw, c.status, c.code)
			}
			if c.code != 119 || c.status != 400 { // the batch one reached the app
				if len(e.fake.Seen()) != before {
					t.Error("the app was asked")
				}
			}
			if bytes.Contains(a.raw, []byte("r:")) {
				t.Errorf("a token leaked: %s", a.raw)
			}
		})
	}
	// From an allowed network the master key passes; with the options on,
	// loginAs releases its token at once and verifyPassword passes.
	m := newParseEnv(t, func(c *config.Config) {
		c.Parse.MasterKeyFrom = []string{"127.0.0.1"}
		c.Parse.AllowLoginAs, c.Parse.AllowVerifyPassword = true, true
	})
	master := append(append([]string(nil), app...), "X-Parse-Master-Key", parsefake.MasterKey)
	if a := m.call("GET", "/parse/classes/Note", "", "", master...); a.status != 200 {
		t.Errorf("allowed master key: %d %s", a.status, a.raw)
	}
	la := m.call("POST", "/parse/loginAs", "application/json", `{"userId":"aLiCe01"}`, master...)
	if la.status != 200 || la.str("sessionToken") == "" {
		t.Fatalf("allowed loginAs: %d %s", la.status, la.raw)
	}
	m.expectReleased(la, "alice")
	if a := m.call("POST", "/parse/loginAs", "application/json", `{"userId":"aLiCe01"}`, app...); a.status != 403 {
		t.Errorf("loginAs without the master key: %d %s", a.status, a.raw)
	}
	if a := m.rest("POST", "/parse/verifyPassword", `{"username":"alice","password":"alice-pw"}`, ""); a.status != 200 || a.str("sessionToken") != "" {
		t.Errorf("allowed verifyPassword: %d %s", a.status, a.raw)
	}
}

// TestParseBrowserPage: a Parse web app sends its user to the challenge's
// page; the code is entered there; the app completes the login itself.
func TestParseBrowserPage(t *testing.T) {
	e := newParseEnv(t, nil)
	secret, _, _ := e.enrollTOTP("alice", "alice-pw")
	a := e.login("alice", "alice-pw")
	ch := e.expectChallenge(a)
	u, _ := url.Parse(a.str("url"))
	benv := &env{t: t, gw: e.gw, clock: e.clock}
	b := benv.browser()
	p := b.get(u.RequestURI())
	must(t, p, http.StatusSeeOther)
	if location(p) != "/.vestibule/verify" {
		t.Fatalf("page link goes to %q", location(p))
	}
	p = b.verify(e.totp(secret, 0))
	must(t, p, http.StatusOK)
	if !strings.Contains(p.body, "Go back to the app") || strings.Contains(p.body, "r:") || strings.Contains(p.body, "sessionToken") {
		t.Fatalf("verified page: %s", p.body)
	}
	if d := b.do("GET", "/.vestibule/verify", nil, "Accept-Language", "de"); !strings.Contains(html.UnescapeString(d.body), "erneut an") {
		t.Errorf("after verification the page flow is over (German): %.300s", d.body)
	}
	// The link is spent; the app completes the login without a code.
	if p := b.get(u.RequestURI()); p.status != http.StatusGone || !strings.Contains(p.body, "expired") {
		t.Errorf("link after verification: %d", p.status)
	}
	e.expectReleased(e.api("verify", map[string]any{"challenge": ch}), "alice")
	// A forged ticket is refused.
	if p := b.get("/.vestibule/parse?t=" + url.QueryEscape(ch)); !strings.Contains(p.body, "expired") {
		t.Errorf("a raw challenge id worked as a ticket")
	}
}

// TestParseSMSEnrollment: a user with a phone in their record enrolls it
// over JSON, with recovery codes, and later signs in with a text message.
func TestParseSMSEnrollment(t *testing.T) {
	e := newParseEnv(t, nil)
	a := e.login("alice", "alice-pw")
	ch := e.expectChallenge(a)
	if s := e.api("enroll/sms", map[string]any{"challenge": ch}); s.status != 200 || s.body["sent"] != true {
		t.Fatalf("enroll/sms: %d %s", s.status, s.raw)
	}
	code := e.sms.lastCode(t, "+447400123456")
	if w := e.api("enroll/confirm", map[string]any{"challenge": ch, "code": "000000"}); w.status != 400 || w.str("reason") != "invalid_code" || w.body["attemptsLeft"] != float64(4) {
		t.Fatalf("wrong confirmation code: %d %s", w.status, w.raw)
	}
	cf := e.api("enroll/confirm", map[string]any{"challenge": ch, "code": code})
	if cf.status != 200 || cf.str("factor") != "sms" || len(cf.body["recoveryCodes"].([]any)) != 10 {
		t.Fatalf("confirm: %d %s", cf.status, cf.raw)
	}
	e.expectReleased(e.api("verify", map[string]any{"challenge": ch}), "alice")
	ch2 := e.expectChallenge(e.login("alice", "alice-pw"))
	if s := e.api("sms", map[string]any{"challenge": ch2}); s.status != 200 {
		t.Fatalf("api/sms: %d %s", s.status, s.raw)
	}
	e.expectReleased(e.api("verify", map[string]any{"challenge": ch2, "code": e.sms.lastCode(t, "+447400123456")}), "alice")
}

// TestParseHeldExpiry: a held login nobody completes is logged out at the
// app by the janitor, with the app id the client sent (here in a JS SDK
// body, as the SDK does).
func TestParseHeldExpiry(t *testing.T) {
	e := newParseEnv(t, nil)
	ch := e.expectChallenge(e.call("POST", "/parse/login", "text/plain",
		fmt.Sprintf(`{"username":"bob","password":"bob-pw","_method":"GET","_ApplicationId":%q,"_InstallationId":"i9"}`, parsefake.AppID)))
	h, err := e.srv.Ephemeral().Held(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	tok := h.Session["sessionToken"]
	if !e.fake.Live(tok) {
		t.Fatal("held token not live at the app")
	}
	e.clock.Advance(6 * time.Minute)
	if n := e.srv.Sweep(context.Background()); n != 1 {
		t.Fatalf("swept %d", n)
	}
	if e.fake.Live(tok) {
		t.Error("expired held login still live at the app")
	}
	if r := e.api("verify", map[string]any{"challenge": ch, "code": "123456"}); r.str("reason") != "challenge_expired" {
		t.Errorf("expired challenge: %s", r.raw)
	}
}

// TestParseCORS: a Parse web app on another origin can read the challenge,
// the gateway's own errors and the JSON protocol's answers.
func TestParseCORS(t *testing.T) {
	e := newParseEnv(t, nil)
	e.enrollTOTP("alice", "alice-pw")
	a := e.login("alice", "alice-pw")
	e.expectChallenge(a)
	if a.header.Get("Access-Control-Allow-Origin") != "*" || a.header.Get("Access-Control-Expose-Headers") == "" {
		t.Errorf("challenge lost Parse's CORS headers: %v", a.header)
	}
	if r := e.rest("GET", "/parse/classes/Note", "", "r:unknown"); r.code() != 209 || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("209 answer: %d %v", r.status, r.header)
	}
	if r := e.api("verify", map[string]any{"challenge": a.str("challenge"), "code": "000000"}); r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("api answer without CORS: %v", r.header)
	}
	p := e.call("OPTIONS", "/.vestibule/api/verify", "", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if p.status != http.StatusNoContent || !strings.Contains(p.header.Get("Access-Control-Allow-Headers"), "Content-Type") || p.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: %d %v", p.status, p.header)
	}
}

// replica is a second gateway sharing e's config (and so its Redis).
func (e *parseEnv) replica() *parseEnv {
	e.t.Helper()
	cfg := *e.cfg
	cfg.Store.SQLite = filepath.Join(e.t.TempDir(), "r.db")
	r := *e
	r.srv, r.gw = startGateway(e.t, &cfg, e.clock, &logBuffer{})
	return &r
}

// TestParseRegistryAcrossReplicas: on Redis, a token released by one
// replica works on another, and a logout on one ends it on the others.
func TestParseRegistryAcrossReplicas(t *testing.T) {
	url := testsvc.Redis(t)
	e := newParseEnv(t, func(c *config.Config) {
		c.Store.Redis, c.Store.RedisPrefix = url, testsvc.RandomName("p")+":"
		c.Parse.TokenCache = 0
	})
	b := e.replica()
	_, _, tok := e.enrollTOTP("alice", "alice-pw")
	if n := b.rest("GET", "/parse/classes/Note", "", tok); n.status != 200 {
		t.Fatalf("token released on A refused on B: %d %s", n.status, n.raw)
	}
	// A held login on A completes on B.
	ch := e.expectChallenge(e.login("bob", "bob-pw"))
	if r := b.api("enroll/totp", map[string]any{"challenge": ch}); r.status != 200 {
		t.Fatalf("held login of A unknown on B: %d %s", r.status, r.raw)
	}
	if lo := b.rest("POST", "/parse/logout", `{}`, tok); lo.status != 200 {
		t.Fatalf("logout on B: %d %s", lo.status, lo.raw)
	}
	before := len(e.fake.Seen())
	if n := e.rest("GET", "/parse/classes/Note", "", tok); n.code() != 209 || len(e.fake.Seen()) != before {
		t.Errorf("token logged out on B still accepted on A: %d %s", n.status, n.raw)
	}
}

// TestParseBrowserEnrollment: a user without a second factor enrolls on
// the gateway's pages from the challenge link; the app then completes.
func TestParseBrowserEnrollment(t *testing.T) {
	e := newParseEnv(t, nil)
	a := e.login("bob", "bob-pw")
	ch := e.expectChallenge(a)
	u, _ := url.Parse(a.str("url"))
	b := (&env{t: t, gw: e.gw, clock: e.clock}).browser()
	must(t, b.get(u.RequestURI()), http.StatusSeeOther)
	p := b.get("/.vestibule/verify")
	if location(p) != "/.vestibule/enroll" {
		t.Fatalf("unenrolled user goes to %q", location(p))
	}
	p = b.get("/.vestibule/enroll")
	must(t, p, http.StatusOK)
	m := reSecret.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no key on the enroll page: %.500s", p.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	p = b.post("/.vestibule/enroll", url.Values{"csrf": {csrf(t, p)}, "code": {e.totp(secret, 0)}})
	must(t, p, http.StatusOK)
	if n := len(reCodes.FindAllStringSubmatch(p.body, -1)); n != 10 {
		t.Fatalf("%d recovery codes on the page", n)
	}
	p = b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}})
	must(t, p, http.StatusOK)
	if !strings.Contains(p.body, "Go back to the app") || strings.Contains(p.body, "r:") || p.header.Get("Set-Cookie") == "" {
		t.Fatalf("after enrollment: %s", p.body)
	}
	// The page gave the browser no session; the app completes the login.
	for _, c := range b.jar.Cookies(u) {
		if strings.HasPrefix(c.Value, "r:") {
			t.Errorf("a session token reached the browser: %s", c.Name)
		}
	}
	e.expectReleased(e.api("verify", map[string]any{"challenge": ch}), "bob")
	// The enrollment is filed under the Parse user's id, as every later
	// login looks it up: the next login asks for a code, not to enroll.
	next := e.login("bob", "bob-pw")
	e.expectChallenge(next)
	if next.body["enroll"] != false {
		t.Fatalf("after enrolling on the pages the next login asks to enroll again: %s", next.raw)
	}
}

// TestParseUpstreamDown: with Parse unreachable, clients get a Parse-shaped
// 502 naming no detail.
func TestParseUpstreamDown(t *testing.T) {
	e := newParseEnv(t, func(c *config.Config) { c.Upstream.URL = "http://127.0.0.1:9" })
	a := e.login("alice", "alice-pw")
	if a.status != http.StatusBadGateway || a.code() != 1 || a.header.Get("Content-Type") != "application/json; charset=utf-8" || strings.Contains(string(a.raw), "127.0.0.1") {
		t.Fatalf("app down: %d %v %s", a.status, a.header, a.raw)
	}
}
