package config

import (
	"strings"
	"testing"
	"time"
)

// TestSections: each bad key is reported by its own section's validator
// (and by no other), naming the key. A valid config passes every one.
func TestSections(t *testing.T) {
	base := func(t *testing.T) *Config {
		c, err := ParseWith([]byte(minimal), "t.yaml", env(map[string]string{"GATE_KEY": key32, "ENC_KEY": key32}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := []struct {
		section string // the sections entry that must report it
		mutate  func(c *Config)
		want    string // the problem, from its key on
	}{
		{"", func(c *Config) { c.Listen = "8080" }, `listen: want host:port such as 127.0.0.1:8080, got "8080"`},
		{"", func(c *Config) { c.AppName = " " }, "app_name: want a name of 1 to 64 characters"},
		{"", func(c *Config) { c.Server.TLSCertFile, c.Server.TLSKeyFile = "c.pem", "k.pem" }, "public_url: serving TLS (server.tls_cert_file) needs an https:// public_url"},
		{"admin", func(c *Config) { c.Admin.Listen = c.Listen }, "admin.listen: must differ from listen"},
		{"upstream", func(c *Config) { c.Upstream.MaxIdleConnsPerHost = 0 }, "upstream.max_idle_conns_per_host: want at least 1, got 0"},
		{"session_cookies", func(c *Config) { c.SessionCookies = []string{"a;b"} }, `session_cookies[0]: want a cookie name`},
		{"login", func(c *Config) { c.Login.Routes = nil }, "login.routes: name at least one login route"},
		{"login", func(c *Config) { c.Login.Routes[0].Query = map[string]string{"do": ""} }, "login.routes[0].query: want parameter: value pairs"},
		{"login", func(c *Config) { c.Login.MaxAttempts = 21 }, "login.max_attempts: want 1 to 20, got 21"},
		{"login", func(c *Config) { c.Login.LogoutAbandoned = true }, "login.logout_abandoned: needs logout.routes"},
		{"login", func(c *Config) { c.Login.Fields = []string{"password", "password"} }, `login.fields[1]: "password" is listed twice`},
		{"credential_params", func(c *Config) { c.CredentialParams = []string{"a b"} }, `credential_params[0]: want a request field name, got "a b"`},
		{"logout", func(c *Config) { c.Logout.Routes = []Route{{Path: "logout"}} }, `logout.routes[0].path: want a path starting with /, got "logout"`},
		{"logout", func(c *Config) { c.Logout.Routes = []Route{{Path: "/x", Query: map[string]string{"": "1"}}} }, "logout.routes[0].query: want parameter: value pairs"},
		{"parse", func(c *Config) { c.Parse.Enabled, c.Parse.TokenCache = true, -time.Second }, "parse.token_cache: want 0 (no cache) up to 1m, got -1s"},
		{"parse", func(c *Config) { c.Parse.Enabled, c.Parse.SessionTTL = true, 0 }, "parse.session_ttl: want a positive duration"},
		{"bypass", func(c *Config) { c.Bypass = []Bypass{{Path: "/a", Methods: []string{"BREW"}}} }, `bypass[0].methods: unknown HTTP method "BREW"`},
		{"step_up", func(c *Config) { c.StepUp = []StepUp{{Path: "/pay", MaxAge: time.Second}} }, "step_up[0].max_age: want 30s to 24h0m0s, got 1s"},
		{"remember_device", func(c *Config) { c.RememberDevice.Enabled, c.RememberDevice.CookieName = true, c.Gate.CookieName }, "remember_device.cookie_name: want a cookie name of its own"},
		{"regulation", func(c *Config) { c.Regulation.IP.MaxFailures = -1 }, "regulation.ip.max_failures: want 0 (off) or more, got -1"},
		{"regulation", func(c *Config) { c.Regulation.User.Ban = 0 }, "regulation.user.ban: want 1s to 168h0m0s, got 0s"},
		{"factors", func(c *Config) { c.Factors.TOTP = "maybe" }, `factors.totp: want allowed, required or forbidden, got "maybe"`},
		{"factors", func(c *Config) { c.Factors.TOTP = "forbidden" }, "factors.totp: forbidding TOTP needs text messages"},
		{"sms", func(c *Config) {
			c.SMS.Enabled, c.SMS.Sender, c.SMS.AllowLogSender, c.SMS.PerIPPerHour = true, "log", true, 0
		}, "sms.per_ip_per_hour: want at least 1, got 0"},
		{"sms", func(c *Config) {
			c.SMS.Enabled, c.SMS.Sender, c.SMS.AllowLogSender, c.SMS.DefaultRegion = true, "log", true, "USA"
		}, `sms.default_region: want a two-letter region code such as US, got "USA"`},
		{"enrollment", func(c *Config) { c.Enrollment.Mode = "tofu" }, `enrollment.mode: want open, invite or networks, got "tofu"`},
		{"account", func(c *Config) { c.Account.ReauthMaxAge = time.Second }, "account.reauth_max_age: want 30s to 1h0m0s, got 1s"},
		{"account", func(c *Config) { c.Account.ReauthMaxAge = 2 * time.Hour }, "account.reauth_max_age: want 30s to 1h0m0s, got 2h0m0s"},
		{"branding", func(c *Config) { c.Branding.Accent = "blue" }, `branding.accent: want a hex colour such as #1a73e8, got "blue"`},
		{"branding", func(c *Config) { c.Branding.LogoFile = "logo.gif" }, `branding.logo_file: want a .png, .jpg, .webp or .svg file, got "logo.gif"`},
		{"gate", func(c *Config) { c.Gate.CookieName = "a b" }, `gate.cookie_name: want a cookie name, got "a b"`},
		{"gate", func(c *Config) { c.Gate.Keys = []string{short} }, "gate.keys[0]: too short: 9 bytes, want at least 32 (value hidden)"},
		{"secrets", func(c *Config) { c.Secrets.EncryptionKeys = []string{short} }, "secrets.encryption_keys[0]: want exactly 32 bytes, got 9 (value hidden)"},
		{"store", func(c *Config) { c.Store.Ephemeral = "disk" }, `store.ephemeral: want sqlite or memory, got "disk"`},
		{"store", func(c *Config) { c.Store.RedisCAFile = "ca.pem" }, "store.redis_ca_file: only applies to a rediss:// (TLS) store.redis URL"},
		{"store", func(c *Config) { c.Store.Timeout = 0 }, "store.timeout: want a positive duration, got 0s"},
		{"server", func(c *Config) { c.Server.TrustedProxies = []string{"nowhere"} }, "server.trusted_proxies[0]: "},
		{"server", func(c *Config) { c.Server.HTTPRedirectListen = ":80" }, "server.http_redirect_listen: only with server.tls_cert_file"},
		{"server", func(c *Config) { c.Server.DrainDelay = -time.Second }, "server.drain_delay: want 0 (no limit) or a positive duration, got -1s"},
		{"log", func(c *Config) { c.Log.Format = "xml" }, `log.format: want text or json, got "xml"`},
	}
	valid := base(t)
	for _, s := range sections {
		var p problems
		s.check(valid, &p)
		if len(p) > 0 {
			t.Errorf("section %q rejects the valid config: %v", s.key, p)
		}
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.section] = true
		key, _, _ := strings.Cut(tc.want, ":")
		t.Run(key, func(t *testing.T) {
			c := base(t)
			tc.mutate(c)
			found := false
			for _, s := range sections {
				var p problems
				s.check(c, &p)
				for _, pr := range p {
					if s.key != tc.section {
						t.Errorf("section %q reports a problem of section %q: %s", s.key, tc.section, pr)
					} else if strings.HasPrefix(pr, tc.want) {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("section %q does not report %q", tc.section, tc.want)
			}
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	for _, s := range sections {
		if !covered[s.key] {
			t.Errorf("section %q has no case", s.key)
		}
	}
}
