package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	key32  = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	short  = base64.StdEncoding.EncodeToString([]byte("too-short"))
	secret = "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1uZXZlci1sZWFr" // must never be echoed
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const minimal = `
upstream:
  url: http://127.0.0.1:9000
session_cookies: [sessionid]
gate:
  keys: ["${GATE_KEY}", "${GATE_KEY_OLD:-}"]
secrets:
  encryption_keys: ["${ENC_KEY}"]
`

func TestMinimalConfigGetsDefaults(t *testing.T) {
	c, err := ParseWith([]byte(minimal), "t.yaml", env(map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Gate.Keys) != 1 {
		t.Errorf("empty optional key not dropped: %d keys", len(c.Gate.Keys))
	}
	if c.Login.HoldTTL != 5*time.Minute || c.Login.MaxAttempts != 5 || c.Prefix != "/.vestibule/" {
		t.Errorf("defaults not applied: %+v", c.Login)
	}
	if c.Account.ReauthMaxAge != 5*time.Minute {
		t.Errorf("account.reauth_max_age default = %s, want 5m", c.Account.ReauthMaxAge)
	}
	if got := c.Login.Routes[0]; got.Path != "/login" || strings.Join(got.Methods, ",") != "POST" {
		t.Errorf("login route default = %+v", got)
	}
	if c.Secure() {
		t.Error("http public_url reported secure")
	}
	keys, err := c.GateKeys()
	if err != nil || len(keys) != 1 || len(keys[0]) != 32 {
		t.Fatalf("GateKeys = %d keys, %v", len(keys), err)
	}
}

func TestMethodDefaultsAndCase(t *testing.T) {
	c, err := ParseWith([]byte(minimal+`
logout:
  routes: [{path: /logout}, {path: /signout, methods: [post]}]
bypass:
  - prefix: /static/
`), "t.yaml", env(map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Logout.Routes[0].Methods, ","); got != "GET,POST" {
		t.Errorf("logout default methods = %s", got)
	}
	if got := strings.Join(c.Logout.Routes[1].Methods, ","); got != "POST" {
		t.Errorf("explicit methods = %s", got)
	}
	if got := strings.Join(c.Bypass[0].Methods, ","); got != "GET,HEAD" {
		t.Errorf("bypass default methods = %s", got)
	}
}

// TestParseErrors: every error names the key and, where yaml has one, the line.
func TestParseErrors(t *testing.T) {
	vars := map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", "upstrem:\n  url: x\n", []string{"upstrem (line 1)", "unknown key", "upstream"}},
		{"unknown nested key", "login:\n  hold_tll: 5m\n", []string{"login.hold_tll (line 2)", "hold_ttl"}},
		{"bad duration", "login:\n  hold_ttl: five\n", []string{"login.hold_ttl (line 2)", "duration", `"five"`}},
		{"bad int", "login:\n  max_attempts: many\n", []string{"login.max_attempts (line 2)", "whole number"}},
		{"bad bool", "upstream:\n  preserve_host: maybe\n", []string{"upstream.preserve_host (line 2)", "true or false"}},
		{"list expected", "session_cookies: sessionid\n", []string{"session_cookies (line 1)", "list"}},
		{"mapping expected", "login: yes\n", []string{"login (line 1)", "mapping"}},
		{"unset variable", "gate:\n  keys: [\"${NOPE}\"]\n", []string{"gate.keys[0] (line 2)", "NOPE is not set"}},
		{"bad variable name", "app_name: ${1X}\n", []string{"app_name (line 1)", "invalid variable name"}},
		{"unterminated variable", "app_name: ${X\n", []string{"app_name (line 1)", "unterminated"}},
		{"duplicate key", "listen: a:1\nlisten: b:2\n", []string{"listen"}},
		{"syntax", "login: [\n", []string{"t.yaml"}},
		{"secret in wrong type is hidden", "gate:\n  max_age: " + secret + "\n", []string{"gate.max_age (line 2)"}},
		{"secret in wrong type is hidden", "secrets:\n  encryption_keys: {a: " + secret + "}\n", []string{"secrets.encryption_keys (line 2)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWith([]byte(tc.yaml), "t.yaml", env(vars))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error echoes a secret: %q", err)
			}
		})
	}
}

