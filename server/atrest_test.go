package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/internal/testsvc"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/store/sealed"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

// storeSetup is one way of configuring the stores, with how to read what
// they hold, raw, and the ids of the held logins in them.
type storeSetup struct {
	name   string
	mutate func(t *testing.T, c *config.Config)
	dump   func(t *testing.T, srv *Server, c *config.Config) (raw string, held []string)
}

func atRestSetups() []storeSetup {
	return []storeSetup{
		{"sqlite", func(t *testing.T, c *config.Config) { c.Store.Ephemeral = "sqlite" },
			func(t *testing.T, _ *Server, c *config.Config) (string, []string) {
				return dumpSQLite(t, c.Store.SQLite)
			}},
		{"memory+sqlite", func(t *testing.T, c *config.Config) { c.Store.Ephemeral = "memory" },
			func(t *testing.T, srv *Server, c *config.Config) (string, []string) {
				var buf bytes.Buffer
				if err := srv.Ephemeral().(*sealed.Ephemeral).Unwrap().(*memory.Store).Dump(&buf); err != nil {
					t.Fatal(err)
				}
				var d struct{ Held []store.Held }
				json.Unmarshal(buf.Bytes(), &d)
				var ids []string
				for _, h := range d.Held {
					ids = append(ids, h.ID)
				}
				durable, _ := dumpSQLite(t, c.Store.SQLite)
				return buf.String() + durable, ids
			}},
		{"redis+postgres", func(t *testing.T, c *config.Config) {
			c.Store.Redis, c.Store.RedisPrefix = testsvc.Redis(t), testsvc.RandomName("atrest")+":"
			c.Store.Postgres = testsvc.PostgresDatabase(t)
		}, func(t *testing.T, _ *Server, c *config.Config) (string, []string) {
			raw, ids := dumpRedis(t, c.Store.Redis, c.Store.RedisPrefix)
			return raw + dumpPostgres(t, c.Store.Postgres), ids
		}},
	}
}

// TestSecretsAtRest: after a login is held and a text message sent (and
// an earlier one enrolled the number), what every store holds, read raw,
// has no app cookie value, Parse session token, code or full phone number;
// through the gateway the held logins still open.
func TestSecretsAtRest(t *testing.T) {
	for _, s := range atRestSetups() {
		t.Run(s.name+"/cookies", func(t *testing.T) {
			f := newFakeTwilio(t)
			var cfg *config.Config
			e := smsEnv(t, f, func(c *config.Config) { s.mutate(t, c); cfg = c })
			b := e.browser()
			b.login("alice", "wonderland")
			must(t, b.sendSMS(), http.StatusSeeOther)
			first := f.lastCode(t, "+447400123456")
			p := b.enterSMS(first)
			must(t, p, http.StatusOK)
			b.expectReleased(b.post("/.vestibule/release", map[string][]string{"csrf": {csrf(t, p)}}))
			released := b.cookie("demo_session")
			b.get("/logout")
			e.clock.Advance(time.Minute)
			b2 := e.browser()
			b2.login("alice", "wonderland")
			must(t, b2.sendSMS(), http.StatusSeeOther)
			pending := f.lastCode(t, "+447400123456")
			checkAtRest(t, s, e.srv, cfg, []string{first, pending, released}, false)
		})
		t.Run(s.name+"/parse", func(t *testing.T) {
			var cfg *config.Config
			e := newParseEnv(t, func(c *config.Config) { s.mutate(t, c); cfg = c })
			ch := e.expectChallenge(e.login("alice", "alice-pw"))
			if r := e.api("enroll/sms", map[string]any{"challenge": ch}); r.status != 200 {
				t.Fatalf("enroll/sms: %d %s", r.status, r.raw)
			}
			first := e.sms.lastCode(t, "+447400123456")
			if r := e.api("enroll/confirm", map[string]any{"challenge": ch, "code": first}); r.status != 200 {
				t.Fatalf("confirm: %d %s", r.status, r.raw)
			}
			tok := e.expectReleased(e.api("verify", map[string]any{"challenge": ch}), "alice")
			ch2 := e.expectChallenge(e.login("alice", "alice-pw"))
			if r := e.api("sms", map[string]any{"challenge": ch2}); r.status != 200 {
				t.Fatalf("api/sms: %d %s", r.status, r.raw)
			}
			pending := e.sms.lastCode(t, "+447400123456")
			checkAtRest(t, s, e.srv, cfg, []string{first, pending, tok}, true)
		})
	}
}

