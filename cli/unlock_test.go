package cli

import (
	"bytes"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/internal/testsvc"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/redis"
	"github.com/vestibule-gw/vestibule/store/sealed"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

// TestUnlockClearsSMSLimits: `users unlock` lifts the user's ban and the
// text-message cooldown and caps (the enrolled number's too); `ips unlock`
// lifts an address's ban and text-message cap; on SQLite and on Redis.
func TestUnlockClearsSMSLimits(t *testing.T) {
	for _, backend := range []string{"sqlite", "redis"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			keyBytes := bytes.Repeat([]byte{9}, 32)
			key := base64.StdEncoding.EncodeToString(keyBytes)
			dbPath := filepath.Join(dir, "v.db")
			storeYAML := `{sqlite: "` + dbPath + `", ephemeral: sqlite}`
			db, err := sqlite.Open(ctx, dbPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var counters store.Counters
			if backend == "redis" {
				u, prefix := testsvc.Redis(t), testsvc.RandomName("unlock")+":"
				storeYAML = `{sqlite: "` + dbPath + `", redis: "` + u + `", redis_prefix: "` + prefix + `"}`
				rs, err := redis.Open(ctx, redis.Options{URL: u, Prefix: prefix})
				if err != nil {
					t.Fatal(err)
				}
				defer rs.Close()
				counters = rs
			} else {
				e, err := db.Ephemeral(ctx)
				if err != nil {
					t.Fatal(err)
				}
				counters = e
			}
			cfgPath := filepath.Join(dir, "c.yaml")
			os.WriteFile(cfgPath, []byte(`
upstream: {url: "http://127.0.0.1:1"}
session_cookies: [s]
gate: {keys: ["`+key+`"]}
secrets: {encryption_keys: ["`+key+`"]}
store: `+storeYAML+`
`), 0o600)
			s, _ := seal.New([][]byte{keyBytes}, nil)
			if err := sealed.NewDurable(db, s).SetPhone(ctx, "alice", "+447400123456", time.Now()); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			userKeys := append([]string{"user:alice"}, challenge.SMSUserCounters(s.Derive("sms-code"), "alice", "+447400123456")...)
			ipKeys := append([]string{"ip:192.0.2.7"}, challenge.SMSIPCounters("192.0.2.7")...)
			if len(userKeys) != 4 || len(ipKeys) != 2 {
				t.Fatalf("keys %v %v", userKeys, ipKeys)
			}
			for _, k := range append(userKeys, ipKeys...) {
				counters.Hit(ctx, k, now, time.Hour)
				counters.Hit(ctx, k, now, time.Hour)
				counters.Ban(ctx, k, now.Add(time.Hour))
			}
			cleared := func(keys []string, want bool) {
				t.Helper()
				for _, k := range keys {
					_, banned, _ := counters.BannedUntil(ctx, k, now)
					n, _ := counters.Hit(ctx, k, now, time.Hour)
					counters.Unhit(ctx, k, now)
					if want && (banned || n != 1) {
						t.Errorf("%s: banned %v, count %d after unlock", k, banned, n-1)
					}
					if !want && (!banned || n == 1) {
						t.Errorf("%s was cleared too", k)
					}
				}
			}
			var out bytes.Buffer
			if err := Run(ctx, []string{"users", "unlock", "-config", cfgPath, "-user", "alice"}, &out, io.Discard, noEnv, nil); err != nil {
				t.Fatal(err)
			}
			cleared(userKeys, true)
			cleared(ipKeys, false)
			if err := Run(ctx, []string{"ips", "unlock", "::ffff:192.0.2.7", "-config", cfgPath}, &out, io.Discard, noEnv, nil); err != nil {
				t.Fatal(err)
			}
			cleared(ipKeys, true)
			if !strings.Contains(out.String(), "192.0.2.7: ") || !strings.Contains(out.String(), "text-message cap forgotten") {
				t.Errorf("output: %s", out.String())
			}
			err = Run(ctx, []string{"ips", "unlock", "-config", cfgPath, "not-an-ip"}, &out, io.Discard, noEnv, nil)
			if err == nil || !strings.Contains(err.Error(), "192.0.2.10") {
				t.Errorf("bad address: %v", err)
			}
		})
	}
}
