package cookieguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/clientip"
	"github.com/vestibule-gw/vestibule/config/defaults"
	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
)

// Challenger starts the second factor for a held login. It is implemented by
// the challenge package.
type Challenger interface {
	// Begin returns the answer that replaces the held login response: a
	// redirect to the code page for browsers, a JSON challenge for API
	// clients, with the pending-challenge cookie.
	Begin(r *http.Request, h *store.Held) (forward.Reply, error)
	// Pending reports whether the request carries a valid pending-challenge
	// cookie (so a browser can be sent back to the code page).
	Pending(r *http.Request) bool
}

// Options configures a Proxy. Zero values are documented per field.
type Options struct {
	// Upstream is the app's base URL. Required.
	Upstream *url.URL
	// PreserveHost sends the client's Host header upstream.
	PreserveHost bool
	// Transport carries requests upstream (nil: forward.NewTransport(forward.TransportOptions{})).
	Transport http.RoundTripper
	// Prefix is the reserved path prefix, e.g. "/.vestibule/". Required.
	Prefix string
	// Challenger starts second factors. Required.
	Challenger Challenger
	// ErrorPage renders the gateway's own error answers (502, 503, 504, 413).
	// nil: plain text.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int)

	// SessionCookies are the app's session cookie names ("name*" = prefix).
	SessionCookies []string
	LoginRoutes    []Route
	LogoutRoutes   []Route
	Bypass         []PathRule
	// Success classifies login answers.
	Success Matcher
	// UserField is the login form field naming the user. Form, when its
	// UserField is set, says more: the allowed fields and normalisation.
	UserField string
	Form      LoginForm
	// Identity, if set, asks the app who a new login belongs to; its
	// answer is the held login's user. A probe that fails fails closed.
	Identity *IdentityProbe
	// PreLoginCookies are the session cookies ("name*" = prefix) the app
	// issues to anonymous browsers (kept-id apps, CSRF in the session).
	// Only these may be passed to an unreleased browser, with a signed
	// marker, and come back on a login attempt; every other session
	// cookie an answer sets for an unreleased browser is held or withheld.
	PreLoginCookies []string
	// CredentialParams are request fields the app accepts as a password on
	// any request (DokuWiki's u and p): outside a login attempt they are
	// taken out of the query, cookies and form bodies.
	CredentialParams []string
	// Basic makes HTTP Basic credentials the first factor: an Authorization
	// header not bound to a gate session is a login attempt (GET and HEAD)
	// whose successful answer is held. Without Basic, an Authorization
	// header never reaches the app.
	Basic bool
	// OwnCookies are the gateway's other cookies (pending challenge,
	// remembered device): like the gate cookie, never sent to the app.
	OwnCookies []string
	// BodyIdleTimeout bounds the wait for the next bytes of a streaming
	// request body (0: none beyond the server's own limits): uploads may
	// take as long as they keep moving.
	BodyIdleTimeout time.Duration
	// UserHeader, if set, is a header of the app's login answer naming the
	// user; it wins over UserField.
	UserHeader string
	// MaxLoginBody bounds login request bodies (0: defaults.LoginMaxBody).
	MaxLoginBody int64

	// Cookies issues and clears gate cookies; its Codec decodes them. Required.
	Cookies *gate.Issuer
	// Held keeps held logins and ends the app sessions of refused ones.
	// Required.
	Held Holder
	// Store records and answers revocations of gate sessions. Required.
	Store Revocations

	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger receives structured events (nil: slog.Default()).
	Logger *slog.Logger

	// ClientIP resolves client addresses and X-Forwarded-For (nil: the
	// connection's peer; forwarding headers from clients are ignored).
	ClientIP *clientip.Resolver
	// Regulator, if set, refuses a login from a banned user or client IP
	// before the app is asked; BannedPage answers it (nil: plain 429).
	Regulator  Regulator
	BannedPage func(w http.ResponseWriter, r *http.Request, until time.Time)
	// StepUp rules name sensitive paths that need a recent second factor.
	StepUp []StepUpRule
	// Status, if set, is told the status of every answer the proxy sends
	// (metrics), so the hot path needs no response-writer wrapper.
	Status func(code int)
	// PhoneJSONField and PhoneHeader, if set, take the user's phone number
	// from the app's successful login answer (a top-level JSON field of its
	// body, or a response header), for text-message codes.
	PhoneJSONField string
	PhoneHeader    string
}

