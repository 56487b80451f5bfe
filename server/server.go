package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	texttemplate "text/template"
	"time"

	"github.com/vestibule-gw/vestibule/account"
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
	"github.com/vestibule-gw/vestibule/store/open"
	"github.com/vestibule-gw/vestibule/store/sealed"
	"github.com/vestibule-gw/vestibule/templates"
)

// Deps are the parts a Server can be given instead of building them from
// the config (tests inject clocks and stores). Zero values: built from cfg.
type Deps struct {
	Now       func() time.Time
	Random    io.Reader
	Logger    *slog.Logger
	Durable   store.Durable
	Ephemeral store.Ephemeral
	Transport http.RoundTripper
}

// Server is an assembled gateway.
type Server struct {
	cfg       *config.Config
	handler   http.Handler
	log       *slog.Logger
	durable   store.Durable
	ephemeral store.Ephemeral
	bounded   *boundedEphemeral // ephemeral as the request paths see it
	owned     []io.Closer
	draining  atomic.Bool   // SIGTERM: /readyz says 503 while in-flight work ends
	served    chan struct{} // closed when Serve has drained and returned
	serveOnce sync.Once
	// revSyncedAt is when revocations were last read from the SQLite file
	// (janitor goroutine only).
	revSyncedAt time.Time

	upstream  *url.URL
	transport http.RoundTripper
	metrics   *metrics.Metrics
	px        *cookieguard.Proxy
	guard     *parseguard.Guard // nil unless parse.enabled
	logins    *held.Logins
	ch        *challenge.Handler
	acct      *account.Handler
	reg       *regulate.Regulator
	now       func() time.Time
	stop      chan struct{}
	stopped   chan struct{}
	cert      atomic.Pointer[tls.Certificate]
	closeOnce sync.Once
}

