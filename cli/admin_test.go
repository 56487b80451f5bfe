package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/internal/testsvc"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/redis"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

// adminConfig writes a config whose keys come from the environment, as in
// production, and returns its path.
func adminConfig(t *testing.T, storeYAML string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte(`
upstream: {url: "http://127.0.0.1:1"}
session_cookies: [s]
# Names are compared case-insensitively by this app: admin commands
# find "Alice" as the gateway filed it, "alice".
login: {user: {normalize: [nfkc, trim, casefold]}}
gate: {keys: ["${VESTIBULE_COOKIE_KEY}"]}
secrets: {encryption_keys: ["${VESTIBULE_ENCRYPTION_KEY}"]}
sms: {vonage: {api_key: "${VONAGE_KEY}", api_secret: "${VONAGE_SECRET}"}}
store: `+storeYAML+`
`), 0o600)
	return p
}

// TestAdminCommandsNeedNoKeys: no administrator command asks for the
// cookie or encryption keys (or the SMS provider's secrets).
func TestAdminCommandsNeedNoKeys(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "v.db")
	cfg := adminConfig(t, `{sqlite: "`+db+`"}`)
	lite, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	lite.Enroll(t.Context(), store.Enrollment{User: "alice", TOTPSecret: []byte("sealed")})
	lite.Close()
	for _, args := range [][]string{
		{"users", "list"},
		{"users", "show", "alice"},
		{"users", "recovery-codes", "-user", "alice"},
		{"devices", "revoke", "-user", "alice"},
		{"ips", "list"},
		{"ips", "unlock", "192.0.2.1"},
		{"users", "reset", "-user", "alice"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := Run(t.Context(), append(args, "-config", cfg), &out, &errOut, noEnv, nil); err != nil {
				t.Fatalf("without keys in the environment: %v\n%s", err, errOut.String())
			}
		})
	}
	// The two commands that touch a sealed phone number need the
	// encryption key, and only it, and say so.
	for _, args := range [][]string{
		{"users", "unlock", "-user", "alice"},
		{"users", "set-phone", "-user", "alice", "-number", "+447400123456"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			err := Run(t.Context(), append(args, "-config", cfg), io.Discard, io.Discard, noEnv, nil)
			if err == nil || !strings.Contains(err.Error(), "VESTIBULE_ENCRYPTION_KEY") {
				t.Fatalf("without the encryption key: %v", err)
			}
			enc := func(name string) (string, bool) {
				if name == "VESTIBULE_ENCRYPTION_KEY" {
					return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), true
				}
				return "", false
			}
			if err := Run(t.Context(), append(args, "-config", cfg), io.Discard, io.Discard, enc, nil); err != nil {
				t.Fatalf("with only the encryption key: %v", err)
			}
		})
	}
	// Serving still needs them, and says which.
	err = Run(t.Context(), []string{"config", "check", "-config", cfg}, io.Discard, io.Discard, noEnv, nil)
	if err == nil || !strings.Contains(err.Error(), "VESTIBULE_COOKIE_KEY") {
		t.Fatalf("config check without keys: %v", err)
	}
}

// TestConfigCheckMissingKeySaysHowToMakeOne: a missing key is not answered
// with "${NAME:-default}" but with how to generate and set it.
func TestConfigCheckMissingKeySaysHowToMakeOne(t *testing.T) {
	cfg := adminConfig(t, `{sqlite: v.db}`)
	err := Run(t.Context(), []string{"config", "check", "-config", cfg}, io.Discard, io.Discard, noEnv, nil)
	if err == nil {
		t.Fatal("config check passed without keys")
	}
	msg := err.Error()
	for _, want := range []string{"vestibule keys generate", "VESTIBULE_COOKIE_KEY=<key>", "VESTIBULE_ENCRYPTION_KEY=<key>", "gate.keys_file", "VONAGE_SECRET is not set: it holds a secret"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "${VESTIBULE_COOKIE_KEY:-default}") || strings.Contains(msg, "${VONAGE_SECRET:-default}") {
		t.Errorf("suggests a default for a secret:\n%s", msg)
	}
}

