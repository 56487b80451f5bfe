package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/proxy"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/static"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/store/sqlite"
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
	owned     []io.Closer
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
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{cfg: cfg, log: d.Logger}
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

	s.durable = d.Durable
	if s.durable == nil {
		db, err := sqlite.Open(ctx, cfg.Store.SQLite, d.Now)
		if err != nil {
			return nil, fmt.Errorf("store.sqlite: opening %q: %w", cfg.Store.SQLite, err)
		}
		s.durable = db
		s.owned = append(s.owned, db)
	}
	s.ephemeral = d.Ephemeral
	if s.ephemeral == nil {
		mem := memory.New(d.Now)
		s.ephemeral = mem
		s.owned = append(s.owned, mem)
	}

	pub, _ := url.Parse(cfg.PublicURL)
	origin := pub.Scheme + "://" + pub.Host
	loginURL := "/"
	if len(cfg.Login.Routes) > 0 {
		loginURL = cfg.Login.Routes[0].Path
	}
	ch, err := challenge.New(challenge.Options{
		Prefix:      cfg.Prefix,
		AppName:     cfg.AppName,
		LoginURL:    loginURL,
		Origin:      origin,
		Secure:      cfg.Secure(),
		Durable:     s.durable,
		Ephemeral:   s.ephemeral,
		Sealer:      sealer,
		Cookies:     issuer,
		PendingKeys: gateKeys,
		MaxAttempts: cfg.Login.MaxAttempts,
		HoldTTL:     cfg.Login.HoldTTL,
		Templates:   templates.FS,
		Static:      static.FS,
		Now:         d.Now,
		Random:      d.Random,
		Logger:      d.Logger,
	})
	if err != nil {
		return nil, err
	}
	transport := d.Transport
	if transport == nil {
		transport = proxy.NewTransport(proxy.TransportOptions{
			DialTimeout:           cfg.Upstream.DialTimeout,
			ResponseHeaderTimeout: cfg.Upstream.ResponseTimeout,
			MaxIdleConnsPerHost:   cfg.Upstream.MaxIdleConnsPerHost,
			IdleConnTimeout:       cfg.Upstream.IdleConnTimeout,
		})
	}
	matcher, err := successMatcher(cfg.Login.Success)
	if err != nil {
		return nil, err
	}
	bypass, err := bypassRules(cfg.Bypass)
	if err != nil {
		return nil, err
	}
	px, err := proxy.New(proxy.Options{
		Upstream:       upstream,
		PreserveHost:   cfg.Upstream.PreserveHost,
		Transport:      transport,
		Prefix:         cfg.Prefix,
		Gate:           ch,
		Challenger:     ch,
		ErrorPage:      ch.ErrorPage,
		SessionCookies: cfg.SessionCookies,
		LoginRoutes:    routes(cfg.Login.Routes),
		LogoutRoutes:   routes(cfg.Logout.Routes),
		Bypass:         bypass,
		Success:        matcher,
		UserField:      cfg.Login.User.FormField,
		UserHeader:     cfg.Login.User.Header,
		MaxLoginBody:   cfg.Login.MaxBodyBytes,
		HoldTTL:        cfg.Login.HoldTTL,
		Cookies:        issuer,
		Store:          s.ephemeral,
		Now:            d.Now,
		Random:         d.Random,
		Logger:         d.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.handler = px
	return s, nil
}

// Handler is the gateway's public handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Durable and Ephemeral expose the stores (admin commands and tests).
func (s *Server) Durable() store.Durable     { return s.durable }
func (s *Server) Ephemeral() store.Ephemeral { return s.ephemeral }

// Close releases the stores the server opened itself.
func (s *Server) Close() error {
	var errs []error
	for _, c := range s.owned {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Serve runs the public listener until ctx ends, then shuts down gracefully
// within the configured grace period.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.Server.ReadTimeout,
		WriteTimeout:      s.cfg.Server.WriteTimeout,
		IdleTimeout:       s.cfg.Server.IdleTimeout,
		MaxHeaderBytes:    s.cfg.Server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	grace := s.cfg.Server.ShutdownGrace
	if grace <= 0 {
		grace = 15 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func routes(rs []config.Route) []proxy.Route {
	out := make([]proxy.Route, 0, len(rs))
	for _, r := range rs {
		out = append(out, proxy.Route{Path: r.Path, Methods: upper(r.Methods)})
	}
	return out
}

func upper(ms []string) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = strings.ToUpper(m)
	}
	return out
}

func successMatcher(s config.Success) (proxy.Matcher, error) {
	m := proxy.Matcher{Status: s.Status, SetsSessionCookie: s.SetsSessionCookie}
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

func bypassRules(bs []config.Bypass) ([]proxy.BypassRule, error) {
	var out []proxy.BypassRule
	for i, b := range bs {
		r := proxy.BypassRule{Path: b.Path, Prefix: b.Prefix, Methods: upper(b.Methods)}
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
