package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/clientip"
)

// The validators of the smaller sections; login, parse, factors and sms,
// and enrollment have theirs beside their types.

// validateTop checks the top-level scalars: listen, public_url, prefix,
// app_name.
func (c *Config) validateTop(p *problems) {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("listen", 0, "want host:port such as 127.0.0.1:8080, got %q", c.Listen)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("public_url", 0, "want an absolute http or https URL such as https://app.example.com, got %q", c.PublicURL)
	} else if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		p.add("public_url", 0, "want scheme and host only (the gateway serves the whole host), got %q", c.PublicURL)
	}
	if c.Server.TLSCertFile != "" && !c.Secure() {
		p.add("public_url", 0, "serving TLS (server.tls_cert_file) needs an https:// public_url, so cookies are Secure")
	}
	if !strings.HasPrefix(c.Prefix, "/") || !strings.HasSuffix(c.Prefix, "/") || c.Prefix == "/" || strings.Contains(c.Prefix, "//") || strings.ContainsAny(c.Prefix, "\\;?#%") {
		p.add("prefix", 0, "want a path such as /.vestibule/ that starts and ends with /, got %q", c.Prefix)
	}
	if strings.TrimSpace(c.AppName) == "" || len(c.AppName) > 64 {
		p.add("app_name", 0, "want a name of 1 to 64 characters")
	}
}

// validateAdmin checks admin.listen.
func (c *Config) validateAdmin(p *problems) {
	if c.Admin.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
		p.add("admin.listen", 0, `want host:port such as 127.0.0.1:9091, or "" for none, got %q`, c.Admin.Listen)
	} else if c.Admin.Listen == c.Listen {
		p.add("admin.listen", 0, "must differ from listen: keep health and metrics off the public port")
	}
}

// validateUpstream checks the upstream section.
func (c *Config) validateUpstream(p *problems) {
	if c.Upstream.URL != "demo" {
		if u, err := url.Parse(c.Upstream.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("upstream.url", 0, `want an absolute http or https URL, or "demo", got %q`, c.Upstream.URL)
		} else if u.User != nil {
			p.add("upstream.url", 0, "must not carry credentials")
		}
	}
	positive(p, "upstream.dial_timeout", c.Upstream.DialTimeout)
	positive(p, "upstream.response_header_timeout", c.Upstream.ResponseTimeout)
	positive(p, "upstream.idle_conn_timeout", c.Upstream.IdleConnTimeout)
	if c.Upstream.MaxIdleConnsPerHost < 1 {
		p.add("upstream.max_idle_conns_per_host", 0, "want at least 1, got %d", c.Upstream.MaxIdleConnsPerHost)
	}
}

// validateSessionCookies checks session_cookies: names, and at least one
// unless the logins are Parse's or HTTP Basic.
func (c *Config) validateSessionCookies(p *problems) {
	for i, n := range c.SessionCookies {
		base := strings.TrimSuffix(n, "*")
		if !cookieName(base) {
			p.add(fmt.Sprintf("session_cookies[%d]", i), 0, `want a cookie name (a trailing "*" matches by prefix), got %q`, n)
		}
	}
	if len(c.SessionCookies) == 0 && !c.Parse.Enabled && !c.Login.Basic {
		p.add("session_cookies", 0, "name at least one of the app's session cookies (e.g. sessionid, PHPSESSID)")
	}
}

// validateCredentialParams checks credential_params.
func (c *Config) validateCredentialParams(p *problems) {
	for i, n := range c.CredentialParams {
		if n == "" || strings.ContainsAny(n, "&=[] ") {
			p.add(fmt.Sprintf("credential_params[%d]", i), 0, "want a request field name, got %q", n)
		}
	}
}

// validateLogout checks logout.routes.
func (c *Config) validateLogout(p *problems) {
	c.checkRoutes(p, "logout.routes", c.Logout.Routes)
}

// validateBypass checks the bypass rules.
func (c *Config) validateBypass(p *problems) {
	for i, b := range c.Bypass {
		key := fmt.Sprintf("bypass[%d]", i)
		checkRule(p, key, c.Prefix, b.Path, b.Prefix, b.Pattern)
		checkMethods(p, key+".methods", b.Methods)
	}
}

// validateStepUp checks the step_up rules.
func (c *Config) validateStepUp(p *problems) {
	for i, su := range c.StepUp {
		key := fmt.Sprintf("step_up[%d]", i)
		checkRule(p, key, c.Prefix, su.Path, su.Prefix, su.Pattern)
		checkMethods(p, key+".methods", su.Methods)
		within(p, key+".max_age", su.MaxAge, 30*time.Second, 24*time.Hour)
	}
}

// validateAccount checks the security page's settings.
func (c *Config) validateAccount(p *problems) {
	within(p, "account.reauth_max_age", c.Account.ReauthMaxAge, 30*time.Second, time.Hour)
}