// TestIPsListAndUnlock: bans of addresses are listed and lifted on each
// ephemeral store an administrator can reach; memory says it can't.
func TestIPsListAndUnlock(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml func(t *testing.T) string
		open func(t *testing.T, yaml string) store.Counters
	}{
		{"sqlite", func(t *testing.T) string { return `{sqlite: "` + filepath.Join(t.TempDir(), "v.db") + `"}` },
			func(t *testing.T, cfgPath string) store.Counters {
				cfg, _ := config.LoadWithout(cfgPath, noEnv, "gate", "secrets", "sms")
				db, err := sqlite.Open(t.Context(), cfg.Store.SQLite, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				e, _ := db.Ephemeral(t.Context())
				return e
			}},
		{"redis", func(t *testing.T) string {
			return `{sqlite: "` + filepath.Join(t.TempDir(), "v.db") + `", redis: "` + testsvc.Redis(t) + `", redis_prefix: "` + testsvc.RandomName("ips") + `:"}`
		}, func(t *testing.T, cfgPath string) store.Counters {
			cfg, _ := config.LoadWithout(cfgPath, noEnv, "gate", "secrets", "sms")
			rs, err := redis.Open(t.Context(), redis.Options{URL: cfg.Store.Redis, Prefix: cfg.Store.RedisPrefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rs.Close() })
			return rs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := adminConfig(t, tc.yaml(t))
			run := func(args ...string) (string, error) {
				var out bytes.Buffer
				err := Run(t.Context(), append(args, "-config", cfg), &out, io.Discard, noEnv, nil)
				return out.String(), err
			}
			if out, err := run("ips", "list"); err != nil || !strings.Contains(out, "no address is banned") {
				t.Fatalf("empty list: %q %v", out, err)
			}
			c := tc.open(t, cfg)
			until := time.Now().Add(time.Hour)
			c.Ban(t.Context(), "ip:192.0.2.7", until)
			c.Ban(t.Context(), "ip:2001:db8::1", until)
			c.Ban(t.Context(), "user:alice", until)
			c.Hit(t.Context(), "ip:192.0.2.7", time.Now(), time.Hour)
			out, err := run("ips", "list")
			if err != nil || !strings.Contains(out, "192.0.2.7") || !strings.Contains(out, "2001:db8::1") || strings.Contains(out, "alice") {
				t.Fatalf("ips list: %q %v", out, err)
			}
			if out, err := run("ips", "unlock", "192.0.2.7"); err != nil || !strings.Contains(out, "lifted") {
				t.Fatalf("ips unlock: %q %v", out, err)
			}
			if _, banned, _ := c.BannedUntil(t.Context(), "ip:192.0.2.7", time.Now()); banned {
				t.Fatal("still banned after ips unlock")
			}
			if n, _ := c.Hit(t.Context(), "ip:192.0.2.7", time.Now(), time.Hour); n != 1 {
				t.Errorf("failed attempts not forgotten: count %d", n)
			}
			if _, banned, _ := c.BannedUntil(t.Context(), "ip:2001:db8::1", time.Now()); !banned {
				t.Fatal("another address was unlocked")
			}
			if out, err := run("ips", "unlock", "[2001:db8:0::1]"); err != nil || !strings.Contains(out, "2001:db8::1: ban") {
				t.Fatalf("ips unlock of a non-canonical IPv6 spelling: %q %v", out, err)
			}
			if _, err := run("ips", "unlock", "not-an-ip"); err == nil {
				t.Fatal("ips unlock accepted a non-address")
			}
		})
	}
	t.Run("memory", func(t *testing.T) {
		cfg := adminConfig(t, `{sqlite: v.db, ephemeral: memory}`)
		err := Run(t.Context(), []string{"ips", "list", "-config", cfg}, io.Discard, io.Discard, noEnv, nil)
		if err == nil || !strings.Contains(err.Error(), "store.ephemeral: memory") {
			t.Fatalf("memory: %v", err)
		}
	})
}

// TestResetAndRevokeEndSessions: users reset and devices revoke write the
// user's revocation where the running gateways read it.
func TestResetAndRevokeEndSessions(t *testing.T) {
	for _, cmd := range [][]string{{"users", "reset"}, {"devices", "revoke"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "v.db")
			cfg := adminConfig(t, `{sqlite: "`+db+`"}`)
			lite, _ := sqlite.Open(t.Context(), db, nil)
			lite.Enroll(t.Context(), store.Enrollment{User: "alice", TOTPSecret: []byte("sealed")})
			lite.Close()
			before := time.Now()
			var out bytes.Buffer
			if err := Run(t.Context(), append(cmd, "-config", cfg, "-user", "Alice"), &out, io.Discard, noEnv, nil); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "open sessions ended") {
				t.Errorf("output: %s", out.String())
			}
			lite, _ = sqlite.Open(t.Context(), db, nil)
			defer lite.Close()
			e, _ := lite.Ephemeral(t.Context())
			at, ok := e.RevokedAt(gate.UserKey("alice"))
			if !ok || at.Before(before) {
				t.Fatalf("alice's revocation: %v %v", at, ok)
			}
			if _, ok := e.RevokedAt(gate.UserKey("bob")); ok {
				t.Fatal("bob revoked too")
			}
		})
	}
}

