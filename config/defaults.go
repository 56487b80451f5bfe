package config

import (
	"time"

	"github.com/vestibule-gw/vestibule/sms"
)

// Defaults other packages fall back to when they are built without a
// config (tests, tools): written here once, with the rest in Defaults.
const (
	// DefaultHoldTTL is login.hold_ttl: how long a held login waits for
	// its second factor.
	DefaultHoldTTL = 5 * time.Minute
	// DefaultParseSessionTTL is parse.session_ttl: how long a released
	// Parse session token stays registered (Parse's own session length).
	DefaultParseSessionTTL = 365 * 24 * time.Hour
	// DefaultTokenCache is parse.token_cache: how long a replica reuses a
	// registry answer. 0 in a config turns the cache off.
	DefaultTokenCache = 5 * time.Second

	// DefaultMaxAttempts is login.max_attempts: codes a held login may
	// try before it is ended.
	DefaultMaxAttempts = 5
	// DefaultLoginMaxBody is login.max_body_bytes: the largest login
	// request body the cookie guard reads.
	DefaultLoginMaxBody = 64 << 10
	// DefaultIdentityTimeout is login.identity.timeout: how long the
	// identity probe waits for the app.
	DefaultIdentityTimeout = 5 * time.Second
	// DefaultParseMaxBody is parse.max_body_bytes: the largest request
	// body the Parse guard reads (Parse Server's own default).
	DefaultParseMaxBody = 20 << 20

	// The upstream transport: upstream.dial_timeout,
	// upstream.response_timeout, upstream.max_idle_conns_per_host,
	// upstream.idle_conn_timeout.
	DefaultDialTimeout         = 5 * time.Second
	DefaultResponseTimeout     = 60 * time.Second
	DefaultMaxIdleConnsPerHost = 256
	DefaultIdleConnTimeout     = 90 * time.Second

	// DefaultShutdownGrace is server.shutdown_grace: how long requests in
	// flight may finish after the listener closed.
	DefaultShutdownGrace = 15 * time.Second

	// DefaultDeviceMaxAge is remember_device.max_age: how long a
	// remembered device skips the code.
	DefaultDeviceMaxAge = 30 * 24 * time.Hour
	// DefaultRedisPrefix is store.redis_prefix: the namespace of every
	// Redis key and the pub/sub channel.
	DefaultRedisPrefix = "vestibule:"

	// DefaultWebAuthnTimeout is webauthn.timeout: how long the browser
	// gets for a passkey ceremony (the WebAuthn recommendation).
	DefaultWebAuthnTimeout = 5 * time.Minute
)

// Defaults returns the configuration every file starts from.
func Defaults() *Config {
	return &Config{
		Listen:    "127.0.0.1:8080",
		PublicURL: "http://127.0.0.1:8080",
		Prefix:    "/.vestibule/",
		AppName:   "Vestibule",
		Upstream: Upstream{
			URL:                 "demo",
			DialTimeout:         DefaultDialTimeout,
			ResponseTimeout:     DefaultResponseTimeout,
			MaxIdleConnsPerHost: DefaultMaxIdleConnsPerHost,
			IdleConnTimeout:     DefaultIdleConnTimeout,
		},
		Login: Login{
			Routes:       []Route{{Path: "/login", Methods: []string{"POST"}}},
			User:         User{FormField: "username", Normalize: []string{"nfkc", "trim"}},
			Fields:       []string{"password"},
			Identity:     Identity{Timeout: DefaultIdentityTimeout},
			MaxBodyBytes: DefaultLoginMaxBody,
			HoldTTL:      DefaultHoldTTL,
			MaxAttempts:  DefaultMaxAttempts,
		},
		Gate:           Gate{CookieName: "vestibule_gate", MaxAge: 12 * time.Hour},
		RememberDevice: RememberDevice{CookieName: "vestibule_device", MaxAge: DefaultDeviceMaxAge},
		Factors:        Factors{TOTP: "allowed", SMS: "allowed", WebAuthn: "allowed"},
		WebAuthn:       WebAuthn{UserVerification: "preferred", Attestation: "none", Timeout: DefaultWebAuthnTimeout},
		SMS: SMS{
			Timeout: sms.DefaultTimeout, CodeLength: 6, CodeTTL: 5 * time.Minute, MaxAttempts: 5,
			ResendCooldown: 30 * time.Second, PerUserPerHour: 5, PerPhonePerHour: 5, PerIPPerHour: 20,
			Template: "{{.Code}} is your {{.App}} sign-in code.", WebOTP: true, DefaultRegion: "US", SelfEnroll: true,
		},
		Regulation: Regulation{
			User: Limit{MaxFailures: 5, Window: 15 * time.Minute, Ban: 15 * time.Minute},
			IP:   Limit{MaxFailures: 20, Window: 15 * time.Minute, Ban: 15 * time.Minute},
		},
		Store: Store{SQLite: "vestibule.db", RedisPrefix: DefaultRedisPrefix, Ephemeral: "sqlite", Timeout: time.Second},
		Parse: ParseServer{Mount: "/parse", Signup: "hold", Anonymous: "hold", SessionTTL: DefaultParseSessionTTL, MaxBodyBytes: DefaultParseMaxBody, TokenCache: DefaultTokenCache},
		Server: Server{
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			BodyIdleTimeout:   60 * time.Second,
			WriteTimeout:      0, // streaming responses may be long
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			DrainDelay:        5 * time.Second,
			ShutdownGrace:     DefaultShutdownGrace,
		},
		Log:   Log{Level: "info", Format: "text"},
		Admin: Admin{Listen: "127.0.0.1:9091"},

		Enrollment: DefaultEnrollment(),
		Account:    Account{ReauthMaxAge: 5 * time.Minute},
	}
}

// Default methods of the route lists, applied when a route names none.
var (
	defaultLoginMethods  = []string{"POST"}
	defaultLogoutMethods = []string{"GET", "POST"}
	defaultBypassMethods = []string{"GET", "HEAD"}
)