// Holder keeps held logins (package held's Logins implements it).
type Holder interface {
	// Hold stores a new held login, giving it its id and expiry.
	Hold(ctx context.Context, h *store.Held) error
	// Abandon ends at the app the session of a login the gateway will
	// not hold (an identity probe that failed, a ban found after the
	// probe, a store failure).
	Abandon(ctx context.Context, h *store.Held, reason string)
}

// Revocations are the gate-session revocations the guard records (logout,
// rotation, a new login on a kept session id) and checks on every request
// (an in-process view: no store round trip).
type Revocations interface {
	Revoke(ctx context.Context, key [32]byte, at, until time.Time) error
	RevokedAt(key [32]byte) (time.Time, bool)
}

// Regulator says whether a user or client address is banned (the regulate
// package implements it).
type Regulator interface {
	Banned(ctx context.Context, user, ip string) error
}

// StepUpRule is a sensitive path: a request matching Rule whose gate session
// last passed a second factor more than MaxAge ago is sent to the step-up
// page first.
type StepUpRule struct {
	Rule   PathRule
	MaxAge time.Duration
}

type claimsKey struct{}

// claimsContext carries a released request's claims in one allocation
// (context.WithValue would box the claims in a second). Every other key,
// the cancellation machinery's included, goes to the parent.
type claimsContext struct {
	context.Context
	claims gate.Claims
}

func (c *claimsContext) Value(key any) any {
	if _, ok := key.(claimsKey); ok {
		return c.claims
	}
	return c.Context.Value(key)
}

// VerifiedClaims returns the gate claims of a gate-page request that carries
// a valid gate cookie bound to its app session.
func VerifiedClaims(r *http.Request) (gate.Claims, bool) {
	c, ok := r.Context().Value(claimsKey{}).(gate.Claims)
	return c, ok
}

// Banned reports a ban from a Regulator (regulate.BannedError satisfies it).
type banned interface{ BannedUntil() time.Time }

// Proxy is the guarded reverse proxy. It is an http.Handler.
type Proxy struct {
	opt       Options
	rp        *httputil.ReverseProxy
	transport http.RoundTripper
	names     cookieNames
	pre       cookieNames // pre-login session cookies
	markName  string      // the pre-login marker cookie
	login     routeSet
	logout    routeSet
	gateCk    string
	log       *slog.Logger
	now       func() time.Time
	maxBody   int64
	// rules are the public and step-up paths; SetRules swaps them at run
	// time (config reload) with one atomic store.
	rules atomic.Pointer[pathRules]
}

type pathRules struct {
	decide Rules
}

// SetRules replaces the bypass and step-up rules (a config reload).
func (p *Proxy) SetRules(bypass []PathRule, stepUp []StepUpRule) {
	p.rules.Store(&pathRules{decide: Rules{Bypass: bypass, StepUp: stepUp, Basic: p.opt.Basic,
		UserField: p.opt.Form.UserField != "", CredentialParams: len(p.opt.CredentialParams) > 0}})
}

// New checks opts and returns a Proxy.
func New(opts Options) (*Proxy, error) {
	switch {
	case opts.Upstream == nil:
		return nil, errors.New("cookieguard: no upstream")
	case opts.Prefix == "" || !strings.HasPrefix(opts.Prefix, "/") || !strings.HasSuffix(opts.Prefix, "/"):
		return nil, fmt.Errorf("cookieguard: prefix %q must start and end with /", opts.Prefix)
	case opts.Challenger == nil:
		return nil, errors.New("cookieguard: no challenger")
	case opts.Cookies == nil || opts.Cookies.Codec == nil:
		return nil, errors.New("cookieguard: no gate cookie issuer")
	case opts.Store == nil:
		return nil, errors.New("cookieguard: no revocation store")
	case opts.Held == nil:
		return nil, errors.New("cookieguard: no held logins")
	}
	p := &Proxy{
		opt:     opts,
		names:   newCookieNames(opts.SessionCookies),
		pre:     newCookieNames(opts.PreLoginCookies),
		login:   newRouteSet(opts.LoginRoutes),
		logout:  newRouteSet(opts.LogoutRoutes),
		gateCk:  opts.Cookies.Codec.Name(),
		log:     opts.Logger,
		now:     opts.Now,
		maxBody: opts.MaxLoginBody,
	}
	p.markName = p.gateCk + "_pre"
	if p.opt.Form.UserField == "" && opts.UserField != "" {
		// Only UserField set (callers that predate Form): every field is
		// forwarded and names are trimmed and case-folded.
		p.opt.Form.UserField = opts.UserField
		p.opt.Form.Normalize = Normalizer{Trim: true, CaseFold: true}
	}
	p.SetRules(opts.Bypass, opts.StepUp)
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.maxBody <= 0 {
		p.maxBody = defaults.LoginMaxBody
	}
	transport := opts.Transport
	if transport == nil {
		transport = forward.NewTransport(forward.TransportOptions{})
	}
	p.transport = transport
	p.rp = forward.New(opts.Upstream, transport, opts.ClientIP, opts.PreserveHost, append([]string{p.gateCk, p.markName}, opts.OwnCookies...)...)
	p.rp.ModifyResponse = p.modifyResponse
	p.rp.ErrorHandler = p.errorHandler
	p.rp.ErrorLog = slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)
	return p, nil
}

