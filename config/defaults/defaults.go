// Package defaults holds the configuration defaults that packages other
// than config fall back to, written once and importing nothing of the
// gateway's, so a guard needs no config (and none of its dependencies)
// to know them.
package defaults

import "time"

// The defaults other packages fall back to when they are built without a
// config (tests, tools), written once; config.Defaults uses them too.
const (
	// HoldTTL is login.hold_ttl: how long a held login waits for
	// its second factor.
	HoldTTL = 5 * time.Minute
	// ParseSessionTTL is parse.session_ttl: how long a released
	// Parse session token stays registered (Parse's own session length).
	ParseSessionTTL = 365 * 24 * time.Hour
	// TokenCache is parse.token_cache: how long a replica reuses a
	// registry answer. 0 in a config turns the cache off.
	TokenCache = 5 * time.Second

	// MaxAttempts is login.max_attempts: codes a held login may
	// try before it is ended.
	MaxAttempts = 5
	// LoginMaxBody is login.max_body_bytes: the largest login
	// request body the cookie guard reads.
	LoginMaxBody = 64 << 10
	// IdentityTimeout is login.identity.timeout: how long the
	// identity probe waits for the app.
	IdentityTimeout = 5 * time.Second
	// ParseMaxBody is parse.max_body_bytes: the largest request
	// body the Parse guard reads (Parse Server's own default).
	ParseMaxBody = 20 << 20

	// The upstream transport: upstream.dial_timeout,
	// upstream.response_timeout, upstream.max_idle_conns_per_host,
	// upstream.idle_conn_timeout.
	DialTimeout         = 5 * time.Second
	ResponseTimeout     = 60 * time.Second
	MaxIdleConnsPerHost = 256
	IdleConnTimeout     = 90 * time.Second

	// ShutdownGrace is server.shutdown_grace: how long requests in
	// flight may finish after the listener closed.
	ShutdownGrace = 15 * time.Second

	// DeviceMaxAge is remember_device.max_age: how long a
	// remembered device skips the code.
	DeviceMaxAge = 30 * 24 * time.Hour
	// RedisPrefix is store.redis_prefix: the namespace of every
	// Redis key and the pub/sub channel.
	RedisPrefix = "vestibule:"

	// SMSCodeTTL and SMSMaxAttempts are sms.code_ttl and
	// sms.max_attempts: how long a text-message code is good and how many
	// tries it gets (the security page's phone confirmation too).
	SMSCodeTTL     = 5 * time.Minute
	SMSMaxAttempts = 5
	// RecoveryCodes is how many recovery codes an enrollment, or a new
	// set from the security page, gets.
	RecoveryCodes = 10

	// WebAuthnTimeout is webauthn.timeout: how long the browser
	// gets for a passkey ceremony (the WebAuthn recommendation).
	WebAuthnTimeout = 5 * time.Minute
)