// TestAdminHelp: -h names the command and shows only its flags.
func TestAdminHelp(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []string
		notWant []string
	}{
		{[]string{"devices", "revoke", "-h"}, []string{"devices revoke", "-user", "-config"}, []string{"-number", "revoke-devices"}},
		{[]string{"users", "reset", "-h"}, []string{"users reset", "-user"}, []string{"-number"}},
		{[]string{"users", "set-phone", "-h"}, []string{"users set-phone", "-number"}, nil},
		{[]string{"users", "list", "-h"}, []string{"users list", "-config"}, []string{"-user", "-number"}},
		{[]string{"ips", "unlock", "-h"}, []string{"vestibule ips unlock", "ADDR"}, []string{"-user"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var errOut bytes.Buffer
			Run(t.Context(), tc.args, io.Discard, &errOut, noEnv, nil)
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("lacks %q:\n%s", w, errOut.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(errOut.String(), w) {
					t.Errorf("shows %q:\n%s", w, errOut.String())
				}
			}
		})
	}
}

// TestListenFromEnvironment: VESTIBULE_LISTEN and VESTIBULE_ADMIN_LISTEN
// win over any config's addresses, and a clash names what to set.
func TestListenFromEnvironment(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte(`
listen: 127.0.0.1:0
upstream: {url: "http://127.0.0.1:1"}
session_cookies: [s]
gate: {keys: ["`+key+`"]}
secrets: {encryption_keys: ["`+key+`"]}
store: {sqlite: "`+filepath.Join(t.TempDir(), "v.db")+`"}
admin: {listen: "127.0.0.1:0"}
`), 0o600)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"admin address taken", map[string]string{"VESTIBULE_ADMIN_LISTEN": taken.Addr().String()},
			[]string{"admin.listen " + taken.Addr().String() + " is already in use", "VESTIBULE_ADMIN_LISTEN", "admin.listen in the config"}},
		{"public address taken", map[string]string{"VESTIBULE_LISTEN": taken.Addr().String()},
			[]string{"listen " + taken.Addr().String() + " is already in use", "VESTIBULE_LISTEN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err := Run(ctx, []string{"serve", "-config", p}, io.Discard, io.Discard, env, nil)
			if err == nil {
				t.Fatal("serve started on a taken address")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// TestUsersShowListsDevices: users show lists each remembered device with
// its last address and browser, and whether it still skips the code.
func TestUsersShowListsDevices(t *testing.T) {
	db := filepath.Join(t.TempDir(), "v.db")
	cfg := adminConfig(t, `{sqlite: "`+db+`"}`)
	lite, _ := sqlite.Open(t.Context(), db, nil)
	enrolled := time.Now().Add(-time.Hour)
	lite.Enroll(t.Context(), store.Enrollment{User: "alice", TOTPSecret: []byte("sealed"), CreatedAt: enrolled})
	lite.SeeDevice(t.Context(), store.Device{User: "alice", ID: "0a0b0c0d0e0f", LastSeen: enrolled.Add(time.Minute), LastIP: "192.0.2.1", UserAgent: "Firefox\x1b[2J"})
	lite.SeeDevice(t.Context(), store.Device{User: "alice", ID: "0a0b0c0d0e0f", LastSeen: enrolled.Add(30 * time.Minute), LastIP: "198.51.100.4", UserAgent: "Other Browser"})
	lite.SeeDevice(t.Context(), store.Device{User: "alice", ID: "111111111111", LastSeen: enrolled.Add(-time.Minute), LastIP: "192.0.2.9", UserAgent: "Old\x1b[2J"})
	lite.Close()
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"users", "show", "alice", "-config", cfg}, &out, io.Discard, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"remembered devices:  2", "bearer token", "0a0b0c0d0e0f", "198.51.100.4", "Other Browser", "active", "111111111111", "void"} {
		if !strings.Contains(s, want) {
			t.Errorf("users show lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "\x1b") {
		t.Error("a control character from a user agent reached the terminal")
	}
}

// TestAdminNamesAsTheGatewayFilesThem: admin commands read NAME the way the
// gateway files users (login.user.normalize): for an app with
// case-sensitive names, "Alice" and "alice" are two accounts.
func TestAdminNamesAsTheGatewayFilesThem(t *testing.T) {
	db := filepath.Join(t.TempDir(), "v.db")
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte(`
upstream: {url: "http://127.0.0.1:1"}
session_cookies: [s]
store: {sqlite: "`+db+`"}
`), 0o600)
	lite, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	lite.Enroll(t.Context(), store.Enrollment{User: "Alice", TOTPSecret: []byte("sealed")})
	lite.Close()
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"Alice", true}, {" Ａlice ", true}, {"alice", false}} {
		err := Run(t.Context(), []string{"users", "show", "-config", p, "-user", tc.name}, io.Discard, io.Discard, noEnv, nil)
		if (err == nil) != tc.ok {
			t.Errorf("users show %q: %v, want found %v", tc.name, err, tc.ok)
		}
	}
}
