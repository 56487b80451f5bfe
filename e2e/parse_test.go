package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"context"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/internal/testsvc"
)

// parseModules is where scripts/test.sh installs parse-server and the
// Parse JS SDK (npm ci in e2e/parse).
const parseModules = "parse/node_modules"

// startParseServer runs the real Parse Server from npm on PostgreSQL, on a
// loopback port, and returns its URL (with the mount path).
func startParseServer(t *testing.T) string {
	t.Helper()
	u, _ := startParseServerKey(t)
	return u
}

// startParseServerKey is startParseServer that also returns the master
// key; env is added to Parse Server's environment (its options).
func startParseServerKey(t *testing.T, env ...string) (string, string) {
	t.Helper()
	bin := filepath.Join(parseModules, ".bin", "parse-server")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("VESTIBULE_REQUIRE_SERVICES") != "" {
			t.Fatalf("parse-server is not installed in e2e/parse (npm ci) but VESTIBULE_REQUIRE_SERVICES is set")
		}
		t.Skip("parse-server is not installed: (cd e2e/parse && npm ci), or run scripts/test.sh")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed but e2e/parse has its modules")
	}
	db := testsvc.PostgresDatabase(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d/parse", port)
	master := randomKey()
	cmd := exec.Command("node", bin, "--appId", "e2eapp", "--masterKey", master, "--databaseURI", db,
		"--port", fmt.Sprint(port), "--host", "127.0.0.1", "--mountPath", "/parse", "--serverURL", base, "--allowClientClassCreation", "true")
	// GraphQL at /graphql (the CLI's --mountGraphQL flag did not take here).
	cmd.Env = append(append(os.Environ(), "PARSE_SERVER_MOUNT_GRAPHQL=true", "PARSE_SERVER_LOGS_FOLDER="+t.TempDir()), env...)
	logs := &syncBuffer{}
	runUntilUp(t, "Parse Server", cmd, logs, base+"/health")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Parse Server log:\n%s", logs)
		}
	})
	return base, master
}