func TestExpansion(t *testing.T) {
	vars := map[string]string{"GATE_KEY": key32, "ENC_KEY": key32, "TTL": "2m", "N": "3", "NAME": "Acme", "EVIL": "x\nlisten: 0.0.0.0:1"}
	c, err := ParseWith([]byte(minimal+`
app_name: "${NAME} $$5 ${MISSING:-Portal}"
login:
  hold_ttl: ${TTL}
  max_attempts: ${N}
store:
  sqlite: "${EVIL}"
`), "t.yaml", env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if c.AppName != "Acme $5 Portal" {
		t.Errorf("app_name = %q", c.AppName)
	}
	if c.Login.HoldTTL != 2*time.Minute || c.Login.MaxAttempts != 3 {
		t.Errorf("expanded typed values: %v %d", c.Login.HoldTTL, c.Login.MaxAttempts)
	}
	// A value can't change the document's structure.
	if c.Listen != "127.0.0.1:8080" || c.Store.SQLite != vars["EVIL"] {
		t.Errorf("a variable's value changed the structure: listen=%q", c.Listen)
	}
	// Keys are not expanded.
	if _, err := ParseWith([]byte("${X}: 1\n"), "t.yaml", env(map[string]string{"X": "listen"})); err == nil {
		t.Error("a variable in a key was expanded")
	}
}

func TestValidate(t *testing.T) {
	base := func() *Config {
		c, err := ParseWith([]byte(minimal), "t.yaml", env(map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"no gate key", func(c *Config) { c.Gate.Keys = nil }, "gate.keys: set at least one key"},
		{"short gate key", func(c *Config) { c.Gate.Keys = []string{short} }, "gate.keys[0]: too short"},
		{"gate key not base64", func(c *Config) { c.Gate.Keys = []string{secret + "!!"} }, "gate.keys[0]: not base64"},
		{"no encryption key", func(c *Config) { c.Secrets.EncryptionKeys = nil }, "secrets.encryption_keys: set at least one"},
		{"encryption key size", func(c *Config) {
			c.Secrets.EncryptionKeys = []string{base64.StdEncoding.EncodeToString(make([]byte, 48))}
		}, "secrets.encryption_keys[0]: want exactly 32 bytes"},
		{"upstream", func(c *Config) { c.Upstream.URL = "localhost:9000" }, "upstream.url"},
		{"upstream credentials", func(c *Config) { c.Upstream.URL = "http://u:p@localhost" }, "upstream.url: must not carry credentials"},
		{"public url path", func(c *Config) { c.PublicURL = "https://x.example/app" }, "public_url"},
		{"public url scheme", func(c *Config) { c.PublicURL = "ftp://x" }, "public_url"},
		{"listen", func(c *Config) { c.Listen = "8080" }, "listen"},
		{"prefix", func(c *Config) { c.Prefix = "/gate" }, "prefix"},
		{"no session cookies", func(c *Config) { c.SessionCookies = nil }, "session_cookies"},
		{"bad cookie name", func(c *Config) { c.SessionCookies = []string{"a b"} }, "session_cookies[0]"},
		{"gate cookie clash", func(c *Config) { c.Gate.CookieName = "sessionid" }, "gate.cookie_name: must differ"},
		{"login path", func(c *Config) { c.Login.Routes[0].Path = "login" }, "login.routes[0].path"},
		{"login under prefix", func(c *Config) { c.Login.Routes[0].Path = "/.vestibule/x" }, "login.routes[0].path: must not be under"},
		{"method", func(c *Config) { c.Login.Routes[0].Methods = []string{"FETCH"} }, `login.routes[0].methods: unknown HTTP method "FETCH"`},
		{"no user source", func(c *Config) { c.Login.User = User{} }, "login.user"},
		{"status", func(c *Config) { c.Login.Success.Status = []int{99} }, "login.success.status[0]"},
		{"header regexp", func(c *Config) { c.Login.Success.Headers = map[string]string{"Location": "("} }, "login.success.headers.Location"},
		{"hold ttl", func(c *Config) { c.Login.HoldTTL = time.Second }, "login.hold_ttl: want 30s to 1h0m0s"},
		{"attempts", func(c *Config) { c.Login.MaxAttempts = 0 }, "login.max_attempts"},
		{"body", func(c *Config) { c.Login.MaxBodyBytes = 10 }, "login.max_body_bytes"},
		{"bypass two kinds", func(c *Config) { c.Bypass = []Bypass{{Path: "/a", Prefix: "/b"}} }, "bypass[0]: set exactly one"},
		{"bypass everything", func(c *Config) { c.Bypass = []Bypass{{Prefix: "/"}} }, "bypass[0].prefix"},
		{"bypass unanchored", func(c *Config) { c.Bypass = []Bypass{{Pattern: "static"}} }, "bypass[0].pattern: must be anchored"},
		{"bypass prefix", func(c *Config) { c.Bypass = []Bypass{{Prefix: "/.vestibule/x"}} }, "bypass[0]: must not cover"},
		{"gate max age", func(c *Config) { c.Gate.MaxAge = 0 }, "gate.max_age"},
		{"store", func(c *Config) { c.Store.SQLite = " " }, "store.sqlite"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"timeouts", func(c *Config) { c.Upstream.DialTimeout = 0 }, "upstream.dial_timeout"},
		{"header bytes", func(c *Config) { c.Server.MaxHeaderBytes = 10 }, "server.max_header_bytes"},
		{"log sender not allowed", func(c *Config) { c.SMS.Enabled, c.SMS.Sender = true, "log" }, "sms.sender: \"log\" writes live codes"},
		{"unknown sender", func(c *Config) { c.SMS.Enabled, c.SMS.Sender = true, "pigeon" }, "sms.sender: want vonage"},
		{"twilio incomplete", func(c *Config) { c.SMS.Enabled, c.SMS.Sender = true, "twilio" }, "sms.twilio: set account_sid"},
		{"vonage base url path", func(c *Config) {
			c.SMS.Enabled, c.SMS.Sender, c.SMS.BaseURL = true, "vonage", "https://rest.nexmo.com/sms/json"
			c.SMS.Vonage.APIKey, c.SMS.Vonage.APISecret, c.SMS.Vonage.From = "abcd1234", "sekret12345678", "V"
		}, "sms.base_url: must be the SMS API's base, https://rest.nexmo.com (or https://rest.nexmo.com/sms)"},
		{"vonage api key", func(c *Config) {
			c.SMS.Enabled, c.SMS.Sender = true, "vonage"
			c.SMS.Vonage.APIKey, c.SMS.Vonage.APISecret, c.SMS.Vonage.From = "abcd12345", "sekret12345678", "V"
		}, "sms.vonage.api_key: want the 8-character API key"},
		{"number type", func(c *Config) {
			c.SMS.Enabled, c.SMS.Sender, c.SMS.AllowNumberTypes = true, "log", []string{"satellite"}
		}, `sms.allow_number_types[0]: want one of non_geographic`},
		{"webhook secret", func(c *Config) {
			c.SMS.Enabled, c.SMS.Sender, c.SMS.Webhook.URL, c.SMS.Webhook.Secret = true, "webhook", "https://x", "short"
		}, "sms.webhook.secret"},
		{"country code", func(c *Config) {
			c.SMS.Enabled, c.SMS.Sender, c.SMS.AllowLogSender, c.SMS.AllowedCountries = true, "log", true, []string{"gb"}
		}, "sms.allowed_countries[0]"},
		{"two required factors", func(c *Config) {
			c.SMS.Enabled, c.SMS.Sender, c.SMS.AllowLogSender, c.Factors.TOTP, c.Factors.SMS = true, "log", true, "required", "required"
		}, "factors: only one factor can be required"},
		{"sms required but off", func(c *Config) { c.Factors.SMS = "required" }, "factors.sms: requiring text messages needs sms.enabled"},
		{"parse mount", func(c *Config) { c.Parse.Enabled, c.Parse.Mount = true, "/" }, "parse.mount"},
		{"parse mount under prefix", func(c *Config) { c.Parse.Enabled, c.Parse.Mount = true, "/.vestibule/parse" }, "parse.mount"},
		{"parse graphql", func(c *Config) { c.Parse.Enabled, c.Parse.GraphQLPath = true, "graphql" }, "parse.graphql_path"},
		{"parse master network", func(c *Config) { c.Parse.Enabled, c.Parse.MasterKeyFrom = true, []string{"10.0.0.0/33"} }, "parse.master_key_from[0]"},
		{"parse loginAs without master networks", func(c *Config) { c.Parse.Enabled, c.Parse.AllowLoginAs = true, true }, "parse.allow_login_as"},
		{"parse signup", func(c *Config) { c.Parse.Enabled, c.Parse.Signup = true, "open" }, "parse.signup"},
		{"parse anonymous", func(c *Config) { c.Parse.Enabled, c.Parse.Anonymous = true, "allow" }, "parse.anonymous"},
		{"parse cache", func(c *Config) { c.Parse.Enabled, c.Parse.TokenCache = true, time.Hour }, "parse.token_cache"},
		{"template without code", func(c *Config) {
			c.SMS.Enabled, c.SMS.Sender, c.SMS.AllowLogSender, c.SMS.Template = true, "log", true, "hello"
		}, "sms.template"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), key32) {
				t.Errorf("error echoes a key: %q", err)
			}
		})
	}
	// All problems at once.
	c := base()
	c.Log.Level, c.Log.Format = "loud", "xml"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "2 problems") {
		t.Errorf("want both problems listed, got %v", err)
	}
	if err := base().Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
	// Parse mode needs no cookie names or login routes.
	c = base()
	c.SessionCookies, c.Login.Routes, c.Parse.Enabled = nil, nil, true
	c.Parse.MasterKeyFrom = []string{"10.0.0.0/8", "192.0.2.7", "::1"}
	if err := c.Validate(); err != nil {
		t.Errorf("valid Parse config rejected: %v", err)
	}
}