// validateRememberDevice checks remember_device (when enabled).
func (c *Config) validateRememberDevice(p *problems) {
	r := c.RememberDevice
	if !r.Enabled {
		return
	}
	if !cookieName(r.CookieName) || r.CookieName == c.Gate.CookieName || slices.Contains(c.SessionCookies, r.CookieName) {
		p.add("remember_device.cookie_name", 0, "want a cookie name of its own, got %q", r.CookieName)
	}
	within(p, "remember_device.max_age", r.MaxAge, time.Hour, 365*24*time.Hour)
}

// validateRegulation checks the failed-attempt limits.
func (c *Config) validateRegulation(p *problems) {
	for _, l := range []struct {
		key string
		Limit
	}{{"regulation.user", c.Regulation.User}, {"regulation.ip", c.Regulation.IP}} {
		if l.MaxFailures < 0 {
			p.add(l.key+".max_failures", 0, "want 0 (off) or more, got %d", l.MaxFailures)
		}
		if l.MaxFailures > 0 {
			within(p, l.key+".window", l.Window, time.Second, 24*time.Hour)
			within(p, l.key+".ban", l.Ban, time.Second, 7*24*time.Hour)
		}
	}
}

// LogoTypes maps logo file extensions to media types.
var LogoTypes = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".svg": "image/svg+xml"}

// accentColour is a branding.accent value.
var accentColour = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$`)

// validateBranding checks the accent colour and the logo file.
func (c *Config) validateBranding(p *problems) {
	if a := c.Branding.Accent; a != "" && !accentColour.MatchString(a) {
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
}

// validateGate checks the gate cookie and its keys.
func (c *Config) validateGate(p *problems) {
	if !cookieName(c.Gate.CookieName) {
		p.add("gate.cookie_name", 0, "want a cookie name, got %q", c.Gate.CookieName)
	}
	if slices.Contains(c.SessionCookies, c.Gate.CookieName) {
		p.add("gate.cookie_name", 0, "must differ from the app's session cookies")
	}
	within(p, "gate.max_age", c.Gate.MaxAge, time.Minute, 30*24*time.Hour)
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
}

// validateSecrets checks the encryption keys.
func (c *Config) validateSecrets(p *problems) {
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
}

// validateStore checks the backends and store.timeout.
func (c *Config) validateStore(p *problems) {
	s := c.Store
	if strings.TrimSpace(s.SQLite) == "" && s.Postgres == "" {
		p.add("store.sqlite", 0, "want the path of the SQLite file (or set store.postgres)")
	}
	if s.Ephemeral != "sqlite" && s.Ephemeral != "memory" {
		p.add("store.ephemeral", 0, "want sqlite or memory, got %q", s.Ephemeral)
	}
	if s.Redis == "" && s.Ephemeral == "sqlite" && strings.TrimSpace(s.SQLite) == "" {
		p.add("store.sqlite", 0, "store.ephemeral: sqlite needs the SQLite file path")
	}
	if s.Postgres != "" {
		if u, err := url.Parse(s.Postgres); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			p.add("store.postgres", 0, "want a postgres://user@host:port/db URL (value hidden)")
		}
	}
	if s.Redis != "" {
		if u, err := url.Parse(s.Redis); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			p.add("store.redis", 0, "want a redis://host:port/db or rediss:// URL (value hidden)")
		}
	}
	if s.RedisCAFile != "" && !strings.HasPrefix(s.Redis, "rediss://") {
		p.add("store.redis_ca_file", 0, "only applies to a rediss:// (TLS) store.redis URL")
	}
	positive(p, "store.timeout", s.Timeout)
}

// validateServer checks the public listener: trusted proxies, TLS, the
// redirect listener, timeouts and header size.
func (c *Config) validateServer(p *problems) {
	s := c.Server
	for i, tp := range s.TrustedProxies {
		if _, err := clientip.ParsePrefix(tp); err != nil {
			p.add(fmt.Sprintf("server.trusted_proxies[%d]", i), 0, "%v", err)
		}
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		p.add("server.tls_cert_file", 0, "set both tls_cert_file and tls_key_file, or neither")
	}
	if s.HTTPRedirectListen != "" && s.TLSCertFile == "" {
		p.add("server.http_redirect_listen", 0, "only with server.tls_cert_file (the gateway serving HTTPS itself)")
	}
	positive(p, "server.read_header_timeout", s.ReadHeaderTimeout)
	nonNegative(p, "server.read_timeout", s.ReadTimeout)
	nonNegative(p, "server.body_idle_timeout", s.BodyIdleTimeout)
	nonNegative(p, "server.write_timeout", s.WriteTimeout)
	nonNegative(p, "server.idle_timeout", s.IdleTimeout)
	nonNegative(p, "server.shutdown_grace", s.ShutdownGrace)
	nonNegative(p, "server.drain_delay", s.DrainDelay)
	if s.MaxHeaderBytes < 4096 {
		p.add("server.max_header_bytes", 0, "want at least 4096, got %d", s.MaxHeaderBytes)
	}
}

// validateLog checks the log section.
func (c *Config) validateLog(p *problems) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		p.add("log.level", 0, "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", 0, "want text or json, got %q", c.Log.Format)
	}
}
