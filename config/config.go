package config

import "time"

// Config is the whole gateway configuration, as read from config.yaml.
// Durations are Go durations ("5m", "12h"); sizes are plain byte counts.
type Config struct {
	// Listen is the public address the gateway serves on.
	Listen string `yaml:"listen"`
	// PublicURL is how browsers reach the gateway. Its scheme decides whether
	// cookies are Secure (https) and its host is the gateway's origin.
	PublicURL string `yaml:"public_url"`
	// Prefix is the reserved path prefix of the gateway's own pages.
	Prefix string `yaml:"prefix"`
	// AppName is shown on the gate pages and used as the TOTP issuer.
	AppName string `yaml:"app_name"`
	// Branding gives the gate pages the app's colour and logo.
	Branding Branding `yaml:"branding"`

	Upstream Upstream `yaml:"upstream"`
	// SessionCookies names the app's session cookie(s). A trailing "*"
	// matches by prefix (DokuWiki's "DW*").
	SessionCookies []string `yaml:"session_cookies"`
	Login          Login    `yaml:"login"`
	// CredentialParams are request fields the app accepts as a password on
	// any request (DokuWiki: u, p): outside a login attempt they are taken
	// out of queries, cookies and form bodies.
	CredentialParams []string `yaml:"credential_params"`
	Logout           Routes   `yaml:"logout"`
	Bypass           []Bypass `yaml:"bypass"`
	Gate             Gate     `yaml:"gate"`
	// StepUp lists sensitive paths that need a recent second factor even
	// inside a valid gate session.
	StepUp         []StepUp       `yaml:"step_up"`
	RememberDevice RememberDevice `yaml:"remember_device"`
	Regulation     Regulation     `yaml:"regulation"`
	SMS            SMS            `yaml:"sms"`
	Factors        Factors        `yaml:"factors"`
	// WebAuthn is the relying party of passkeys and security keys; see
	// webauthn.go.
	WebAuthn WebAuthn `yaml:"webauthn"`
	Secrets  Secrets  `yaml:"secrets"`
	Store    Store    `yaml:"store"`
	Server   Server   `yaml:"server"`
	Log      Log      `yaml:"log"`
	Admin    Admin    `yaml:"admin"`
	// Parse turns on Parse Server mode (session tokens, not cookies).
	Parse ParseServer `yaml:"parse"`
	// Enrollment says who may enroll a first factor; see enrollment.go.
	Enrollment Enrollment `yaml:"enrollment"`
	// Account is the security page (<prefix>account).
	Account Account `yaml:"account"`
}

// Account configures the security page, where signed-in users see and
// change their own second factors, devices and sessions.
type Account struct {
	// ReauthMaxAge is how recent the session's second factor must be for a
	// change there; an older one is asked for again (the step-up page).
	ReauthMaxAge time.Duration `yaml:"reauth_max_age"`
}

// ParseServer is Parse Server mode: logins that mint a session token are held,
// and only tokens the gateway released reach the app.
type ParseServer struct {
	Enabled bool `yaml:"enabled"`
	// Mount is Parse Server's mount path; GraphQLPath its GraphQL endpoint
	// ("": not exposed).
	Mount       string `yaml:"mount"`
	GraphQLPath string `yaml:"graphql_path"`
	// MasterKeyFrom lists the client networks (CIDR or address) allowed to
	// send a master or maintenance key; empty: refused from everyone.
	MasterKeyFrom []string `yaml:"master_key_from"`
	// AllowLoginAs lets master-key /loginAs through (its token is released
	// at once); AllowVerifyPassword lets /verifyPassword through.
	AllowLoginAs        bool `yaml:"allow_login_as"`
	AllowVerifyPassword bool `yaml:"allow_verify_password"`
	// Signup is "hold" (a new user's token waits until a second factor is
	// enrolled) or "grace" (released at once, flagged).
	Signup string `yaml:"signup"`
	// Anonymous is "hold" (a login with anonymous authData waits for a
	// second factor like any other) or "pass" (released at once when the
	// login used anonymous authData alone and the user has no other).
	Anonymous string `yaml:"anonymous"`
	// SessionTTL is how long a released token stays valid at the gateway.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// PhoneField is the user field holding the phone number for codes.
	PhoneField string `yaml:"phone_field"`
	// MaxBodyBytes bounds request bodies the gateway reads.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// TokenCache is how long this process reuses a registry lookup; 0
	// turns the cache off (every request asks the store). Default
	// defaults.TokenCache.
	TokenCache time.Duration `yaml:"token_cache"`
}