func TestKeysFilesAndLoad(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gate.keys"), []byte("# rotated 2026-11\n"+key32+"\n\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "enc.keys"), []byte(key32+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "empty.keys"), []byte("# nothing\n"), 0o600)
	write := func(extra string) string {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte("upstream: {url: 'http://127.0.0.1:1'}\nsession_cookies: [s]\n"+extra), 0o600)
		return p
	}
	c, err := LoadWith(write("gate: {keys_file: gate.keys}\nsecrets: {encryption_keys_file: enc.keys}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Gate.Keys) != 1 || len(c.Secrets.EncryptionKeys) != 1 {
		t.Fatalf("keys from files: %d %d", len(c.Gate.Keys), len(c.Secrets.EncryptionKeys))
	}
	if _, err := LoadWith(write("gate: {keys_file: empty.keys}\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "gate.keys_file") {
		t.Errorf("empty keys file: %v", err)
	}
	if _, err := LoadWith(write("gate: {keys_file: missing.keys}\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "gate.keys_file") {
		t.Errorf("missing keys file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "redis.url"), []byte("redis://:pw@127.0.0.1:6379/0\n"), 0o600)
	c, err = LoadWith(write("gate: {keys_file: gate.keys}\nsecrets: {encryption_keys_file: enc.keys}\nstore: {redis_file: redis.url}\n"), env(nil))
	if err != nil || c.Store.Redis != "redis://:pw@127.0.0.1:6379/0" {
		t.Fatalf("redis_file: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWith(filepath.Join(dir, "nope.yaml"), env(nil)); err == nil {
		t.Error("missing config file accepted")
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := ParseWith(nil, "t.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != Defaults().Listen {
		t.Errorf("listen = %q", c.Listen)
	}
}

// TestShippedConfig: the top-level config.yaml parses and validates with its
// secrets supplied, and fails naming them without.
func TestShippedConfig(t *testing.T) {
	data, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseWith(data, "config.yaml", env(map[string]string{"VESTIBULE_COOKIE_KEY": key32, "VESTIBULE_ENCRYPTION_KEY": key32}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Upstream.URL != "demo" {
		t.Errorf("shipped config's upstream = %q, want demo", c.Upstream.URL)
	}
	_, err = ParseWith(data, "config.yaml", env(nil))
	if err == nil || !strings.Contains(err.Error(), "VESTIBULE_COOKIE_KEY") || !strings.Contains(err.Error(), "VESTIBULE_ENCRYPTION_KEY") {
		t.Errorf("missing secrets not both named: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("login:\n  routes: [{path: /x, methods: [GET]}]\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Add([]byte("app_name: ${A:-${B}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseWith(data, "f.yaml", env(map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		_ = c.Validate() // must not panic
	})
}