// reqState travels in the request context for the rare requests whose
// answer the gateway must look at: logins and logouts.
type reqState struct {
	login     bool
	logout    bool
	basic     bool // an HTTP Basic login attempt
	user      string
	sent      scan
	auth      string // the Authorization of a Basic login attempt
	remoteIP  string
	userAgent string
	orig      *http.Request
}

type stateKey struct{}

// Pages serves the gate pages (every request under Prefix) with gate: a
// request that carries a valid gate cookie bound to its app session has its
// claims (VerifiedClaims).
func (p *Proxy) Pages(gate http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ctx := audit.EnsureRequestID(r, p.opt.ClientIP.TrustedPeer(r))
		var sc scan
		scanCookies(r.Header["Cookie"], p.gateCk, p.names, &sc)
		if sc.n > 0 && !sc.overflow && sc.gate != "" {
			if cl, ok := p.verify(&sc); ok {
				ctx = context.WithValue(ctx, claimsKey{}, cl)
			}
		}
		gate.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ServeHTTP guards one request to the app (outside Prefix); see the package
// documentation.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Identity headers belong to the gateway, in every spelling an app
	// may fold into it (X-Vestibule_User: CGI turns both into one name).
	for k := range r.Header {
		if len(k) == len(forward.UserHeader) && identitySpelling(k) {
			delete(r.Header, k)
		}
	}
	// Every request reaches the app with a request id: the one a trusted
	// proxy set, or a new one.
	if v := r.Header.Get(audit.Header); v == "" || !audit.Sane(v) || !p.opt.ClientIP.TrustedPeer(r) {
		r.Header[audit.Header] = []string{audit.NewID()}
	}
	r = p.watchBody(w, r)

	var f Facts
	var sc scan
	var claims gate.Claims
	auth := p.gather(r, &f, &sc, &claims)
	rules := p.rules.Load()
	d := Decide(&f, &rules.decide)
	switch d.Action {
	case RefusePath:
		p.log.InfoContext(r.Context(), "path refused: not canonical", "event", "path_refused",
			"path", f.Path, "user", claims.User, "remote_ip", p.opt.ClientIP.ClientIP(r))
		p.page(w, r, http.StatusBadRequest)
	case RefuseUpgrade:
		p.log.InfoContext(r.Context(), "upgrade without a gate session refused", "event", "upgrade_refused",
			"path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
		p.page(w, r, http.StatusForbidden)
	case LoginTooLarge:
		// Without Connection: close, net/http reads an unread body under
		// 256 KiB before it writes the answer: a client that waits for it
		// (or sends slowly) would get the 413 only at server.read_timeout.
		// Answer now; the connection ends.
		w.Header().Set("Connection", "close")
		p.page(w, r, http.StatusRequestEntityTooLarge)
	case LoginUnreadable:
		p.log.InfoContext(r.Context(), "login request body unreadable", "event", "bad_request", "remote_ip", p.opt.ClientIP.ClientIP(r), "err", f.LoginErr)
		p.page(w, r, http.StatusBadRequest)
	case LoginAmbiguous:
		p.log.WarnContext(r.Context(), "login request refused: ambiguous", "event", "login_refused_ambiguous",
			"reason", d.Reason, "path", f.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
		p.page(w, r, http.StatusBadRequest)
	case ToPending:
		p.clean(r, &d, &sc)
		p.redirectPending(w, r)
	case ToStepUp:
		p.clean(r, &d, &sc)
		p.requireStepUp(w, r)
	case Forward:
		p.clean(r, &d, &sc)
		p.forward(w, r, &d, &sc, claims, auth)
	}
}
