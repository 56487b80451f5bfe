package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sealed"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

func noEnv(string) (string, bool) { return "", false }

func TestKeysGenerate(t *testing.T) {
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"keys", "generate"}, &out, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q is not NAME=value", line)
		}
		b, err := base64.StdEncoding.DecodeString(val)
		if err != nil || len(b) != 32 {
			t.Errorf("%s: not 32 bytes of base64", name)
		}
		seen[name] = true
	}
	if !seen["VESTIBULE_COOKIE_KEY"] || !seen["VESTIBULE_ENCRYPTION_KEY"] {
		t.Errorf("keys generate printed %v", seen)
	}
}

func TestConfigCheck(t *testing.T) {
	shipped, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, shipped, 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, append(append([]byte(nil), shipped...), []byte("\nlog:\n  levle: debug\n")...), 0o600)
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	env := func(k string) (string, bool) {
		if k == "VESTIBULE_COOKIE_KEY" || k == "VESTIBULE_ENCRYPTION_KEY" {
			return key, true
		}
		return "", false
	}
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"config", "check", "-config", good}, &out, io.Discard, env, nil); err != nil {
		t.Fatalf("shipped config: %v", err)
	}
	if !strings.Contains(out.String(), "ok") {
		t.Errorf("output %q", out.String())
	}
	err = Run(t.Context(), []string{"config", "check", "-config", bad}, io.Discard, io.Discard, env, nil)
	if err == nil || !strings.Contains(err.Error(), "levle") {
		t.Errorf("bad key not named: %v", err)
	}
	err = Run(t.Context(), []string{"config", "check", "-config", good}, io.Discard, io.Discard, noEnv, nil)
	if err == nil || !strings.Contains(err.Error(), "VESTIBULE_COOKIE_KEY") || strings.Contains(err.Error(), key) {
		t.Errorf("missing secret: %v", err)
	}
}

func TestUnknownCommandAndVersion(t *testing.T) {
	if err := Run(t.Context(), []string{"frobnicate"}, io.Discard, io.Discard, noEnv, nil); err == nil {
		t.Error("unknown command accepted")
	}
	if err := Run(t.Context(), nil, io.Discard, io.Discard, noEnv, nil); err == nil {
		t.Error("no command accepted")
	}
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"version"}, &out, io.Discard, noEnv, nil); err != nil || !strings.Contains(out.String(), Version) {
		t.Errorf("version: %q %v", out.String(), err)
	}
}