// checkAtRest reads the stores raw and looks for every secret: the given
// ones, and those of the held logins (opened through the gateway's store).
func checkAtRest(t *testing.T, s storeSetup, srv *Server, cfg *config.Config, secrets []string, parse bool) {
	t.Helper()
	raw, ids := s.dump(t, srv, cfg)
	if len(ids) == 0 {
		t.Fatal("no held login in the store")
	}
	withSMS := 0
	for _, id := range ids {
		h, err := srv.Ephemeral().Held(context.Background(), id)
		if err != nil {
			t.Fatalf("held login %s does not open through the gateway: %v", id, err)
		}
		if len(h.SMSHash) > 0 {
			withSMS++
			if h.Phone != "+447400123456" {
				t.Errorf("held login's number opens as %q", h.Phone)
			}
		}
		for _, v := range h.Session {
			secrets = append(secrets, v)
		}
		for _, sc := range h.Response.Header.Values("Set-Cookie") {
			if c, err := http.ParseSetCookie(sc); err == nil && len(c.Value) >= 8 {
				secrets = append(secrets, c.Value)
			}
		}
		var body map[string]any
		if json.Unmarshal(h.Response.Body, &body) == nil {
			if tok, _ := body["sessionToken"].(string); tok != "" {
				secrets = append(secrets, tok)
			}
		}
	}
	if withSMS == 0 {
		t.Fatal("no held login with a text-message code")
	}
	if len(secrets) < 4 {
		t.Fatalf("too few secrets to look for: %q", secrets)
	}
	secrets = append(secrets, "+447400123456", "447400123456", "7400123456", "7400 123456")
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		if where := leaks(raw, sec); where != "" {
			t.Errorf("%q is in the store at rest (%s)", sec, where)
		}
	}
}

var reBase64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{12,}={0,2}`)

// leaks reports where secret appears in raw: as is, or inside a base64
// run (JSON encodes []byte so).
func leaks(raw, secret string) string {
	if i := strings.Index(raw, secret); i >= 0 {
		return fmt.Sprintf("as is: …%s…", raw[max(0, i-60):min(len(raw), i+len(secret)+20)])
	}
	for _, run := range reBase64Run.FindAllString(raw, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(run); err == nil && bytes.Contains(b, []byte(secret)) {
				return "base64 encoded"
			}
		}
	}
	return ""
}

func dumpSQLite(t *testing.T, path string) (string, []string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	tables, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	var ids []string
	for _, n := range names {
		rows, err := db.Query(`SELECT * FROM "` + n + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			fmt.Fprintf(&b, "%s:", n)
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, " %s=%v", cols[i], v)
				if n == "held" && cols[i] == "id" {
					ids = append(ids, fmt.Sprint(v))
				}
			}
			b.WriteString("\n")
		}
		rows.Close()
	}
	return b.String(), ids
}

func dumpRedis(t *testing.T, u, prefix string) (string, []string) {
	t.Helper()
	opt, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var ids []string
	for _, k := range keys {
		fmt.Fprintf(&b, "%s ", k)
		switch c.Type(ctx, k).Val() {
		case "string":
			b.WriteString(c.Get(ctx, k).Val())
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				fmt.Fprintf(&b, "%s=%s ", f, v)
			}
		case "zset":
			fmt.Fprint(&b, c.ZRangeWithScores(ctx, k, 0, -1).Val())
		case "set":
			fmt.Fprint(&b, c.SMembers(ctx, k).Val())
		case "list":
			fmt.Fprint(&b, c.LRange(ctx, k, 0, -1).Val())
		}
		b.WriteString("\n")
		if id, ok := strings.CutPrefix(k, prefix+"held:"); ok {
			ids = append(ids, id)
		}
	}
	return b.String(), ids
}

