package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/vestibule-gw/vestibule/clientip"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/sms"
)

// Validate reports every problem in the config at once, each naming its key.
// Secret values are never echoed.
func (c *Config) Validate() error {
	var p problems
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("listen", 0, "want host:port such as 127.0.0.1:8080, got %q", c.Listen)
	}
	if c.Admin.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			p.add("admin.listen", 0, `want host:port such as 127.0.0.1:9091, or "" for none, got %q`, c.Admin.Listen)
		} else if c.Admin.Listen == c.Listen {
			p.add("admin.listen", 0, "must differ from listen: keep health and metrics off the public port")
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("public_url", 0, "want an absolute http or https URL such as https://app.example.com, got %q", c.PublicURL)
	} else if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		p.add("public_url", 0, "want scheme and host only (the gateway serves the whole host), got %q", c.PublicURL)
	}
	if !strings.HasPrefix(c.Prefix, "/") || !strings.HasSuffix(c.Prefix, "/") || c.Prefix == "/" || strings.Contains(c.Prefix, "//") || strings.ContainsAny(c.Prefix, "\\;?#%") {
		p.add("prefix", 0, "want a path such as /.vestibule/ that starts and ends with /, got %q", c.Prefix)
	}
	if strings.TrimSpace(c.AppName) == "" || len(c.AppName) > 64 {
		p.add("app_name", 0, "want a name of 1 to 64 characters")
	}

	if c.Upstream.URL != "demo" {
		if u, err := url.Parse(c.Upstream.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("upstream.url", 0, `want an absolute http or https URL, or "demo", got %q`, c.Upstream.URL)
		} else if u.User != nil {
			p.add("upstream.url", 0, "must not carry credentials")
		}
	}
	positive(&p, "upstream.dial_timeout", c.Upstream.DialTimeout)
	positive(&p, "upstream.response_header_timeout", c.Upstream.ResponseTimeout)
	positive(&p, "upstream.idle_conn_timeout", c.Upstream.IdleConnTimeout)
	if c.Upstream.MaxIdleConnsPerHost < 1 {
		p.add("upstream.max_idle_conns_per_host", 0, "want at least 1, got %d", c.Upstream.MaxIdleConnsPerHost)
	}

	for i, n := range c.SessionCookies {
		base := strings.TrimSuffix(n, "*")
		if !cookieName(base) {
			p.add(fmt.Sprintf("session_cookies[%d]", i), 0, `want a cookie name (a trailing "*" matches by prefix), got %q`, n)
		}
	}

	if len(c.SessionCookies) == 0 && !c.Parse.Enabled && !c.Login.Basic {
		p.add("session_cookies", 0, "name at least one of the app's session cookies (e.g. sessionid, PHPSESSID)")
	}
	if len(c.Login.Routes) == 0 && !c.Parse.Enabled && !c.Login.Basic {
		p.add("login.routes", 0, "name at least one login route (path and methods)")
	}
	c.checkLogin(&p)
	c.checkParse(&p)
	c.checkRoutes(&p, "login.routes", c.Login.Routes)
	c.checkRoutes(&p, "logout.routes", c.Logout.Routes)
	if c.Login.User.FormField == "" && c.Login.User.Header == "" && !c.Login.Basic {
		p.add("login.user", 0, "set form_field (the login form's username field) or header")
	}
	for i, s := range c.Login.Success.Status {
		if s < 100 || s > 599 {
			p.add(fmt.Sprintf("login.success.status[%d]", i), 0, "want an HTTP status code, got %d", s)
		}
	}
	for k, v := range c.Login.Success.Headers {
		if _, err := regexp.Compile(v); err != nil {
			p.add("login.success.headers."+k, 0, "not a valid regular expression: %v", err)
		}
	}
	if c.Login.MaxBodyBytes < 1<<10 || c.Login.MaxBodyBytes > 16<<20 {
		p.add("login.max_body_bytes", 0, "want 1024 to 16777216, got %d", c.Login.MaxBodyBytes)
	}
	within(&p, "login.hold_ttl", c.Login.HoldTTL, 30*time.Second, time.Hour)
	if c.Login.MaxAttempts < 1 || c.Login.MaxAttempts > 20 {
		p.add("login.max_attempts", 0, "want 1 to 20, got %d", c.Login.MaxAttempts)
	}

	for i, b := range c.Bypass {
		key := fmt.Sprintf("bypass[%d]", i)
		checkRule(&p, key, c.Prefix, b.Path, b.Prefix, b.Pattern)
		checkMethods(&p, key+".methods", b.Methods)
	}

	for i, su := range c.StepUp {
		key := fmt.Sprintf("step_up[%d]", i)
		checkRule(&p, key, c.Prefix, su.Path, su.Prefix, su.Pattern)
		checkMethods(&p, key+".methods", su.Methods)
		within(&p, key+".max_age", su.MaxAge, 30*time.Second, 24*time.Hour)
	}
	within(&p, "account.reauth_max_age", c.Account.ReauthMaxAge, 30*time.Second, time.Hour)
	if c.RememberDevice.Enabled {
		if !cookieName(c.RememberDevice.CookieName) || c.RememberDevice.CookieName == c.Gate.CookieName || slices.Contains(c.SessionCookies, c.RememberDevice.CookieName) {
			p.add("remember_device.cookie_name", 0, "want a cookie name of its own, got %q", c.RememberDevice.CookieName)
		}
		within(&p, "remember_device.max_age", c.RememberDevice.MaxAge, time.Hour, 365*24*time.Hour)
	}
	for name, l := range map[string]Limit{"regulation.user": c.Regulation.User, "regulation.ip": c.Regulation.IP} {
		if l.MaxFailures < 0 {
			p.add(name+".max_failures", 0, "want 0 (off) or more, got %d", l.MaxFailures)
		}
		if l.MaxFailures > 0 {
			within(&p, name+".window", l.Window, time.Second, 24*time.Hour)
			within(&p, name+".ban", l.Ban, time.Second, 7*24*time.Hour)
		}
	}
	for i, tp := range c.Server.TrustedProxies {
		if _, err := clientip.ParsePrefix(tp); err != nil {
			p.add(fmt.Sprintf("server.trusted_proxies[%d]", i), 0, "%v", err)
		}
	}
	if (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == "") {
		p.add("server.tls_cert_file", 0, "set both tls_cert_file and tls_key_file, or neither")
	}
	if c.Server.HTTPRedirectListen != "" && c.Server.TLSCertFile == "" {
		p.add("server.http_redirect_listen", 0, "only with server.tls_cert_file (the gateway serving HTTPS itself)")
	}
	if c.Server.TLSCertFile != "" && !c.Secure() {
		p.add("public_url", 0, "serving TLS (server.tls_cert_file) needs an https:// public_url, so cookies are Secure")
	}
	if c.Login.LogoutAbandoned && len(c.Logout.Routes) == 0 {
		p.add("login.logout_abandoned", 0, "needs logout.routes to know how to log a session out")
	}
	c.validateSMS(&p)
	c.validateEnrollment(&p)
	if a := c.Branding.Accent; a != "" && !regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$`).MatchString(a) {
		p.add("branding.accent", 0, "want a hex colour such as #1a73e8, got %q", a)
	}
	if f := c.Branding.LogoFile; f != "" {
		if _, ok := LogoTypes[strings.ToLower(filepath.Ext(f))]; !ok {
			p.add("branding.logo_file", 0, "want a .png, .jpg, .webp or .svg file, got %q", f)
		} else if fi, err := os.Stat(f); err != nil {
			p.add("branding.logo_file", 0, "%v", err)
		} else if fi.Size() > 256<<10 {
			p.add("branding.logo_file", 0, "%d bytes; keep the logo under 256 KiB", fi.Size())
		}
	}
	if !cookieName(c.Gate.CookieName) {
		p.add("gate.cookie_name", 0, "want a cookie name, got %q", c.Gate.CookieName)
	}
	if slices.Contains(c.SessionCookies, c.Gate.CookieName) {
		p.add("gate.cookie_name", 0, "must differ from the app's session cookies")
	}
	within(&p, "gate.max_age", c.Gate.MaxAge, time.Minute, 30*24*time.Hour)
	if len(c.Gate.Keys) == 0 {
		p.add("gate.keys", 0, "set at least one key (32+ random bytes, base64; `vestibule keys generate` makes one)")
	}
	for i, k := range c.Gate.Keys {
		if b, err := decodeKey(k); err != nil {
			p.add(fmt.Sprintf("gate.keys[%d]", i), 0, "not base64 (value hidden)")
		} else if len(b) < 32 {
			p.add(fmt.Sprintf("gate.keys[%d]", i), 0, "too short: %d bytes, want at least 32 (value hidden)", len(b))
		}
	}
	if len(c.Secrets.EncryptionKeys) == 0 {
		p.add("secrets.encryption_keys", 0, "set at least one key (32 random bytes, base64; `vestibule keys generate` makes one)")
	}
	for i, k := range c.Secrets.EncryptionKeys {
		if b, err := decodeKey(k); err != nil {
			p.add(fmt.Sprintf("secrets.encryption_keys[%d]", i), 0, "not base64 (value hidden)")
		} else if len(b) != 32 {
			p.add(fmt.Sprintf("secrets.encryption_keys[%d]", i), 0, "want exactly 32 bytes, got %d (value hidden)", len(b))
		}
	}
	if strings.TrimSpace(c.Store.SQLite) == "" && c.Store.Postgres == "" {
		p.add("store.sqlite", 0, "want the path of the SQLite file (or set store.postgres)")
	}
	if c.Store.Ephemeral != "sqlite" && c.Store.Ephemeral != "memory" {
		p.add("store.ephemeral", 0, "want sqlite or memory, got %q", c.Store.Ephemeral)
	}
	if c.Store.Redis == "" && c.Store.Ephemeral == "sqlite" && strings.TrimSpace(c.Store.SQLite) == "" {
		p.add("store.sqlite", 0, "store.ephemeral: sqlite needs the SQLite file path")
	}
	if c.Store.Postgres != "" {
		if u, err := url.Parse(c.Store.Postgres); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			p.add("store.postgres", 0, "want a postgres://user@host:port/db URL (value hidden)")
		}
	}
	if c.Store.Redis != "" {
		if u, err := url.Parse(c.Store.Redis); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			p.add("store.redis", 0, "want a redis://host:port/db or rediss:// URL (value hidden)")
		}
	}
	if c.Store.RedisCAFile != "" && !strings.HasPrefix(c.Store.Redis, "rediss://") {
		p.add("store.redis_ca_file", 0, "only applies to a rediss:// (TLS) store.redis URL")
	}

	positive(&p, "server.read_header_timeout", c.Server.ReadHeaderTimeout)
	nonNegative(&p, "server.read_timeout", c.Server.ReadTimeout)
	nonNegative(&p, "server.body_idle_timeout", c.Server.BodyIdleTimeout)
	nonNegative(&p, "server.write_timeout", c.Server.WriteTimeout)
	nonNegative(&p, "server.idle_timeout", c.Server.IdleTimeout)
	nonNegative(&p, "server.shutdown_grace", c.Server.ShutdownGrace)
	nonNegative(&p, "server.drain_delay", c.Server.DrainDelay)
	positive(&p, "store.timeout", c.Store.Timeout)
	if c.Server.MaxHeaderBytes < 4096 {
		p.add("server.max_header_bytes", 0, "want at least 4096, got %d", c.Server.MaxHeaderBytes)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		p.add("log.level", 0, "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", 0, "want text or json, got %q", c.Log.Format)
	}
	return p.err("")
}

// checkRule checks a path rule: exactly one of path, prefix and pattern.
func checkRule(p *problems, key, gatePrefix, path, prefix, pattern string) {
	set := 0
	for _, s := range []string{path, prefix, pattern} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		p.add(key, 0, "set exactly one of path, prefix and pattern")
	}
	for _, s := range []string{path, prefix} {
		if s != "" && !strings.HasPrefix(s, "/") {
			p.add(key, 0, "path and prefix must start with /, got %q", s)
		}
		if s != "" && strings.HasPrefix(s, gatePrefix) {
			p.add(key, 0, "must not cover the gateway prefix %s", gatePrefix)
		}
	}
	if prefix == "/" {
		p.add(key+".prefix", 0, `"/" would cover every path; list the paths instead`)
	}
	if pattern != "" {
		if !strings.HasPrefix(pattern, "^") {
			p.add(key+".pattern", 0, "must be anchored with ^ so it can't match inside a longer path")
		} else if _, err := regexp.Compile(pattern); err != nil {
			p.add(key+".pattern", 0, "not a valid regular expression: %v", err)
		}
	}
}

func (c *Config) checkRoutes(p *problems, key string, rs []Route) {
	for i, r := range rs {
		k := fmt.Sprintf("%s[%d]", key, i)
		if !strings.HasPrefix(r.Path, "/") {
			p.add(k+".path", 0, "want a path starting with /, got %q", r.Path)
		} else if strings.HasPrefix(r.Path, c.Prefix) {
			p.add(k+".path", 0, "must not be under the gateway prefix %s", c.Prefix)
		}
		checkMethods(p, k+".methods", r.Methods)
	}
}

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func checkMethods(p *problems, key string, ms []string) {
	for _, m := range ms {
		if !slices.Contains(methods, m) {
			p.add(key, 0, "unknown HTTP method %q (want one of %s)", m, strings.Join(methods, ", "))
		}
	}
}

func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, 0, "want a positive duration, got %s", d)
	}
}

func nonNegative(p *problems, key string, d time.Duration) {
	if d < 0 {
		p.add(key, 0, "want 0 (no limit) or a positive duration, got %s", d)
	}
}

func within(p *problems, key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		p.add(key, 0, "want %s to %s, got %s", lo, hi, d)
	}
}

// cookieName reports whether s is an RFC 6265 token.
func cookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// decodeKey accepts standard or URL base64, padded or not.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// GateKeys decodes gate.keys; the first signs, all verify.
func (c *Config) GateKeys() ([][]byte, error) {
	return decodeKeys("gate.keys", c.Gate.Keys)
}

// EncryptionKeys decodes secrets.encryption_keys; the first seals, all open.
func (c *Config) EncryptionKeys() ([][]byte, error) {
	return decodeKeys("secrets.encryption_keys", c.Secrets.EncryptionKeys)
}

func decodeKeys(key string, ks []string) ([][]byte, error) {
	if len(ks) == 0 {
		return nil, fmt.Errorf("%s: no keys set", key)
	}
	out := make([][]byte, len(ks))
	for i, k := range ks {
		b, err := decodeKey(k)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: not base64 (value hidden)", key, i)
		}
		out[i] = b
	}
	return out, nil
}

// Secure reports whether browsers reach the gateway over TLS, so cookies
// must be Secure.
func (c *Config) Secure() bool {
	return strings.HasPrefix(strings.ToLower(c.PublicURL), "https://")
}

var factorModes = []string{"allowed", "required", "forbidden"}

func (c *Config) validateSMS(p *problems) {
	for key, v := range map[string]string{"factors.totp": c.Factors.TOTP, "factors.sms": c.Factors.SMS} {
		if !slices.Contains(factorModes, v) {
			p.add(key, 0, "want allowed, required or forbidden, got %q", v)
		}
	}
	if c.Factors.TOTP == "required" && c.Factors.SMS == "required" {
		p.add("factors", 0, "only one factor can be required")
	}
	if c.Factors.TOTP == "forbidden" && (c.Factors.SMS == "forbidden" || !c.SMS.Enabled) {
		p.add("factors.totp", 0, "forbidding TOTP needs text messages (sms.enabled, factors.sms not forbidden)")
	}
	if c.Factors.SMS == "required" && !c.SMS.Enabled {
		p.add("factors.sms", 0, "requiring text messages needs sms.enabled")
	}
	s := c.SMS
	if !s.Enabled {
		return
	}
	switch s.Sender {
	case "vonage":
		if s.Vonage.APIKey == "" || s.Vonage.APISecret == "" || s.Vonage.From == "" {
			p.add("sms.vonage", 0, "set api_key, api_secret and from")
		} else if len(s.Vonage.APIKey) != 8 {
			// The SDK refuses any other length, so every send would fail.
			p.add("sms.vonage.api_key", 0, "want the 8-character API key from the Vonage dashboard, got %d characters (value hidden)", len(s.Vonage.APIKey))
		}
	case "twilio":
		if s.Twilio.AccountSID == "" || s.Twilio.AuthToken == "" {
			p.add("sms.twilio", 0, "set account_sid and auth_token")
		}
		if (s.Twilio.From == "") == (s.Twilio.MessagingServiceSID == "") {
			p.add("sms.twilio", 0, "set exactly one of from and messaging_service_sid")
		}
	case "webhook":
		if u, err := url.Parse(s.Webhook.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("sms.webhook.url", 0, "want an http(s) URL, got %q", s.Webhook.URL)
		}
		if len(s.Webhook.Secret) < 16 {
			p.add("sms.webhook.secret", 0, "want at least 16 characters (value hidden)")
		}
	case "log":
		if !s.AllowLogSender {
			p.add("sms.sender", 0, `"log" writes live codes to the log: for development only, and only with sms.allow_log_sender: true`)
		}
	default:
		p.add("sms.sender", 0, "want vonage, twilio, webhook or log, got %q", s.Sender)
	}
	if s.BaseURL != "" {
		if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("sms.base_url", 0, "want an http(s) URL, got %q", s.BaseURL)
		} else if s.Sender == "vonage" {
			if _, err := sms.VonageBasePath(s.BaseURL); err != nil {
				p.add("sms.base_url", 0, "%v", err)
			}
		}
	}
	for i, k := range s.AllowNumberTypes {
		if !slices.Contains(phone.CostlyKinds, k) {
			p.add(fmt.Sprintf("sms.allow_number_types[%d]", i), 0, "want one of %s, got %q", strings.Join(phone.CostlyKinds, ", "), k)
		}
	}
	if s.CodeLength < 6 || s.CodeLength > 10 {
		p.add("sms.code_length", 0, "want 6 to 10 digits, got %d", s.CodeLength)
	}
	within(p, "sms.code_ttl", s.CodeTTL, 30*time.Second, 30*time.Minute)
	within(p, "sms.timeout", s.Timeout, time.Second, time.Minute)
	within(p, "sms.resend_cooldown", s.ResendCooldown, 0, time.Hour)
	if s.MaxAttempts < 1 || s.MaxAttempts > 10 {
		p.add("sms.max_attempts", 0, "want 1 to 10, got %d", s.MaxAttempts)
	}
	for k, v := range map[string]int{"sms.per_user_per_hour": s.PerUserPerHour, "sms.per_phone_per_hour": s.PerPhonePerHour, "sms.per_ip_per_hour": s.PerIPPerHour} {
		if v < 1 {
			p.add(k, 0, "want at least 1, got %d", v)
		}
	}
	for i, cc := range s.AllowedCountries {
		if len(cc) != 2 || strings.ToUpper(cc) != cc {
			p.add(fmt.Sprintf("sms.allowed_countries[%d]", i), 0, "want a two-letter region code such as GB, got %q", cc)
		}
	}
	if len(s.DefaultRegion) != 2 {
		p.add("sms.default_region", 0, "want a two-letter region code such as US, got %q", s.DefaultRegion)
	}
	if _, err := template.New("sms").Parse(s.Template); err != nil || !strings.Contains(s.Template, "{{.Code}}") {
		p.add("sms.template", 0, "want a text/template containing {{.Code}}")
	}
}

// LogoTypes maps logo file extensions to media types.
var LogoTypes = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".svg": "image/svg+xml"}

// checkParse validates the parse section (when enabled).
func (c *Config) checkParse(p *problems) {
	pc := c.Parse
	if !pc.Enabled {
		return
	}
	pathOK := func(s string) bool {
		return strings.HasPrefix(s, "/") && len(strings.Trim(s, "/")) > 0 && !strings.ContainsAny(s, "\\;?#%") &&
			!strings.Contains(s, "/./") && !strings.Contains(s, "/../") && !strings.HasPrefix(strings.ToLower(s), strings.ToLower(strings.TrimSuffix(c.Prefix, "/")))
	}
	if !pathOK(pc.Mount) {
		p.add("parse.mount", 0, "want Parse Server's mount path such as /parse (not / and not under prefix), got %q", pc.Mount)
	}
	if pc.GraphQLPath != "" && !pathOK(pc.GraphQLPath) {
		p.add("parse.graphql_path", 0, `want a path such as /graphql, or "" when GraphQL is not exposed, got %q`, pc.GraphQLPath)
	}
	for i, s := range pc.MasterKeyFrom {
		if _, err := ParsePrefix(s); err != nil {
			p.add(fmt.Sprintf("parse.master_key_from[%d]", i), 0, "want an IP address or CIDR such as 10.0.0.0/8, got %q", s)
		}
	}
	if pc.AllowLoginAs && len(pc.MasterKeyFrom) == 0 {
		p.add("parse.allow_login_as", 0, "loginAs needs the master key: list the admin networks in parse.master_key_from")
	}
	if pc.Signup != "hold" && pc.Signup != "grace" {
		p.add("parse.signup", 0, `want "hold" (a new user enrolls a second factor first) or "grace", got %q`, pc.Signup)
	}
	if pc.Anonymous != "hold" && pc.Anonymous != "pass" {
		p.add("parse.anonymous", 0, `want "hold" (anonymous users enroll a second factor like others) or "pass", got %q`, pc.Anonymous)
	}
	positive(p, "parse.session_ttl", pc.SessionTTL)
	if pc.MaxBodyBytes < 1 {
		p.add("parse.max_body_bytes", 0, "want a positive size in bytes, got %d", pc.MaxBodyBytes)
	}
	if pc.TokenCache < 0 || pc.TokenCache > time.Minute {
		p.add("parse.token_cache", 0, "want 0 (no cache) up to 1m, got %s", pc.TokenCache)
	}
}

// ParsePrefix reads an IP address or CIDR as a network.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(strings.TrimSpace(s))
		return pf.Masked(), err
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