// Upstream is the protected app.
type Upstream struct {
	// URL of the app, or "demo" for the built-in demo app on loopback.
	URL string `yaml:"url"`
	// PreserveHost sends the client's Host header upstream instead of the
	// upstream URL's host.
	PreserveHost        bool          `yaml:"preserve_host"`
	DialTimeout         time.Duration `yaml:"dial_timeout"`
	ResponseTimeout     time.Duration `yaml:"response_header_timeout"`
	MaxIdleConnsPerHost int           `yaml:"max_idle_conns_per_host"`
	IdleConnTimeout     time.Duration `yaml:"idle_conn_timeout"`
}

// Route is a path and the methods it applies to (empty: the defaults of the
// list it is in).
type Route struct {
	Path    string   `yaml:"path"`
	Methods []string `yaml:"methods"`
	// Query, when set, must match too: each parameter present with that
	// value (DokuWiki logs out with GET /doku.php?do=logout).
	Query map[string]string `yaml:"query"`
}

// Routes is a list of routes.
type Routes struct {
	Routes []Route `yaml:"routes"`
}

// Login says how to recognise the app's login and its success.
type Login struct {
	Routes []Route `yaml:"routes"`
	User   User    `yaml:"user"`
	// Success classifies an upstream answer to a login request as success.
	Success Success `yaml:"success"`
	// MaxBodyBytes bounds the login request and held response bodies.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// HoldTTL is how long a held login waits for its second factor.
	HoldTTL time.Duration `yaml:"hold_ttl"`
	// MaxAttempts is the number of code attempts per held login.
	MaxAttempts int `yaml:"max_attempts"`
	// Fields are the only fields a login request carries to the app (query
	// and body; "name=value" allows only that value); the rest are
	// dropped, so a login can't also act.
	Fields []string `yaml:"fields"`
	// Identity asks the app who logged in; its answer files the held login.
	Identity Identity `yaml:"identity"`
	// PreLoginCookies are session cookies the app issues to anonymous
	// browsers (kept-id apps): only these may come back with a login
	// attempt, and only with the value the gateway saw the app issue.
	PreLoginCookies []string `yaml:"pre_login_cookies"`
	// Basic makes HTTP Basic credentials the first factor (apps that
	// protect every page with Basic): no login route or form is needed.
	Basic bool `yaml:"basic"`
	// LogoutAbandoned, when true, logs a held login out at the app (through
	// the first logout route, with the held session cookies) when it
	// expires, runs out of attempts or is banned, so no authenticated app
	// session is left behind unseen.
	LogoutAbandoned bool `yaml:"logout_abandoned"`
}

// StepUp is a sensitive-path rule: one of Path, Prefix and Pattern, the
// methods it covers, and how old the last second factor may be.
type StepUp struct {
	Path    string        `yaml:"path"`
	Prefix  string        `yaml:"prefix"`
	Pattern string        `yaml:"pattern"`
	Methods []string      `yaml:"methods"`
	MaxAge  time.Duration `yaml:"max_age"`
}

// RememberDevice lets a browser skip the second factor for a while after
// one success; off by default.
type RememberDevice struct {
	Enabled    bool          `yaml:"enabled"`
	CookieName string        `yaml:"cookie_name"`
	MaxAge     time.Duration `yaml:"max_age"`
}

// Regulation limits failed second-factor attempts across held logins.
type Regulation struct {
	User Limit `yaml:"user"`
	IP   Limit `yaml:"ip"`
}

// Limit is failures per window before a ban; max_failures 0 disables it.
type Limit struct {
	MaxFailures int           `yaml:"max_failures"`
	Window      time.Duration `yaml:"window"`
	Ban         time.Duration `yaml:"ban"`
}

