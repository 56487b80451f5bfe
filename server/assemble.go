package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/clientip"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/metrics"
	"github.com/vestibule-gw/vestibule/parseguard"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/sms"
	"github.com/vestibule-gw/vestibule/static"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sealed"
	"github.com/vestibule-gw/vestibule/templates"
)

// New assembles the gateway from a validated config. The upstream URL must
// be a real URL by now (the "demo" placeholder is resolved by the caller).
func New(ctx context.Context, cfg *config.Config, d Deps) (_ *Server, err error) {
	upstream, perr := url.Parse(cfg.Upstream.URL)
	if perr != nil || upstream.Host == "" {
		return nil, fmt.Errorf("upstream.url: not an absolute URL: %q", cfg.Upstream.URL)
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	// Every audit event is also counted; see metrics.LogHandler.
	events := &eventsSink{}
	d.Logger = slog.New(events.wrap(d.Logger.Handler()))
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{cfg: cfg, log: d.Logger, served: make(chan struct{})}
	defer func() {
		if err != nil {
			// Whatever was opened before the failure is released: a
			// config that fails here leaves no file or connection open.
			s.Close()
		}
	}()
	gateKeys, err := cfg.GateKeys()
	if err != nil {
		return nil, err
	}
	encKeys, err := cfg.EncryptionKeys()
	if err != nil {
		return nil, err
	}
	sealer, err := seal.New(encKeys, d.Random)
	if err != nil {
		return nil, fmt.Errorf("secrets.encryption_keys: %w", err)
	}
	codec, err := gate.NewCodec(cfg.Gate.CookieName, gateKeys, d.Now)
	if err != nil {
		return nil, fmt.Errorf("gate.keys: %w", err)
	}
	issuer := &gate.Issuer{Codec: codec, MaxAge: cfg.Gate.MaxAge, Secure: cfg.Secure(), Now: d.Now}

	if err := s.openStores(ctx, cfg, d); err != nil {
		return nil, err
	}

	// Whichever backends hold them, held logins and phone numbers are
	// sealed at rest with the encryption keys.
	sealedDurable := sealed.NewDurable(s.durable, sealer)
	s.durable = sealedDurable
	s.ephemeral = sealed.NewEphemeral(s.ephemeral, sealer)
	// Numbers an earlier version stored in clear are sealed now; failing
	// to do so does not stop the gateway (they still read).
	if n, err := sealedDurable.SealClearPhones(ctx); err != nil {
		d.Logger.Warn("sealing phone numbers stored in clear", "event", "store_error", "err", err)
	} else if n > 0 {
		d.Logger.Info("sealed phone numbers stored in clear by an earlier version", "event", "phones_sealed", "count", n)
	}
	// The request paths see the stores through bounded views: each call
	// gets store.timeout, and revocations survive an ephemeral-store outage
	// (see stores.go). Admin accessors and the janitor's sweep use them too.
	s.bounded = newBoundedEphemeral(s.ephemeral, cfg.Store.Timeout, d.Now, d.Logger)
	bounded := &boundedDurable{Durable: s.durable, timeout: s.bounded.timeout, enrolled: s.endSessions}
	durable := store.Durable(bounded)
	ephemeral := store.Ephemeral(s.bounded)

	ips, err := clientip.New(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("server.%w", err)
	}
	reg := &regulate.Regulator{
		Counters: ephemeral,
		User:     regulate.Limit(cfg.Regulation.User),
		IP:       regulate.Limit(cfg.Regulation.IP),
		Now:      d.Now,
		Logger:   d.Logger,
	}
	var device *gate.Codec
	if cfg.RememberDevice.Enabled {
		if device, err = gate.NewCodec(cfg.RememberDevice.CookieName, deriveAll(gateKeys, "device"), d.Now); err != nil {
			return nil, fmt.Errorf("remember_device: %w", err)
		}
	}
	transport := d.Transport
	if transport == nil {
		transport = forward.NewTransport(forward.TransportOptions{
			DialTimeout:           cfg.Upstream.DialTimeout,
			ResponseHeaderTimeout: cfg.Upstream.ResponseTimeout,
			MaxIdleConnsPerHost:   cfg.Upstream.MaxIdleConnsPerHost,
			IdleConnTimeout:       cfg.Upstream.IdleConnTimeout,
		})
	}
	s.metrics = metrics.New(func() float64 {
		if hc, ok := s.ephemeral.(interface {
			HeldCount(context.Context) (int, error)
		}); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if n, err := hc.HeldCount(ctx); err == nil {
				return float64(n)
			}
		}
		return 0
	})
	events.mu.Lock()
	events.m = s.metrics
	s.metrics.SetConfig(cfg.Fingerprint())
	events.mu.Unlock()
	transport = s.metrics.Transport(transport)
	s.upstream, s.transport, s.now = upstream, transport, d.Now

	smsOpts, err := buildSMS(cfg, d)
	if err != nil {
		return nil, err
	}
	rp, err := passkeyRP(cfg, gateKeys, d)
	if err != nil {
		return nil, err
	}
	var passkeys challenge.PasskeyRP // a nil *passkey.RP is no relying party
	if rp != nil {
		passkeys = rp
	}
	if smsOpts != nil {
		smsOpts.CodeKeys = sealer.DeriveAll("sms-code")
	}

	brand, err := loadBrand(cfg.Branding)
	if err != nil {
		return nil, err
	}

	pub, _ := url.Parse(cfg.PublicURL)
	if smsOpts != nil && cfg.SMS.WebOTP {
		smsOpts.WebOTPHost = pub.Hostname()
	}
	origin := pub.Scheme + "://" + pub.Host
	loginURL := "/"
	if len(cfg.Login.Routes) > 0 {
		loginURL = cfg.Login.Routes[0].Path
	}
	enrollPolicy, enrollNotifier, err := s.enrollmentParts(cfg, d)
	if err != nil {
		return nil, err
	}
	s.logins = &held.Logins{Store: ephemeral, Sessions: map[string]held.AppSession{}, TTL: cfg.Login.HoldTTL,
		Now: d.Now, Random: d.Random, Logger: d.Logger}
	if cfg.Login.LogoutAbandoned && len(cfg.Logout.Routes) > 0 {
		s.logins.Sessions[""] = &cookieguard.Logout{Upstream: upstream, Transport: transport, Route: guardRoutes(cfg.Logout.Routes)[0]}
	}
	var tokens *held.Registry
	if cfg.Parse.Enabled {
		// A held Parse token is always ended at the app: nobody else can
		// use it, and an unreleased session should not linger.
		s.logins.Sessions[store.KindParse] = &parseguard.Logout{Transport: transport, Upstream: upstream, Mount: cfg.Parse.Mount}
		tokens = held.NewRegistry(ephemeral, held.RegistryOptions{SessionTTL: cfg.Parse.SessionTTL, CacheTTL: cfg.Parse.TokenCache, Now: d.Now})
	}
	ch, err := challenge.New(challenge.Options{
		Prefix:        cfg.Prefix,
		AppName:       cfg.AppName,
		LoginURL:      loginURL,
		Origin:        origin,
		Secure:        cfg.Secure(),
		Durable:       durable,
		Ephemeral:     ephemeral,
		Sealer:        sealer,
		Cookies:       issuer,
		PendingKeys:   gateKeys,
		MaxAttempts:   cfg.Login.MaxAttempts,
		HoldTTL:       cfg.Login.HoldTTL,
		Templates:     templates.FS,
		Static:        static.FS,
		Now:           d.Now,
		Random:        d.Random,
		Logger:        d.Logger,
		ClientIP:      ips,
		Regulator:     reg,
		OnAbandon:     s.logins.Abandon,
		Logins:        s.logins,
		ParseTokens:   tokens,
		Device:        device,
		DeviceMaxAge:  cfg.RememberDevice.MaxAge,
		SMS:           smsOpts,
		Brand:         brand,
		TOTPForbidden: cfg.Factors.TOTP == "forbidden" || cfg.Factors.WebAuthn == "required",
		Passkeys:      passkeys,
		Enrollment:    enrollPolicy,
		Notifier:      enrollNotifier,
	})
	if err != nil {
		return nil, err
	}
	acct, err := accountPage(cfg, d, accountParts{durable: bounded, ephemeral: ephemeral, issuer: issuer, sealer: sealer,
		ch: ch, sms: smsOpts != nil, notifier: enrollNotifier, ips: ips, gateKeys: gateKeys, passkeys: rp, loginURL: loginURL, origin: origin, brand: brand})
	if err != nil {
		return nil, err
	}
	s.acct = acct
	matcher, err := successMatcher(cfg.Login.Success)
	if err != nil {
		return nil, err
	}
	bypass, stepUp, err := pathRules(cfg)
	if err != nil {
		return nil, err
	}
	identity, err := identityProbe(cfg.Login.Identity)
	if err != nil {
		return nil, err
	}
	loginRoutes := guardRoutes(cfg.Login.Routes)
	if cfg.Login.Basic || cfg.Parse.Enabled && len(cfg.SessionCookies) == 0 {
		// Parse-only: no cookie logins to intercept outside the mount.
		loginRoutes = nil
	}
	px, err := cookieguard.New(cookieguard.Options{
		Upstream:         upstream,
		PreserveHost:     cfg.Upstream.PreserveHost,
		Transport:        transport,
		Prefix:           cfg.Prefix,
		Challenger:       ch,
		ErrorPage:        ch.ErrorPage,
		SessionCookies:   cfg.SessionCookies,
		LoginRoutes:      loginRoutes,
		LogoutRoutes:     guardRoutes(cfg.Logout.Routes),
		Bypass:           bypass,
		Success:          matcher,
		UserField:        cfg.Login.User.FormField,
		Form:             loginForm(cfg.Login),
		Identity:         identity,
		PreLoginCookies:  cfg.Login.PreLoginCookies,
		CredentialParams: cfg.CredentialParams,
		Basic:            cfg.Login.Basic,
		Held:             s.logins,
		BodyIdleTimeout:  cfg.Server.BodyIdleTimeout,
		OwnCookies:       ch.CookieNames(),
		UserHeader:       cfg.Login.User.Header,
		MaxLoginBody:     cfg.Login.MaxBodyBytes,
		Cookies:          issuer,
		Store:            ephemeral,
		Now:              d.Now,
		Logger:           d.Logger,
		ClientIP:         ips,
		Regulator:        reg,
		BannedPage:       ch.BannedPage,
		StepUp:           stepUp,
		Status:           s.metrics.Status,
		PhoneJSONField:   cfg.SMS.PhoneFrom.JSONField,
		PhoneHeader:      cfg.SMS.PhoneFrom.Header,
	})
	if err != nil {
		return nil, err
	}
	s.px, s.reg, s.ch = px, reg, ch
	if cfg.Parse.Enabled {
		pc := cfg.Parse
		var from []netip.Prefix
		for _, f := range pc.MasterKeyFrom {
			pf, _ := config.ParsePrefix(f)
			from = append(from, pf)
		}
		guard, err := parseguard.New(parseguard.Options{
			Upstream: upstream, Transport: transport, PreserveHost: cfg.Upstream.PreserveHost,
			Mount: pc.Mount, GraphQL: pc.GraphQLPath,
			Challenger: ch, Held: s.logins, Tokens: tokens, ClientIP: ips, MasterKeyFrom: from,
			AllowLoginAs: pc.AllowLoginAs, AllowVerifyPassword: pc.AllowVerifyPassword, SignupGrace: pc.Signup == "grace", AnonymousPass: pc.Anonymous == "pass",
			PhoneField: pc.PhoneField, MaxBody: pc.MaxBodyBytes,
			Regulator: reg, Now: d.Now, Logger: d.Logger, Status: s.metrics.Status,
		})
		if err != nil {
			return nil, err
		}
		s.guard = guard
	}
	var pg parseGuard // not a nil *parseguard.Guard: cookie mode
	if s.guard != nil {
		pg = s.guard
	}
	s.handler = s.metrics.Observe(cfg.Prefix, routes(cfg.Prefix, prefixPages(cfg.Prefix, ch, acct), px, pg))
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	s.revSyncedAt = d.Now()
	go s.janitor()
	return s, nil
}