// TestDemoStarts: the demo serves the built-in app through the gateway, and
// an unauthenticated visit to the protected page goes to the app's login.
func TestDemoStarts(t *testing.T) {
	shipped, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	url, stop, err := StartDemo(ctx, shipped, noEnv, DemoOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url + "/account")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("/account: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = c.Get(url + "/.vestibule/static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("gate stylesheet: %d", resp.StatusCode)
	}

	// Served as localhost (a secure context for browsers, unlike an IP
	// address), the demo offers passkeys at enrollment.
	if !strings.HasPrefix(url, "http://localhost:") {
		t.Fatalf("demo URL %s, want http://localhost:PORT", url)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err = browser.PostForm(url+"/login", neturl.Values{"username": {"alice"}, "password": {"wonderland"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/.vestibule/enroll" || !strings.Contains(string(page), "enroll-passkey") {
		t.Fatalf("after the password: %s, passkey offered: %v", resp.Request.URL, strings.Contains(string(page), "enroll-passkey"))
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("upstream: {url: 'ftp://x'}\nsession_cookies: [s]\n"), 0o600)
	err := Run(t.Context(), []string{"serve", "-config", p}, io.Discard, io.Discard, noEnv, nil)
	if err == nil || !strings.Contains(err.Error(), "upstream.url") || !strings.Contains(err.Error(), "gate.keys") {
		t.Errorf("serve with a bad config: %v", err)
	}
}

// TestAdminCommandsAndAuditFile: an administrator resets a user's factor
// and revokes devices; each is an event in the JSON-lines audit file.
func TestAdminCommandsAndAuditFile(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	cfgPath := filepath.Join(dir, "c.yaml")
	auditPath := filepath.Join(dir, "audit.jsonl")
	dbPath := filepath.Join(dir, "v.db")
	os.WriteFile(cfgPath, []byte(`
upstream: {url: "http://127.0.0.1:1"}
session_cookies: [s]
# Names are compared case-insensitively by this app: admin commands
# find "Alice" as the gateway filed it, "alice".
login: {user: {normalize: [nfkc, trim, casefold]}}
gate: {keys: ["`+key+`"]}
secrets: {encryption_keys: ["`+key+`"]}
store: {sqlite: "`+dbPath+`"}
log: {audit_file: "`+auditPath+`"}
`), 0o600)
	db, err := sqlite.Open(t.Context(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Enroll(t.Context(), store.Enrollment{User: "alice", TOTPSecret: []byte("sealed")})
	eph, _ := db.Ephemeral(t.Context())
	if err := eph.Ban(t.Context(), "user:alice", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, banned, err := eph.BannedUntil(t.Context(), "user:alice", time.Now()); err != nil || !banned {
		t.Fatalf("premise: alice is banned before the unlock (%v %v)", banned, err)
	}
	db.Close()

	var out bytes.Buffer
	if err := Run(t.Context(), []string{"devices", "revoke", "-config", cfgPath, "-user", "Alice"}, &out, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	if err := Run(t.Context(), []string{"users", "set-phone", "-config", cfgPath, "-user", "alice", "-number", "+44 7400 123456"}, &out, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	if err := Run(t.Context(), []string{"users", "set-phone", "-config", cfgPath, "-user", "alice", "-number", "12"}, &out, io.Discard, noEnv, nil); err == nil {
		t.Error("an invalid number was set")
	}
	if err := Run(t.Context(), []string{"users", "unlock", "-config", cfgPath, "-user", "alice"}, &out, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	db2, _ := sqlite.Open(t.Context(), dbPath, nil)
	// The number is sealed at rest, beside its masked form.
	if e, _ := db2.Enrollment(t.Context(), "alice"); strings.Contains(e.Phone, "7400123456") || sealed.MaskedPhone(e.Phone) != "+44 •••• ••3456" {
		t.Errorf("phone after set-phone: %q", e.Phone)
	}
	eph2, _ := db2.Ephemeral(t.Context())
	if _, banned, _ := eph2.BannedUntil(t.Context(), "user:alice", time.Now()); banned {
		t.Error("still banned after users unlock")
	}
	db2.Close()
	var list, show, codes bytes.Buffer
	if err := Run(t.Context(), []string{"users", "list", "-config", cfgPath}, &list, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list.String(), "alice") || !strings.Contains(list.String(), "totp,sms") {
		t.Errorf("users list:\n%s", list.String())
	}
	if err := Run(t.Context(), []string{"users", "show", "-config", cfgPath, "alice"}, &show, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(show.String(), "+44 •••• ••3456") || strings.Contains(show.String(), "7400123456") {
		t.Errorf("users show must mask the number:\n%s", show.String())
	}
	if err := Run(t.Context(), []string{"users", "recovery-codes", "-config", cfgPath, "-user", "alice"}, &codes, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(codes.String(), "\n  "); n != 10 {
		t.Errorf("recovery-codes printed %d codes:\n%s", n, codes.String())
	}
	if err := Run(t.Context(), []string{"users", "reset", "-config", cfgPath, "-user", "alice"}, &out, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	err = Run(t.Context(), []string{"users", "reset", "-config", cfgPath, "-user", "alice"}, &out, io.Discard, noEnv, nil)
	if err == nil || !strings.Contains(err.Error(), "no second factor") {
		t.Errorf("second reset: %v", err)
	}
	db, _ = sqlite.Open(t.Context(), dbPath, nil)
	defer db.Close()
	if _, err := db.Enrollment(t.Context(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after reset: %v", err)
	}
	raw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 7 {
		t.Fatalf("audit file:\n%s", raw)
	}
	for i, want := range []string{"devices_revoked", "sessions_revoked", "phone_set", "unlock", "recovery_codes_replaced", "factor_reset", "sessions_revoked"} {
		var ev map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &ev); err != nil || ev["event"] != want || ev["user"] != "alice" {
			t.Errorf("line %d: %s", i, lines[i])
		}
	}
	if fi, _ := os.Stat(auditPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v", fi.Mode().Perm())
	}
}