// User says where the user's identity comes from.
type User struct {
	// FormField is the login form's (or JSON body's) username field.
	FormField string `yaml:"form_field"`
	// Header, when set, is a response header of the app's successful login
	// answer naming the user; it wins over FormField.
	Header string `yaml:"header"`
	// Normalize is how the app compares names: nfkc, trim, casefold
	// (casefold only for apps whose names are case-insensitive).
	Normalize []string `yaml:"normalize"`
}

// Identity is the identity probe: a request the gateway sends to the app
// with a new login's session, and where the answer names the user. Set
// path and exactly one of regexp, json_pointer and header.
type Identity struct {
	Path        string        `yaml:"path"`
	Regexp      string        `yaml:"regexp"`
	JSONPointer string        `yaml:"json_pointer"`
	Header      string        `yaml:"header"`
	Timeout     time.Duration `yaml:"timeout"`
}

// Success matches an upstream response; all set parts must hold.
type Success struct {
	// Status lists acceptable status codes (empty: any 2xx or 3xx).
	Status []int `yaml:"status"`
	// Headers maps a header name to a regular expression its value must match.
	Headers map[string]string `yaml:"headers"`
	// SetsSessionCookie requires the response to set an app session cookie.
	SetsSessionCookie bool `yaml:"sets_session_cookie"`
}

// Bypass is a public path rule: matching requests need no gate session.
// Exactly one of Path, Prefix and Pattern is set.
type Bypass struct {
	Path    string   `yaml:"path"`
	Prefix  string   `yaml:"prefix"`
	Pattern string   `yaml:"pattern"`
	Methods []string `yaml:"methods"`
}

// Gate configures the gate cookie.
type Gate struct {
	CookieName string        `yaml:"cookie_name"`
	MaxAge     time.Duration `yaml:"max_age"`
	// Keys sign and encrypt the gate cookie: the first signs, all verify, so
	// an old key stays in the list during rotation. Base64, >= 32 bytes.
	Keys []string `yaml:"keys"`
	// KeysFile, when set, is read for more keys, one per line.
	KeysFile string `yaml:"keys_file"`
}

// Secrets holds the at-rest encryption keys for TOTP secrets.
type Secrets struct {
	// EncryptionKeys: base64 32-byte AES-256-GCM keys; the first seals, all open.
	EncryptionKeys     []string `yaml:"encryption_keys"`
	EncryptionKeysFile string   `yaml:"encryption_keys_file"`
}

// Store chooses the backends: SQLite and in-process memory by default;
// PostgreSQL and Redis for several replicas.
type Store struct {
	// SQLite is the path of the embedded durable store.
	SQLite string `yaml:"sqlite"`
	// Ephemeral is where held logins, counters, bans and revocations live
	// without store.redis: "sqlite" (the same file: they survive a
	// restart) or "memory" (in process).
	Ephemeral string `yaml:"ephemeral"`
	// Postgres, when set, is a postgres:// URL of the durable store (it
	// replaces SQLite). TLS as libpq: sslmode=verify-full&sslrootcert=FILE.
	Postgres string `yaml:"postgres"`
	// Redis, when set, is a redis:// or rediss:// (TLS) URL of the
	// ephemeral store (it replaces process memory).
	Redis string `yaml:"redis"`
	// PostgresFile and RedisFile, when set, are files holding those URLs
	// (container secrets), read at load time.
	PostgresFile string `yaml:"postgres_file"`
	RedisFile    string `yaml:"redis_file"`
	// RedisPrefix namespaces the gateway's Redis keys.
	RedisPrefix string `yaml:"redis_prefix"`
	// RedisCAFile, when set, is a PEM file of CAs to trust for rediss://.
	RedisCAFile string `yaml:"redis_ca_file"`
	// Timeout bounds each store call made while serving a request (a hung
	// store answers 503 after it, not after the client's own timeouts).
	Timeout time.Duration `yaml:"timeout"`
}