// buildSMS makes the text-message options from the config (nil: off).
func buildSMS(cfg *config.Config, d Deps) (*challenge.SMSOptions, error) {
	c := cfg.SMS
	if !c.Enabled || cfg.Factors.SMS == "forbidden" || cfg.Factors.WebAuthn == "required" {
		return nil, nil
	}
	var sender sms.Sender
	var err error
	switch c.Sender {
	case "vonage":
		sender, err = sms.NewVonage(sms.VonageOptions{APIKey: c.Vonage.APIKey, APISecret: c.Vonage.APISecret, From: c.Vonage.From, BaseURL: c.BaseURL, Timeout: c.Timeout})
	case "twilio":
		sender, err = sms.NewTwilio(sms.TwilioOptions{AccountSID: c.Twilio.AccountSID, AuthToken: c.Twilio.AuthToken, From: c.Twilio.From,
			MessagingServiceSID: c.Twilio.MessagingServiceSID, BaseURL: c.BaseURL, Timeout: c.Timeout})
	case "webhook":
		u := c.Webhook.URL
		if c.BaseURL != "" {
			u = c.BaseURL
		}
		sender, err = sms.NewWebhook(u, []byte(c.Webhook.Secret), c.Timeout, d.Now)
	case "log":
		if !c.AllowLogSender {
			return nil, fmt.Errorf("sms.sender: the log sender needs sms.allow_log_sender: true")
		}
		d.Logger.Warn("SMS codes go to the log (sms.sender: log): for development only", "event", "sms_log_sender")
		sender = &sms.Log{Logger: d.Logger}
	default:
		return nil, fmt.Errorf("sms.sender: unknown sender %q", c.Sender)
	}
	if err != nil {
		return nil, fmt.Errorf("sms.%s: %w", c.Sender, err)
	}
	tmpl, err := texttemplate.New("sms").Parse(c.Template)
	if err != nil {
		return nil, fmt.Errorf("sms.template: %w", err)
	}
	return &challenge.SMSOptions{
		Sender: sender, CodeLength: c.CodeLength, CodeTTL: c.CodeTTL, MaxAttempts: c.MaxAttempts, Cooldown: c.ResendCooldown,
		PerUser: c.PerUserPerHour, PerPhone: c.PerPhonePerHour, PerIP: c.PerIPPerHour, AllowedCountries: c.AllowedCountries,
		Template: tmpl, DefaultRegion: c.DefaultRegion, SelfEnroll: c.SelfEnroll, Required: cfg.Factors.SMS == "required",
		Timeout: c.Timeout, AllowNumberTypes: c.AllowNumberTypes,
	}, nil
}

// loadBrand reads the gate pages' look (the logo file is read now).
func loadBrand(b config.Branding) (challenge.Brand, error) {
	brand := challenge.Brand{Accent: b.Accent}
	if f := b.LogoFile; f != "" {
		logo, err := os.ReadFile(f)
		if err != nil {
			return brand, fmt.Errorf("branding.logo_file: %w", err)
		}
		brand.Logo, brand.LogoType = logo, config.LogoTypes[strings.ToLower(filepath.Ext(f))]
	}
	return brand, nil
}

// deriveAll gives a second cookie its own keys from each configured key.
func deriveAll(keys [][]byte, purpose string) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		hk, _ := gate.DeriveKeys(k, purpose)
		out[i] = hk
	}
	return out
}