// New assembles the gateway from a validated config. The upstream URL must
// be a real URL by now (the "demo" placeholder is resolved by the caller).
func New(ctx context.Context, cfg *config.Config, d Deps) (*Server, error) {
	upstream, err := url.Parse(cfg.Upstream.URL)
	if err != nil || upstream.Host == "" {
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

	// The stores the config names (store/open), unless given.
	stores := open.New(cfg.Store, open.Options{Now: d.Now, Logger: d.Logger})
	s.owned = append(s.owned, stores)
	s.durable, s.ephemeral = d.Durable, d.Ephemeral
	if s.durable == nil {
		if s.durable, err = stores.Durable(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.ephemeral == nil {
		if s.ephemeral, err = stores.Ephemeral(ctx); err != nil {
			s.Close()
			return nil, err
		}
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
		cache := cfg.Parse.TokenCache
		if cache == 0 {
			cache = -1
		}
		tokens = held.NewRegistry(ephemeral, held.RegistryOptions{SessionTTL: cfg.Parse.SessionTTL, CacheTTL: cache, Now: d.Now})
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
		TOTPForbidden: cfg.Factors.TOTP == "forbidden",
		Enrollment:    enrollPolicy,
		Notifier:      enrollNotifier,
	})
	if err != nil {
		return nil, err
	}
	acct, err := accountPage(cfg, d, accountParts{durable: bounded, ephemeral: ephemeral, issuer: issuer, sealer: sealer,
		ch: ch, sms: smsOpts != nil, notifier: enrollNotifier, ips: ips, gateKeys: gateKeys, loginURL: loginURL, origin: origin, brand: brand})
	if err != nil {
		return nil, err
	}
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
	s.px, s.reg, s.ch, s.acct = px, reg, ch, acct
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
	s.handler = s.metrics.Observe(cfg.Prefix, routes(cfg.Prefix, gatePages(cfg.Prefix, ch, acct), px, s.guard))
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	s.revSyncedAt = d.Now()
	go s.janitor()
	return s, nil
}

// buildSMS makes the text-message options from the config (nil: off).
func buildSMS(cfg *config.Config, d Deps) (*challenge.SMSOptions, error) {
	c := cfg.SMS
	if !c.Enabled || cfg.Factors.SMS == "forbidden" {
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

// eventsSink lets the logger count events into metrics made after it.
type eventsSink struct {
	mu sync.Mutex
	m  *metrics.Metrics
}

func (e *eventsSink) wrap(h slog.Handler) slog.Handler { return &sinkHandler{h: h, e: e} }

type sinkHandler struct {
	h slog.Handler
	e *eventsSink
}

func (s *sinkHandler) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (s *sinkHandler) Handle(ctx context.Context, r slog.Record) error {
	s.e.mu.Lock()
	m := s.e.m
	s.e.mu.Unlock()
	if m != nil {
		return m.LogHandler(s.h).Handle(ctx, r)
	}
	if s.h.Enabled(ctx, r.Level) {
		return s.h.Handle(ctx, r)
	}
	return nil
}
func (s *sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sinkHandler{h: s.h.WithAttrs(as), e: s.e}
}
func (s *sinkHandler) WithGroup(n string) slog.Handler {
	return &sinkHandler{h: s.h.WithGroup(n), e: s.e}
}

// AdminHandler serves /healthz (alive), /readyz (stores and upstream
// reachable) and /metrics, for the admin listener.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.Handler())
	return mux
}

// ReloadTLS (re)reads the certificate and key files. On error the current
// certificate stays in use.
func (s *Server) ReloadTLS() error {
	if s.cfg.Server.TLSCertFile == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.Server.TLSCertFile, s.cfg.Server.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("server.tls_cert_file / tls_key_file: %w", err)
	}
	s.cert.Store(&cert)
	return nil
}

// RedirectHandler answers plain-HTTP requests with a permanent redirect to
// the public https URL (server.http_redirect_listen).
func (s *Server) RedirectHandler() http.Handler {
	pub, _ := url.Parse(s.cfg.PublicURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := *pub
		target.Path, target.RawQuery = r.URL.Path, r.URL.RawQuery
		http.Redirect(w, r, target.String(), http.StatusPermanentRedirect)
	})
}

// ServeAdmin runs the admin listener until ctx ends.
func (s *Server) ServeAdmin(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		// Keep answering (/readyz: 503, draining) until the public
		// listener has drained.
		select {
		case <-s.served:
		case <-time.After(s.cfg.Server.DrainDelay + s.cfg.Server.ShutdownGrace + time.Second):
		}
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// pathRules builds the bypass and step-up rules of a config.
func pathRules(cfg *config.Config) ([]cookieguard.PathRule, []cookieguard.StepUpRule, error) {
	bypass, err := bypassRules(cfg.Bypass)
	if err != nil {
		return nil, nil, err
	}
	var stepUp []cookieguard.StepUpRule
	for i, su := range cfg.StepUp {
		rules, err := bypassRules([]config.Bypass{{Path: su.Path, Prefix: su.Prefix, Pattern: su.Pattern, Methods: su.Methods}})
		if err != nil {
			return nil, nil, fmt.Errorf("step_up[%d]: %w", i, err)
		}
		stepUp = append(stepUp, cookieguard.StepUpRule{Rule: rules[0], MaxAge: su.MaxAge})
	}
	return bypass, stepUp, nil
}

// Reload applies a new, validated config while serving: bypass and step-up
// rules, the failed-attempt limits and the pages' branding (accent colour,
// logo file read again) change at once. It returns the keys
// that differ but need a restart to take effect (they are not applied).
func (s *Server) Reload(cfg *config.Config) ([]string, error) {
	bypass, stepUp, err := pathRules(cfg)
	if err != nil {
		return nil, err
	}
	brand, err := loadBrand(cfg.Branding)
	if err != nil {
		return nil, err
	}
	s.px.SetRules(bypass, stepUp)
	s.reg.SetLimits(regulate.Limit(cfg.Regulation.User), regulate.Limit(cfg.Regulation.IP))
	s.ch.SetBrand(brand)
	s.acct.SetBrand(brand.Accent != "", len(brand.Logo) > 0)
	s.metrics.SetConfig(cfg.Fingerprint())
	var restart []string
	old := *s.cfg // the startup config: restart-only keys compare with it
	for key, same := range map[string]bool{
		"listen":            old.Listen == cfg.Listen,
		"public_url":        old.PublicURL == cfg.PublicURL,
		"prefix":            old.Prefix == cfg.Prefix,
		"upstream":          reflect.DeepEqual(old.Upstream, cfg.Upstream),
		"session_cookies":   reflect.DeepEqual(old.SessionCookies, cfg.SessionCookies),
		"credential_params": reflect.DeepEqual(old.CredentialParams, cfg.CredentialParams),
		"login":             reflect.DeepEqual(old.Login, cfg.Login),
		"logout":            reflect.DeepEqual(old.Logout, cfg.Logout),
		"gate":              reflect.DeepEqual(old.Gate, cfg.Gate),
		"secrets":           reflect.DeepEqual(old.Secrets, cfg.Secrets),
		"store":             reflect.DeepEqual(old.Store, cfg.Store),
		"sms":               reflect.DeepEqual(old.SMS, cfg.SMS),
		"factors":           old.Factors == cfg.Factors,
		"remember_device":   old.RememberDevice == cfg.RememberDevice,
		"parse":             reflect.DeepEqual(old.Parse, cfg.Parse),
		"server":            reflect.DeepEqual(old.Server, cfg.Server),
		"admin":             old.Admin == cfg.Admin,
		"log":               old.Log == cfg.Log,
		"app_name":          old.AppName == cfg.AppName,
		"enrollment":        reflect.DeepEqual(old.Enrollment, cfg.Enrollment),
		"account":           old.Account == cfg.Account,
	} {
		if !same {
			restart = append(restart, key)
		}
	}
	sort.Strings(restart)
	s.log.Info("config reloaded: bypass, step_up, regulation and branding applied", "event", "config_reloaded", "needs_restart", strings.Join(restart, ","))
	return restart, nil
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

// janitor collects expired held logins every few seconds, and every
// second or two hands pending revocations to the store and picks up
// revocations other processes wrote (see syncRevocations).
func (s *Server) janitor() {
	defer close(s.stopped)
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	r := time.NewTicker(revocationSync)
	defer r.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep(context.Background())
		case <-r.C:
			s.syncRevocations(context.Background())
		}
	}
}

// Sweep removes expired held logins and ends their app sessions (see
// held.Logins.Sweep). It returns how many it collected.
func (s *Server) Sweep(ctx context.Context) int { return s.logins.Sweep(ctx) }

// WaitBackground waits for the Parse sessions the guard is ending in the
// background (tests; Close waits too).
func (s *Server) WaitBackground() {
	if s.guard != nil {
		s.guard.Wait()
	}
}

// Handler is the gateway's public handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Durable and Ephemeral expose the stores (admin commands and tests).
func (s *Server) Durable() store.Durable     { return s.durable }
func (s *Server) Ephemeral() store.Ephemeral { return s.ephemeral }

// Close stops the janitor and releases the stores the server opened itself.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.stopped
		}
		s.WaitBackground()
	})
	var errs []error
	for _, c := range s.owned {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// guardRoutes converts configured login or logout routes for the cookie guard.
func guardRoutes(rs []config.Route) []cookieguard.Route {
	out := make([]cookieguard.Route, 0, len(rs))
	for _, r := range rs {
		out = append(out, cookieguard.Route{Path: r.Path, Methods: r.Methods, Query: r.Query})
	}
	return out
}

// loginForm is how the proxy reads login requests.
func loginForm(l config.Login) cookieguard.LoginForm {
	f := cookieguard.LoginForm{UserField: l.User.FormField, Fields: []cookieguard.Field{}}
	for _, fd := range l.Fields {
		name, value, _ := strings.Cut(fd, "=")
		f.Fields = append(f.Fields, cookieguard.Field{Name: name, Value: value})
	}
	f.Normalize = cookieguard.NormalizerOf(l.User.Normalize)
	return f
}

// identityProbe is the configured identity probe (nil: none).
func identityProbe(id config.Identity) (*cookieguard.IdentityProbe, error) {
	if id.Path == "" {
		return nil, nil
	}
	ip := &cookieguard.IdentityProbe{Path: id.Path, JSONPointer: id.JSONPointer, Header: id.Header, Timeout: id.Timeout}
	if id.Regexp != "" {
		re, err := regexp.Compile(id.Regexp)
		if err != nil {
			return nil, fmt.Errorf("login.identity.regexp: %w", err)
		}
		ip.Regexp = re
	}
	return ip, nil
}

func successMatcher(s config.Success) (cookieguard.Matcher, error) {
	m := cookieguard.Matcher{Status: s.Status, SetsSessionCookie: s.SetsSessionCookie}
	if len(s.Headers) > 0 {
		m.Headers = map[string]*regexp.Regexp{}
		for name, pat := range s.Headers {
			re, err := regexp.Compile(pat)
			if err != nil {
				return m, fmt.Errorf("login.success.headers.%s: %w", name, err)
			}
			m.Headers[http.CanonicalHeaderKey(name)] = re
		}
	}
	return m, nil
}

func bypassRules(bs []config.Bypass) ([]cookieguard.PathRule, error) {
	var out []cookieguard.PathRule
	for i, b := range bs {
		r := cookieguard.PathRule{Path: b.Path, Prefix: b.Prefix, Methods: b.Methods}
		if b.Pattern != "" {
			re, err := regexp.Compile(b.Pattern)
			if err != nil {
				return nil, fmt.Errorf("bypass[%d].pattern: %w", i, err)
			}
			r.Pattern = re
		}
		out = append(out, r)
	}
	return out, nil
}