// Server holds the public listener's limits.
type Server struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	// BodyIdleTimeout bounds the wait for the next bytes of a request body
	// the gateway streams to the app: an upload may take as long as it
	// keeps moving (read_timeout does not cut it off).
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	MaxHeaderBytes  int           `yaml:"max_header_bytes"`
	// TLSCertFile and TLSKeyFile, when set, make the gateway serve HTTPS
	// (with HTTP/2) itself.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// HTTPRedirectListen, when set with TLS, answers plain HTTP there with
	// a redirect to the https public URL.
	HTTPRedirectListen string `yaml:"http_redirect_listen"`
	// TrustedProxies are the CIDRs of proxies in front of the gateway whose
	// X-Forwarded-For is believed; from anyone else it is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// DrainDelay is how long, after SIGTERM, /readyz reports unready while
	// the public listener still serves, so a load balancer stops sending
	// new requests before the listener closes.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// ShutdownGrace is how long requests in flight may take to finish once
	// the listener stopped accepting.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
	// AuditFile, when set, also receives every security event as JSON lines.
	AuditFile string `yaml:"audit_file"`
}

// Factors says which second factors users may use: "allowed" (default),
// "required" (the only one offered) or "forbidden".
type Factors struct {
	TOTP string `yaml:"totp"`
	SMS  string `yaml:"sms"`
	// WebAuthn is passkeys and security keys (see the webauthn section).
	WebAuthn string `yaml:"webauthn"`
}

// SMS configures text-message codes.
type SMS struct {
	Enabled bool `yaml:"enabled"`
	// Sender is vonage, twilio, webhook or log.
	Sender string `yaml:"sender"`
	// AllowLogSender must be true to use the log sender (development only:
	// the log then holds live codes).
	AllowLogSender bool `yaml:"allow_log_sender"`
	// BaseURL replaces the provider's API address (regional endpoints).
	BaseURL string        `yaml:"base_url"`
	Timeout time.Duration `yaml:"timeout"`
	Vonage  struct {
		APIKey    string `yaml:"api_key"`
		APISecret string `yaml:"api_secret"`
		From      string `yaml:"from"`
	} `yaml:"vonage"`
	Twilio struct {
		AccountSID          string `yaml:"account_sid"`
		AuthToken           string `yaml:"auth_token"`
		From                string `yaml:"from"`
		MessagingServiceSID string `yaml:"messaging_service_sid"`
	} `yaml:"twilio"`
	Webhook struct {
		URL    string `yaml:"url"`
		Secret string `yaml:"secret"`
	} `yaml:"webhook"`

	CodeLength     int           `yaml:"code_length"`
	CodeTTL        time.Duration `yaml:"code_ttl"`
	MaxAttempts    int           `yaml:"max_attempts"`
	ResendCooldown time.Duration `yaml:"resend_cooldown"`
	// Caps per hour on sends, against cost and SMS pumping.
	PerUserPerHour  int `yaml:"per_user_per_hour"`
	PerPhonePerHour int `yaml:"per_phone_per_hour"`
	PerIPPerHour    int `yaml:"per_ip_per_hour"`
	// AllowedCountries lists ISO regions ("GB", "FR") numbers may be in;
	// empty allows all.
	AllowedCountries []string `yaml:"allowed_countries"`
	// AllowNumberTypes lets texts go to numbers that carry premium rates or
	// belong to no country (phone.CostlyKinds: non_geographic,
	// premium_rate, shared_cost, personal, uan); empty refuses them all,
	// whatever allowed_countries says.
	AllowNumberTypes []string `yaml:"allow_number_types"`
	// Template is the message (Go text/template with .Code and .App).
	Template string `yaml:"template"`
	// WebOTP appends the "@host #code" line browsers autofill from.
	WebOTP bool `yaml:"webotp"`
	// DefaultRegion reads numbers written without a country code.
	DefaultRegion string `yaml:"default_region"`
	// PhoneFrom takes the user's number from the app's login answer.
	PhoneFrom struct {
		JSONField string `yaml:"json_field"`
		Header    string `yaml:"header"`
	} `yaml:"phone_from"`
	// SelfEnroll lets users add and confirm their own number.
	SelfEnroll bool `yaml:"self_enroll"`
}

// Admin is the operators' listener: /healthz, /readyz, /metrics.
type Admin struct {
	// Listen is its address ("": off). Keep it off the public network.
	Listen string `yaml:"listen"`
}

// Branding is the app's look on the gate pages.
type Branding struct {
	// Accent is a hex colour (#1a73e8) for buttons and links.
	Accent string `yaml:"accent"`
	// LogoFile is a PNG, JPEG, WebP or SVG file (at most 256 KiB).
	LogoFile string `yaml:"logo_file"`
}