func dumpPostgres(t *testing.T, u string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	var b strings.Builder
	for _, n := range names {
		rows, err := conn.Query(ctx, `SELECT * FROM "`+n+`"`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, _ := rows.Values()
			fmt.Fprintf(&b, "%s:", n)
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, " %v", v)
			}
			b.WriteString("\n")
		}
		rows.Close()
	}
	if !strings.Contains(b.String(), "s1|+44 •••• ••3456|") {
		t.Fatalf("the PostgreSQL dump has no enrolled (sealed, masked) number:\n%s", b.String())
	}
	return b.String()
}

// TestClearPhonesSealedAtStart: numbers an earlier version stored in clear
// are sealed when the gateway starts, and still reach the user.
func TestClearPhonesSealedAtStart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "v.db")
	db, err := sqlite.Open(t.Context(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.SetPhone(t.Context(), "alice", "+447400123456", time.Now())
	db.Close()
	f := newFakeTwilio(t)
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, dbPath: dbPath, mutate: func(c *config.Config) {
		c.SMS.Enabled, c.SMS.Sender, c.SMS.BaseURL = true, "twilio", f.srv.URL
		c.SMS.Twilio.AccountSID, c.SMS.Twilio.AuthToken, c.SMS.Twilio.From = "ACtest", "token-test", "+15005550006"
	}})
	if raw, _ := dumpSQLite(t, dbPath); strings.Contains(raw, "7400123456") || !strings.Contains(e.logs.String(), "event=phones_sealed count=1") {
		t.Fatalf("number still in clear:\n%s", raw)
	}
	b := e.browser()
	b.login("alice", "wonderland")
	must(t, b.sendSMS(), http.StatusSeeOther)
	f.lastCode(t, "+447400123456")
}

// TestEncryptionKeyRotation: a login held and a code sent under one
// encryption key complete after a restart with a new first key (the old one
// kept second): the held session opens, the code still checks, the number
// still reads; what is written then is sealed under the new key.
func TestEncryptionKeyRotation(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, func(c *config.Config) { c.Store.Ephemeral = "sqlite" })
	b := e.browser()
	b.login("alice", "wonderland")
	must(t, b.sendSMS(), http.StatusSeeOther)
	p := b.enterSMS(f.lastCode(t, "+447400123456")) // enrolls the number under the old key
	must(t, p, http.StatusOK)
	b.expectReleased(b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}}))
	b.get("/logout")
	e.clock.Advance(time.Minute)
	b.login("alice", "wonderland")
	must(t, b.sendSMS(), http.StatusSeeOther)
	code := f.lastCode(t, "+447400123456")

	rotated := *e.cfg
	rotated.Secrets.EncryptionKeys = []string{key32(), testEncKey}
	e2 := *e
	e2.srv, e2.gw = startGateway(t, &rotated, e.clock, e.logs)
	b.e = &e2
	b.expectReleased(b.enterSMS(code))
	if got := b.whoami(); got != "alice" {
		t.Fatalf("whoami after rotation = %q", got)
	}
	// The number enrolled under the old key still reads (texts go to it).
	b.get("/logout")
	e.clock.Advance(time.Minute)
	b.login("alice", "wonderland")
	must(t, b.sendSMS(), http.StatusSeeOther)
	b.expectReleased(b.enterSMS(f.lastCode(t, "+447400123456")))
	if raw, _ := dumpSQLite(t, rotated.Store.SQLite); strings.Contains(raw, "7400123456") {
		t.Fatal("number in clear")
	}
}