// TestParseServerWithJSSDK: a Node program using the real Parse JS SDK signs
// up, enrolls, logs in with a code, saves and queries objects and logs out
// through the gateway in front of the real Parse Server; a token obtained
// without the second factor is refused.
func TestParseServerWithJSSDK(t *testing.T) {
	parseURL := startParseServer(t)
	gwURL := exampleGateway(t, "parse-server.yaml", func(cfg *config.Config, gwURL string) {
		cfg.PublicURL = gwURL
		cfg.Upstream.URL = strings.TrimSuffix(parseURL, "/parse")
		cfg.SMS.Enabled = false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "parse/client.mjs")
	cmd.Env = append(os.Environ(), "GATEWAY="+gwURL, "DIRECT="+parseURL, "APP_ID=e2eapp")
	out, err := cmd.CombinedOutput()
	t.Logf("client:\n%s", out)
	if err != nil {
		t.Fatalf("the JS SDK client failed: %v", err)
	}
	if !strings.Contains(string(out), "all checks passed") {
		t.Fatal("the client did not finish")
	}
}

// parseCall is one JSON call; hdr are name, value pairs.
func parseCall(t *testing.T, method, u, ctype, body string, hdr ...string) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

// TestParseServerFacts checks, against the real Parse Server, the facts the
// guard relies on: the route variants Parse accepts are held, a token in a
// form body (which Parse reads) is refused, GraphQL logins are held, a password change's new token follows the session, and a held
// login's token does not show in the session list.
func TestParseServerFacts(t *testing.T) {
	parseURL := startParseServer(t)
	root := strings.TrimSuffix(parseURL, "/parse")
	gwURL := exampleGateway(t, "parse-server.yaml", func(cfg *config.Config, gwURL string) {
		cfg.PublicURL = gwURL
		cfg.Upstream.URL = root
		cfg.SMS.Enabled = false
	})
	app := []string{"X-Parse-Application-Id", "e2eapp"}
	js := "application/json"
	// A user made at Parse directly, and a token obtained there.
	if st, _, raw := parseCall(t, "POST", parseURL+"/users", js, `{"username":"gus","password":"gus-pw"}`, app...); st != 201 {
		t.Fatalf("signup at Parse: %d %s", st, raw)
	}
	_, direct, _ := parseCall(t, "GET", parseURL+"/login?username=gus&password=gus-pw", "", "", app...)
	stolen, _ := direct["sessionToken"].(string)
	// Parse reads a token from a form body: the gateway refuses it.
	form := url.Values{"_ApplicationId": {"e2eapp"}, "_SessionToken": {stolen}, "_method": {"GET"}}.Encode()
	if st, _, raw := parseCall(t, "POST", parseURL+"/users/me", "application/x-www-form-urlencoded", form); st != 200 {
		t.Fatalf("premise: Parse takes a form-body token: %d %s", st, raw)
	}
	if st, m, raw := parseCall(t, "POST", gwURL+"/parse/users/me", "application/x-www-form-urlencoded", form); st != 400 || m["code"] != float64(209) {
		t.Fatalf("form-body token through the gateway: %d %s", st, raw)
	}
	held := func(what string, st int, m map[string]any, raw string) string {
		t.Helper()
		if st != 400 || m["challenge"] == nil || strings.Contains(raw, "r:") {
			t.Fatalf("%s: want a held login, got %d %s", what, st, raw)
		}
		return m["challenge"].(string)
	}
	body := `{"username":"gus","password":"gus-pw"}`
	for _, path := range []string{"/parse/login", "/PARSE/LOGIN", "/parse//login", "/parse/login/"} {
		st, m, raw := parseCall(t, "POST", gwURL+path, js, body, app...)
		held(path, st, m, raw)
	}
	// (Batch logins: TestParseServerBatchLogins.)
	st, m, raw := parseCall(t, "POST", gwURL+"/graphql", js,
		`{"query":"mutation L($input: LogInInput!) { logIn(input: $input) { viewer { sessionToken user { objectId } } } }","variables":{"input":{"username":"gus","password":"gus-pw"}}}`, app...)
	held("GraphQL logIn", st, m, raw)

	// Enroll over JSON and release.
	st, m, raw = parseCall(t, "POST", gwURL+"/parse/login", js, body, app...)
	ch := held("login", st, m, raw)
	_, en, _ := parseCall(t, "POST", gwURL+"/.vestibule/api/enroll/totp", js, `{"challenge":"`+ch+`"}`)
	secret, _ := en["secret"].(string)
	step := factor.DefaultTOTP().Step(time.Now())
	if st, _, raw := parseCall(t, "POST", gwURL+"/.vestibule/api/enroll/confirm", js, `{"challenge":"`+ch+`","code":"`+code(t, secret, step)+`"}`); st != 200 {
		t.Fatalf("confirm: %d %s", st, raw)
	}
	_, rel, raw := parseCall(t, "POST", gwURL+"/.vestibule/api/verify", js, `{"challenge":"`+ch+`"}`)
	tok, _ := rel["sessionToken"].(string)
	userID, _ := rel["objectId"].(string)
	if tok == "" || userID == "" {
		t.Fatalf("release: %s", raw)
	}
	withTok := append(append([]string(nil), app...), "X-Parse-Session-Token", tok)

	// A held login's token is not in the session list; the released one is.
	st, m, raw = parseCall(t, "POST", gwURL+"/parse/login", js, body, app...)
	held("second login", st, m, raw)
	st, _, raw = parseCall(t, "GET", gwURL+"/parse/sessions", "", "", withTok...)
	if st != 200 || strings.Count(raw, `"r:`) != 1 || !strings.Contains(raw, tok) {
		t.Fatalf("session list: %d %s", st, raw)
	}
	if st, _, raw = parseCall(t, "GET", parseURL+"/sessions", "", "", withTok...); strings.Count(raw, `"sessionToken"`) < 3 {
		t.Fatalf("premise: Parse lists every session with its token: %d %s", st, raw)
	}

	// A password change: Parse answers a new token, which follows.
	st, pc, raw := parseCall(t, "PUT", gwURL+"/parse/users/"+userID, js, `{"password":"gus-pw-2"}`, withTok...)
	tok2, _ := pc["sessionToken"].(string)
	if st != 200 || tok2 == "" {
		t.Fatalf("password change: %d %s", st, raw)
	}
	if st, _, raw := parseCall(t, "GET", gwURL+"/parse/users/me", "", "", "X-Parse-Application-Id", "e2eapp", "X-Parse-Session-Token", tok2); st != 200 {
		t.Fatalf("token after a password change: %d %s", st, raw)
	}
	// The master key is refused from a client outside master_key_from.
	if st, m, raw := parseCall(t, "GET", gwURL+"/parse/users", "", "", "X-Parse-Application-Id", "e2eapp", "X-Parse-Master-Key", "anything"); st != 403 || m["code"] != float64(119) {
		t.Fatalf("master key: %d %s", st, raw)
	}
}
