package config

import (
	"time"

	"github.com/vestibule-gw/vestibule/config/defaults"
	"github.com/vestibule-gw/vestibule/sms"
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
			DialTimeout:         defaults.DialTimeout,
			ResponseTimeout:     defaults.ResponseTimeout,
			MaxIdleConnsPerHost: defaults.MaxIdleConnsPerHost,
			IdleConnTimeout:     defaults.IdleConnTimeout,
		},
		Login: Login{
			Routes:       []Route{{Path: "/login", Methods: []string{"POST"}}},
			User:         User{FormField: "username", Normalize: []string{"nfkc", "trim"}},
			Fields:       []string{"password"},
			Identity:     Identity{Timeout: defaults.IdentityTimeout},
			MaxBodyBytes: defaults.LoginMaxBody,
			HoldTTL:      defaults.HoldTTL,
			MaxAttempts:  defaults.MaxAttempts,
		},
		Gate:           Gate{CookieName: "vestibule_gate", MaxAge: 12 * time.Hour},
		RememberDevice: RememberDevice{CookieName: "vestibule_device", MaxAge: defaults.DeviceMaxAge},
		Factors:        Factors{TOTP: "allowed", SMS: "allowed", WebAuthn: "allowed"},
		WebAuthn:       WebAuthn{UserVerification: "preferred", Attestation: "none", Timeout: defaults.WebAuthnTimeout},
		SMS: SMS{
			Timeout: sms.DefaultTimeout, CodeLength: 6, CodeTTL: defaults.SMSCodeTTL, MaxAttempts: defaults.SMSMaxAttempts,
			ResendCooldown: 30 * time.Second, PerUserPerHour: 5, PerPhonePerHour: 5, PerIPPerHour: 20,
			Template: "{{.Code}} is your {{.App}} sign-in code.", WebOTP: true, DefaultRegion: "US", SelfEnroll: true,
		},
		Regulation: Regulation{
			User: Limit{MaxFailures: 5, Window: 15 * time.Minute, Ban: 15 * time.Minute},
			IP:   Limit{MaxFailures: 20, Window: 15 * time.Minute, Ban: 15 * time.Minute},
		},
		Store: Store{SQLite: "vestibule.db", RedisPrefix: defaults.RedisPrefix, Ephemeral: "sqlite", Timeout: time.Second},
		Parse: ParseServer{Mount: "/parse", Signup: "hold", Anonymous: "hold", SessionTTL: defaults.ParseSessionTTL, MaxBodyBytes: defaults.ParseMaxBody, TokenCache: defaults.TokenCache},
		Server: Server{
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			BodyIdleTimeout:   60 * time.Second,
			WriteTimeout:      0, // streaming responses may be long
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			DrainDelay:        5 * time.Second,
			ShutdownGrace:     defaults.ShutdownGrace,
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
