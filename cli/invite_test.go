package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/enroll"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/server"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

// hookRecorder is a loopback enrollment webhook that checks each request's
// signature and records its events.
type hookRecorder struct {
	srv    *httptest.Server
	secret string
	events chan notify.Event
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{secret: "cli-hook-secret-0123456789", events: make(chan notify.Event, 16)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(h.secret))
		m.Write([]byte(r.Header.Get("X-Vestibule-Timestamp") + "." + string(body)))
		if r.Method != "POST" || r.URL.Path != "/hook" || r.Header.Get("X-Vestibule-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("webhook request %s %s signature %q", r.Method, r.URL.Path, r.Header.Get("X-Vestibule-Signature"))
		}
		var ev notify.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body %s", body)
		}
		h.events <- ev
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookRecorder) next(t *testing.T) notify.Event {
	t.Helper()
	select {
	case ev := <-h.events:
		return ev
	default: // the command waits for its webhook: it must be here already
		t.Fatal("no webhook request")
		return notify.Event{}
	}
}

func writeConfig(t *testing.T, extra string) (cfgPath, auditPath, dbPath string, key string) {
	dir := t.TempDir()
	key = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	cfgPath = filepath.Join(dir, "c.yaml")
	auditPath = filepath.Join(dir, "audit.jsonl")
	dbPath = filepath.Join(dir, "v.db")
	os.WriteFile(cfgPath, []byte(`
public_url: https://app.example.com
upstream: {url: "http://127.0.0.1:1"}
session_cookies: [s]
# Names are compared case-insensitively by this app: admin commands
# find "Alice" as the gateway filed it, "alice".
login: {user: {normalize: [nfkc, trim, casefold]}}
gate: {keys: ["`+key+`"]}
secrets: {encryption_keys: ["`+key+`"]}
store: {sqlite: "`+dbPath+`"}
log: {audit_file: "`+auditPath+`"}
`+extra), 0o600)
	return
}

var reLink = regexp.MustCompile(`https://app\.example\.com/\.vestibule/invite\?t=(\S+)`)

// TestUsersInvite: the command prints a link for exactly that user, valid
// for the TTL, that the gateway built from the same config accepts; the
// audit file and the webhook are told, without the token.
func TestUsersInvite(t *testing.T) {
	hook := newHookRecorder(t)
	cfgPath, auditPath, _, key := writeConfig(t, `enrollment:
  mode: invite
  contact: it@example.com
  webhook: {url: "`+hook.srv.URL+`/hook", secret: "`+hook.secret+`"}
`)
	var out bytes.Buffer
	start := time.Now()
	if err := Run(t.Context(), []string{"users", "invite", "Alice", "-ttl", "24h", "-config", cfgPath}, &out, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	m := reLink.FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "Invitation for alice, valid once until") {
		t.Fatalf("output:\n%s", out.String())
	}
	tok, err := url.QueryUnescape(m[1])
	if err != nil {
		t.Fatal(err)
	}
	keyBytes, _ := base64.StdEncoding.DecodeString(key)
	iv, _ := enroll.NewInvites([][]byte{keyBytes}, nil)
	inv, err := iv.Read(tok, time.Now())
	if err != nil || inv.User != "alice" {
		t.Fatalf("printed token: %+v %v", inv, err)
	}
	if d := inv.ExpiresAt().Sub(start); d < 24*time.Hour-time.Minute || d > 24*time.Hour+time.Minute {
		t.Errorf("expires in %s, want 24h", d)
	}
	ev := hook.next(t)
	if ev.Event != "invite_created" || ev.User != "alice" || ev.By != "admin" {
		t.Errorf("webhook event %+v", ev)
	}
	raw, _ := os.ReadFile(auditPath)
	if !strings.Contains(string(raw), `"event":"invite_created"`) || !strings.Contains(string(raw), `"user":"alice"`) || strings.Contains(string(raw), m[1]) || strings.Contains(string(raw), tok) {
		t.Errorf("audit file (must name the event and user, never the token):\n%s", raw)
	}

	// The gateway built from the same config accepts the printed link.
	cfg, err := config.LoadWith(cfgPath, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	u, _ := url.Parse(m[0])
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", u.RequestURI(), nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Your invitation for alice is ready") {
		t.Fatalf("gateway answers the printed link with %d: %.400s", rec.Code, rec.Body.String())
	}

	// Usage errors.
	for _, args := range [][]string{
		{"users", "invite", "-config", cfgPath},
		{"users", "invite", "alice", "bob", "-config", cfgPath},
		{"users", "invite", "alice", "-ttl", "1m", "-config", cfgPath},
		{"users", "invite", "alice", "-ttl", "1000h", "-config", cfgPath},
	} {
		if err := Run(t.Context(), args, io.Discard, io.Discard, noEnv, nil); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestUsersInviteNotes: an enrolled user's invitation says it needs a
// reset first; an invitation in open mode says the link is not needed.
func TestUsersInviteNotes(t *testing.T) {
	cfgPath, _, dbPath, _ := writeConfig(t, "")
	db, err := sqlite.Open(t.Context(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Enroll(t.Context(), store.Enrollment{User: "alice", TOTPSecret: []byte("sealed")})
	db.Close()
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"users", "invite", "-user", "alice", "-config", cfgPath}, &out, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "works only after `vestibule users reset -user alice`") || !strings.Contains(out.String(), "enrollment.mode is open") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestAdminCommandsNotifyWebhook: every administrator's factor change is
// posted, signed, to the enrollment webhook; a webhook that is down does
// not fail the command.
func TestAdminCommandsNotifyWebhook(t *testing.T) {
	hook := newHookRecorder(t)
	cfgPath, auditPath, dbPath, _ := writeConfig(t, `enrollment:
  webhook: {url: "`+hook.srv.URL+`/hook", secret: "`+hook.secret+`"}
`)
	db, err := sqlite.Open(t.Context(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Enroll(t.Context(), store.Enrollment{User: "alice", TOTPSecret: []byte("sealed")})
	db.Close()
	cases := []struct {
		args  []string
		event string
		phone string
	}{
		{[]string{"users", "set-phone", "-user", "alice", "-number", "+44 7400 123456"}, "phone_set", "+44 •••• ••3456"},
		{[]string{"devices", "revoke", "-user", "alice"}, "devices_revoked", ""},
		{[]string{"users", "recovery-codes", "-user", "alice"}, "recovery_codes_replaced", ""},
		{[]string{"users", "reset", "-user", "alice"}, "factor_reset", ""},
	}
	for _, tc := range cases {
		if err := Run(t.Context(), append(tc.args, "-config", cfgPath), io.Discard, io.Discard, noEnv, nil); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		ev := hook.next(t)
		if ev.Event != tc.event || ev.User != "alice" || ev.By != "admin" || ev.Phone != tc.phone || ev.Time.IsZero() {
			t.Errorf("%v: webhook event %+v", tc.args, ev)
		}
	}
	hook.srv.Close()
	db, _ = sqlite.Open(t.Context(), dbPath, nil)
	db.Enroll(t.Context(), store.Enrollment{User: "bob", TOTPSecret: []byte("sealed")})
	db.Close()
	if err := Run(t.Context(), []string{"users", "reset", "-user", "bob", "-config", cfgPath}, io.Discard, io.Discard, noEnv, nil); err != nil {
		t.Fatalf("reset with the webhook down: %v", err)
	}
	raw, _ := os.ReadFile(auditPath)
	if !strings.Contains(string(raw), `"event":"enrollment_webhook_failed"`) || strings.Contains(string(raw), hook.secret) {
		t.Errorf("audit file after a failed webhook:\n%s", raw)
	}
}
