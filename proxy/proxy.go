package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/clientip"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
)

// UserHeader is the header the gateway sets on requests it forwards for a
// released session, naming the verified user. Clients can't set it: it is
// removed from every incoming request.
const UserHeader = "X-Vestibule-User"

// maxHeldBody bounds the body of a login answer the gateway holds.
const maxHeldBody = 1 << 20

// Challenger starts the second factor for a held login. It is implemented by
// the challenge package.
type Challenger interface {
	// Begin returns the answer that replaces the held login response: a
	// redirect to the code page for browsers, a JSON challenge for API
	// clients, with the pending-challenge cookie.
	Begin(r *http.Request, h *store.Held) (Reply, error)
	// Pending reports whether the request carries a valid pending-challenge
	// cookie (so a browser can be sent back to the code page).
	Pending(r *http.Request) bool
}

// Reply is a complete response made by the gateway itself.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Options configures a Proxy. Zero values are documented per field.
type Options struct {
	// Upstream is the app's base URL. Required.
	Upstream *url.URL
	// PreserveHost sends the client's Host header upstream.
	PreserveHost bool
	// Transport carries requests upstream (nil: NewTransport(TransportOptions{})).
	Transport http.RoundTripper
	// Prefix is the reserved path prefix, e.g. "/.vestibule/". Required.
	Prefix string
	// Gate serves every request under Prefix. Required.
	Gate http.Handler
	// Challenger starts second factors. Required.
	Challenger Challenger
	// ErrorPage renders the gateway's own error answers (502, 503, 504, 413).
	// nil: plain text.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int)

	// SessionCookies are the app's session cookie names ("name*" = prefix).
	SessionCookies []string
	LoginRoutes    []Route
	LogoutRoutes   []Route
	Bypass         []BypassRule
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
	// Abandon ends an app session the gateway refused to hold (an identity
	// probe that failed, a ban found after the probe); nil: nothing.
	Abandon func(ctx context.Context, h *store.Held, reason string)
	// UserHeader, if set, is a header of the app's login answer naming the
	// user; it wins over UserField.
	UserHeader string
	// MaxLoginBody bounds login request bodies (0: 64 KiB).
	MaxLoginBody int64
	// HoldTTL is how long a held login lives (0: config.DefaultHoldTTL).
	HoldTTL time.Duration

	// Cookies issues and clears gate cookies; its Codec decodes them. Required.
	Cookies *gate.Issuer
	// Store holds held logins and revocations. Required.
	Store store.Ephemeral

	// Now is the clock (nil: time.Now). Random is the entropy source for
	// held-login ids (nil: crypto/rand).
	Now    func() time.Time
	Random io.Reader
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

// Regulator says whether a user or client address is banned (the regulate
// package implements it).
type Regulator interface {
	Banned(ctx context.Context, user, ip string) error
}

// StepUpRule is a sensitive path: a request matching Rule whose gate session
// last passed a second factor more than MaxAge ago is sent to the step-up
// page first.
type StepUpRule struct {
	Rule   BypassRule
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
	random    io.Reader
	maxBody   int64
	holdTTL   time.Duration
	// rules are the public and step-up paths; SetRules swaps them at run
	// time (config reload) with one atomic store.
	rules atomic.Pointer[pathRules]
}

type pathRules struct {
	bypass []BypassRule
	stepUp []StepUpRule
}

// SetRules replaces the bypass and step-up rules (a config reload).
func (p *Proxy) SetRules(bypass []BypassRule, stepUp []StepUpRule) {
	p.rules.Store(&pathRules{bypass: bypass, stepUp: stepUp})
}

// New checks opts and returns a Proxy.
func New(opts Options) (*Proxy, error) {
	switch {
	case opts.Upstream == nil:
		return nil, errors.New("proxy: no upstream")
	case opts.Prefix == "" || !strings.HasPrefix(opts.Prefix, "/") || !strings.HasSuffix(opts.Prefix, "/"):
		return nil, fmt.Errorf("proxy: prefix %q must start and end with /", opts.Prefix)
	case opts.Gate == nil || opts.Challenger == nil:
		return nil, errors.New("proxy: no gate handler or challenger")
	case opts.Cookies == nil || opts.Cookies.Codec == nil:
		return nil, errors.New("proxy: no gate cookie issuer")
	case opts.Store == nil:
		return nil, errors.New("proxy: no ephemeral store")
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
		random:  opts.Random,
		maxBody: opts.MaxLoginBody,
		holdTTL: opts.HoldTTL,
	}
	p.SetRules(opts.Bypass, opts.StepUp)
	p.markName = p.gateCk + "_pre"
	if p.opt.Form.UserField == "" && opts.UserField != "" {
		// Only UserField set (callers that predate Form): every field is
		// forwarded and names are trimmed and case-folded.
		p.opt.Form.UserField = opts.UserField
		p.opt.Form.Normalize = Normalizer{Trim: true, CaseFold: true}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.random == nil {
		p.random = rand.Reader
	}
	if p.maxBody <= 0 {
		p.maxBody = 64 << 10
	}
	if p.holdTTL <= 0 {
		p.holdTTL = config.DefaultHoldTTL
	}
	transport := opts.Transport
	if transport == nil {
		transport = NewTransport(TransportOptions{})
	}
	p.transport = transport
	p.rp = NewForwarder(opts.Upstream, transport, opts.ClientIP, opts.PreserveHost, append([]string{p.gateCk, p.markName}, opts.OwnCookies...)...)
	p.rp.ModifyResponse = p.modifyResponse
	p.rp.ErrorHandler = p.errorHandler
	p.rp.ErrorLog = slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)
	return p, nil
}

// NewForwarder returns the reverse proxy that carries requests to upstream:
// the gateway writes the X-Forwarded-* headers itself (a client's own
// entries count only behind a trusted proxy) and recycles copy buffers. The
// caller sets ModifyResponse and ErrorHandler.
//
// own names the gateway's own cookies (gate, pending challenge, device,
// pre-login marker): they never travel to the app.
func NewForwarder(upstream *url.URL, transport http.RoundTripper, ips *clientip.Resolver, preserveHost bool, own ...string) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			h := pr.Out.Header
			if lines := h["Cookie"]; len(lines) > 0 && len(own) > 0 {
				h["Cookie"] = withoutCookies(lines, own)
				if len(h["Cookie"]) == 0 {
					delete(h, "Cookie")
				}
			}
			h["X-Forwarded-For"] = []string{ips.ForwardedFor(pr.In)}
			// Other forwarding headers count only from a trusted proxy.
			if !ips.TrustedPeer(pr.In) {
				delete(h, "X-Real-Ip")
				delete(h, "Forwarded")
			}
			h["X-Forwarded-Host"] = []string{pr.In.Host}
			if pr.In.TLS != nil {
				h["X-Forwarded-Proto"] = protoHTTPS
			} else {
				h["X-Forwarded-Proto"] = protoHTTP
			}
			if ips.TrustedPeer(pr.In) {
				for _, k := range []string{"X-Forwarded-Proto", "X-Forwarded-Host"} {
					if v := pr.In.Header.Get(k); v != "" {
						h.Set(k, v)
					}
				}
			}
			if preserveHost {
				pr.Out.Host = pr.In.Host
			}
		},
		Transport:  transport,
		BufferPool: newBufferPool(),
	}
}

// Shared, never modified header values.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

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

// ServeHTTP implements the guard; see the package documentation.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, p.opt.Prefix) {
		_, ctx := audit.EnsureRequestID(r, p.opt.ClientIP.TrustedPeer(r))
		var sc scan
		scanCookies(r.Header["Cookie"], p.gateCk, p.names, &sc)
		if sc.n > 0 && !sc.overflow && sc.gate != "" {
			if cl, ok := p.verify(&sc); ok {
				ctx = context.WithValue(ctx, claimsKey{}, cl)
			}
		}
		p.opt.Gate.ServeHTTP(w, r.WithContext(ctx))
		return
	}
	// Identity headers belong to the gateway, in every spelling an app
	// may fold into it (X-Vestibule_User: CGI turns both into one name).
	for k := range r.Header {
		if len(k) == len(UserHeader) && identitySpelling(k) {
			delete(r.Header, k)
		}
	}
	// Every request reaches the app with a request id: the one a trusted
	// proxy set, or a new one.
	if v := r.Header.Get(audit.Header); v == "" || !audit.Sane(v) || !p.opt.ClientIP.TrustedPeer(r) {
		r.Header[audit.Header] = []string{audit.NewID()}
	}

	r = p.watchBody(w, r)

	var sc scan
	scanCookies(r.Header["Cookie"], p.gateCk, p.names, &sc)
	// The Authorization header is an app credential: in Basic mode it is
	// part of the app session the gate cookie is bound to; otherwise it
	// never reaches the app.
	auth, hasAuth := "", false
	if vs := r.Header["Authorization"]; len(vs) > 0 {
		hasAuth = true
		if p.opt.Basic && len(vs) == 1 && !sc.overflow && sc.n < maxSessionCookies {
			auth = vs[0]
			sc.names[sc.n], sc.values[sc.n] = authorizationKey, auth
			sc.n++
		}
	}

	authorized := false
	var claims gate.Claims
	if sc.n > 0 && !sc.overflow && sc.gate != "" {
		claims, authorized = p.verify(&sc)
	}

	path := r.URL.Path
	canon := canonical(path)
	rules := p.rules.Load()
	// A released session reaches only paths the gateway reads as the app
	// will: a path it can't canonicalise might resolve to a protected one.
	if authorized && !canon {
		p.log.InfoContext(r.Context(), "path refused: not canonical", "event", "path_refused",
			"path", path, "user", claims.User, "remote_ip", p.opt.ClientIP.ClientIP(r))
		p.page(w, r, http.StatusBadRequest)
		return
	}
	var key string
	isLogin, isLogout := false, false
	if canon {
		key = loginKey(path)
		isLogin = p.login.matchPath(key)
		isLogout = p.logout.matchRequest(key, r)
	}

	// A protocol upgrade (WebSocket) is a long-lived channel to the app:
	// it needs a released session, unless its path is public. Only what
	// can open one is refused: an Upgrade header without "Connection:
	// upgrade" (or over HTTP/2, or h2c, which the gateway never forwards)
	// opens nothing and is dropped.
	if _, ok := r.Header["Upgrade"]; ok && !opensChannel(r) {
		r.Header.Del("Upgrade")
		r.Header.Del("Http2-Settings")
	}
	if !authorized && r.Header.Get("Upgrade") != "" && !(canon && bypass(rules.bypass, path, r.Method)) {
		p.log.InfoContext(r.Context(), "upgrade without a gate session refused", "event", "upgrade_refused",
			"path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
		p.page(w, r, http.StatusForbidden)
		return
	}
	// A request to a login route (path and method) is read first: a login
	// attempt names the user, exactly once, and reaches the app in a
	// canonical form with only the fields a login needs.
	interceptLogin := isLogin && p.login.match(key, r.Method)
	var user string
	if interceptLogin {
		body, err := ReadBody(r, p.maxBody)
		if err != nil {
			if errors.Is(err, ErrBodyTooLarge) {
				// Without Connection: close, net/http reads an unread body
				// under 256 KiB before it writes the answer: a client that
				// waits for it (or sends slowly) would get the 413 only at
				// server.read_timeout. Answer now; the connection ends.
				w.Header().Set("Connection", "close")
				p.page(w, r, http.StatusRequestEntityTooLarge)
			} else {
				p.log.InfoContext(r.Context(), "login request body unreadable", "event", "bad_request", "remote_ip", p.opt.ClientIP.ClientIP(r), "err", err)
				p.page(w, r, http.StatusBadRequest)
			}
			return
		}
		if p.opt.Form.UserField != "" {
			user, err = p.opt.Form.Canonical(r, body)
			if err != nil {
				reason := err.Error()
				if lr := (*LoginRefused)(nil); errors.As(err, &lr) {
					reason = lr.Reason
				}
				p.log.WarnContext(r.Context(), "login request refused: ambiguous", "event", "login_refused_ambiguous",
					"reason", reason, "path", path, "remote_ip", p.opt.ClientIP.ClientIP(r))
				p.page(w, r, http.StatusBadRequest)
				return
			}
		}
		// A request that names no user is no login attempt (an app that
		// posts every form to one path), unless the user comes only from
		// the app's answer.
		interceptLogin = user != "" || p.opt.Form.UserField == ""
	}
	// Basic mode: an Authorization not bound to a gate session is a login
	// attempt, for GET and HEAD only (a login does not also act).
	basicLogin := false
	if p.opt.Basic && auth != "" && !authorized && !interceptLogin {
		switch {
		case p.wantsPage(r) && p.opt.Challenger.Pending(r):
			p.redirectPending(w, r)
			return
		case (r.Method == http.MethodGet || r.Method == http.MethodHead) && !p.opt.Challenger.Pending(r):
			u, err := p.basicUser(auth)
			if err != nil {
				p.log.WarnContext(r.Context(), "login request refused: ambiguous", "event", "login_refused_ambiguous",
					"reason", err.Error(), "path", path, "remote_ip", p.opt.ClientIP.ClientIP(r))
				p.page(w, r, http.StatusBadRequest)
				return
			}
			basicLogin, interceptLogin, user = true, true, u
		}
	}
	if hasAuth && !authorized && !basicLogin {
		delete(r.Header, "Authorization")
		p.log.InfoContext(r.Context(), "Authorization not bound to a gate session removed", "event", "credential_stripped",
			"channel", "authorization", "path", path, "remote_ip", p.opt.ClientIP.ClientIP(r))
	} else if hasAuth && !p.opt.Basic {
		delete(r.Header, "Authorization")
		p.log.InfoContext(r.Context(), "Authorization removed (the app's credentials pass only as released sessions)", "event", "credential_stripped",
			"channel", "authorization", "path", path, "remote_ip", p.opt.ClientIP.ClientIP(r))
	}
	// Credential parameters reach the app only in a login attempt.
	if len(p.opt.CredentialParams) > 0 {
		p.stripCredentials(r, interceptLogin && !basicLogin)
	}

	if sc.n > 0 && !authorized {
		switch {
		case interceptLogin:
			// A login attempt carries only pre-login cookies the gateway
			// saw the app issue to this browser (its signed marker);
			// anything else, such as a stolen session, is stripped.
			if !p.preLoginOnly(r, &sc) {
				stripSessionCookies(r.Header, p.names)
				sc.n = 0
			}
		case canon && bypass(rules.bypass, path, r.Method):
			// Public paths.
		case p.wantsPage(r) && p.opt.Challenger.Pending(r):
			p.redirectPending(w, r)
			return
		default:
			stripSessionCookies(r.Header, p.names)
			sc.n = 0
		}
	}
	if authorized {
		if len(rules.stepUp) > 0 {
			if maxAge, ok := stepUpAge(rules.stepUp, path, r.Method); ok && p.now().Sub(claims.Verified) > maxAge {
				p.requireStepUp(w, r)
				return
			}
		}
		r.Header[UserHeader] = []string{claims.User}
		// The answer may rotate the session (followRotation), and the
		// gate cookie itself does not travel to the app.
		r = r.WithContext(&claimsContext{Context: r.Context(), claims: claims})
	}

	if interceptLogin || (isLogout && sc.n > 0) {
		_, ctx := audit.EnsureRequestID(r, p.opt.ClientIP.TrustedPeer(r))
		r = r.WithContext(ctx)
		st := &reqState{login: interceptLogin, logout: isLogout, basic: basicLogin, auth: auth, sent: sc, remoteIP: p.opt.ClientIP.ClientIP(r), userAgent: r.UserAgent()}
		if interceptLogin {
			st.user = user
			if p.opt.Regulator != nil {
				if err := p.opt.Regulator.Banned(ctx, st.user, st.remoteIP); err != nil {
					var b banned
					if !errors.As(err, &b) {
						p.log.ErrorContext(ctx, "reading bans", "event", "store_error", "err", err)
						p.page(w, r, http.StatusServiceUnavailable)
						return
					}
					p.log.WarnContext(ctx, "login refused: banned", "event", "login_refused_banned", "user", st.user, "remote_ip", st.remoteIP)
					p.bannedPage(w, r, b.BannedUntil())
					return
				}
			}
		}
		st.orig = r
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	}
	p.rp.ServeHTTP(w, r)
}

// identitySpelling reports whether a header name is UserHeader to an app
// that folds case and reads "_" as "-".
func identitySpelling(k string) bool {
	for i := 0; i < len(k); i++ {
		a, b := k[i], UserHeader[i]
		if a == '_' {
			a = '-'
		}
		if a|0x20 != b|0x20 {
			return false
		}
	}
	return true
}

// opensChannel reports whether a request asks to switch protocols in a
// way the forwarder carries through (HTTP/1.1, "Connection: upgrade", not
// h2c).
func opensChannel(r *http.Request) bool {
	if r.ProtoMajor != 1 || strings.EqualFold(strings.TrimSpace(r.Header.Get("Upgrade")), "h2c") {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// redirectPending sends a browser with a pending challenge to its code page.
func (p *Proxy) redirectPending(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, p.opt.Prefix+"verify", http.StatusSeeOther)
	if p.opt.Status != nil {
		p.opt.Status(http.StatusSeeOther)
	}
}

func (p *Proxy) bannedPage(w http.ResponseWriter, r *http.Request, until time.Time) {
	if p.opt.Status != nil {
		p.opt.Status(http.StatusTooManyRequests)
	}
	if p.opt.BannedPage != nil {
		p.opt.BannedPage(w, r, until)
		return
	}
	http.Error(w, "Too many failed attempts. Try again later.", http.StatusTooManyRequests)
}

// stripCredentials takes credential parameters out of a request that is
// not a login attempt (query, cookies, form bodies as they stream), and
// out of the cookies of one that is.
func (p *Proxy) stripCredentials(r *http.Request, loginAttempt bool) {
	params := p.opt.CredentialParams
	var channels []string
	if stripCredentialCookies(r.Header, params) {
		channels = append(channels, "cookie")
	}
	if !loginAttempt {
		if q, found := stripCredentialQuery(r.URL.RawQuery, params); found {
			r.URL.RawQuery = q
			channels = append(channels, "query")
		}
		if r.Body != nil && r.Body != http.NoBody {
			credentialBody(r, params, func() {
				p.log.InfoContext(r.Context(), "credential parameter renamed in a request body", "event", "credential_stripped",
					"channel", "body", "path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
			})
		}
	}
	if len(channels) > 0 {
		p.log.InfoContext(r.Context(), "credential parameters removed", "event", "credential_stripped",
			"channel", strings.Join(channels, ","), "path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
	}
}

// preLoginOnly keeps, on a login attempt, the session cookies the gateway
// saw the app issue to this browser before the login: pre-login cookies
// whose values carry a valid marker. It reports false when nothing may
// pass; otherwise it has already stripped every other session cookie.
func (p *Proxy) preLoginOnly(r *http.Request, sc *scan) bool {
	if len(p.pre.exact)+len(p.pre.prefixes) == 0 {
		return false
	}
	var names, values []string
	for i := 0; i < sc.n; i++ {
		if sc.names[i] != authorizationKey && p.pre.match(sc.names[i]) {
			names, values = append(names, sc.names[i]), append(values, sc.values[i])
		}
	}
	if len(names) == 0 || !p.opt.Cookies.Codec.CheckMark(cookieValue(r.Header["Cookie"], p.markName), gate.Binding(names, values)) {
		return false
	}
	stripSessionCookiesExcept(r.Header, p.names, p.pre)
	var kept scan
	scanCookies(r.Header["Cookie"], p.gateCk, p.names, &kept)
	*sc = kept
	return true
}

// basicUser reads the user name of an HTTP Basic Authorization value,
// refusing anything an app might read differently.
func (p *Proxy) basicUser(auth string) (string, error) {
	scheme, cred, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", errors.New("the Authorization is not HTTP Basic")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", errors.New("the Basic credentials are not base64")
	}
	name, _, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", errors.New("the Basic credentials have no password part")
	}
	user, err := p.opt.Form.Normalize.Normalize(name)
	if err == nil && user == "" {
		err = errors.New("the Basic user name is empty")
	}
	return user, err
}

// verify decides whether the request's app session was released: a gate
// cookie that decodes, is bound to exactly these session cookies and was not
// revoked, neither as a session nor with every session of its user. No store round trip: revocations are an in-process view.
func (p *Proxy) verify(sc *scan) (gate.Claims, bool) {
	cl, err := p.opt.Cookies.Codec.Decode(sc.gate)
	if err != nil {
		return cl, false
	}
	if cl.Bind != gate.Binding(sc.sessionNames(), sc.sessionValues()) {
		return cl, false
	}
	if at, ok := p.opt.Store.RevokedAt(cl.Bind); ok && cl.Issued.Before(at) {
		return cl, false
	}
	// Every session of the user ended (factor reset, devices revoked,
	// enrolled again): see gate.UserKey.
	if at, ok := p.opt.Store.RevokedAt(gate.UserKey(cl.User)); ok && cl.Issued.Before(at) {
		return cl, false
	}
	return cl, true
}

// stepUpAge finds the step-up rule of a path. Rules that ask for more fail
// closed: they also match the path with case folded and repeated slashes
// collapsed, the variants an app may resolve to the same page.
func stepUpAge(rules []StepUpRule, path, method string) (time.Duration, bool) {
	folded := foldPath(path)
	for i := range rules {
		su := &rules[i]
		r := &su.Rule
		if !methodIn(method, r.Methods) {
			continue
		}
		switch {
		case r.Path != "" && (path == r.Path || folded == foldPath(r.Path)),
			r.Prefix != "" && (strings.HasPrefix(path, r.Prefix) || strings.HasPrefix(folded, foldPath(r.Prefix))),
			r.Pattern != nil && (r.Pattern.MatchString(path) || r.Pattern.MatchString(folded)):
			return su.MaxAge, true
		}
	}
	return 0, false
}

// foldPath lower-cases a path and collapses repeated slashes.
func foldPath(p string) string {
	if isLoginKey(p) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// requireStepUp sends a browser to the step-up page (coming back to this
// URL afterwards); API clients get a JSON 401 naming the page.
func (p *Proxy) requireStepUp(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	target := p.opt.Prefix + "step-up?next=" + url.QueryEscape(next)
	p.log.InfoContext(r.Context(), "step-up required", "event", "step_up_required", "path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
	w.Header().Set("Cache-Control", "no-store")
	if p.opt.Status != nil {
		if !browserFormPost(r) {
			p.opt.Status(map[bool]int{true: http.StatusSeeOther, false: http.StatusUnauthorized}[p.wantsPage(r)])
		}
	}
	if p.wantsPage(r) {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	if browserFormPost(r) {
		// The form is not forwarded: after the step-up the page says it
		// must be sent again (a 303 turns the POST into a GET of next).
		if p.opt.Status != nil {
			p.opt.Status(http.StatusSeeOther)
		}
		http.Redirect(w, r, target+"&resend=1", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, `{"error":"step_up_required","message":"This action needs a fresh second factor.","verify_url":%q}`, target)
}

// wantsPage reports whether the request is a browser navigation that can be
// redirected to the code page.
func (p *Proxy) wantsPage(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// browserFormPost reports whether the request is an HTML form a browser
// submitted (it asks for a page back).
func browserFormPost(r *http.Request) bool {
	if r.Method != http.MethodPost || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return false
	}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	return strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data")
}

// modifyResponse intercepts login answers, ends gate sessions on logout and
// follows app-session rotation. For a plain verified request that sets no
// session cookie it costs one map lookup.
func (p *Proxy) modifyResponse(resp *http.Response) (err error) {
	if p.opt.Status != nil {
		defer func() {
			if err == nil {
				p.opt.Status(resp.StatusCode)
			}
		}()
	}
	if err := bodyFailed(resp.Request); err != nil {
		// The app answered a request it did not get whole: that answer
		// must not reach the client as a success.
		resp.Body.Close()
		return fmt.Errorf("%w: %w", errBodyIncomplete, err)
	}
	st, _ := resp.Request.Context().Value(stateKey{}).(*reqState)
	if st != nil && st.login {
		return p.interceptLogin(resp, st)
	}
	if st != nil && st.logout {
		return p.endSession(resp, st)
	}
	if setsSessionCookie(resp.Header, p.names) {
		p.followRotation(resp)
	}
	return nil
}

// interceptLogin decides what becomes of the answer to a login attempt.
// An answer the success rule matches, or one that sets a login-only
// session cookie (any session cookie but a pre-login one), is a login: it
// is held under the identity the app authenticated. Anything else (a
// failed login) passes, without any new login-only session.
func (p *Proxy) interceptLogin(resp *http.Response, st *reqState) error {
	cookies := resp.Cookies()
	now := p.now()
	matched := p.opt.Success.Match(resp, cookies, p.names)
	if st.basic {
		// Basic: the app's 401 is a failed login; the Authorization is
		// the session, whatever cookies come with it.
		matched = resp.StatusCode != http.StatusUnauthorized && p.opt.Success.Match(resp, cookies, cookieNames{})
	}
	fresh := p.setsLoginOnly(cookies, now)
	if !matched && !fresh {
		p.markPreLogin(resp, &st.sent, now)
		return nil
	}
	session, _ := sessionAfter(&st.sent, cookies, p.names, now)
	if st.basic {
		session[authorizationKey] = st.auth
	}
	if len(session) == 0 {
		p.log.ErrorContext(resp.Request.Context(), "login succeeded but no app session cookie is set; check session_cookies in the config",
			"event", "login_unbound", "user", st.user, "remote_ip", st.remoteIP)
		return errUnbound
	}
	ctx := resp.Request.Context()
	if !matched && p.opt.Identity == nil {
		// A new session the success rule does not describe, and no probe
		// to ask the app whose it is: not passed, not held (an app that
		// sets a session on a failed login must not let a name without
		// its password be held and enrolled).
		p.log.WarnContext(ctx, "login answer sets a new app session but does not match login.success; withheld (configure login.identity to hold such logins)",
			"event", "login_unmatched_withheld", "request_user", st.user, "status", resp.StatusCode, "path", resp.Request.URL.Path, "remote_ip", st.remoteIP)
		p.abandon(ctx, st, st.user, session, "unmatched")
		return PageError{Status: http.StatusBadGateway, Err: errors.New("unmatched login answer"), Message: msgUnconfirmed}
	}
	user, err := p.identify(resp, st, session)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHeldBody+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading login answer: %w", err)
	}
	if len(body) > maxHeldBody {
		p.log.ErrorContext(ctx, "login answer too large to hold", "event", "login_too_large", "user", user, "limit", maxHeldBody)
		p.abandon(ctx, st, user, session, "too_large")
		return errTooLarge
	}
	id, err := NewHeldID(p.random)
	if err != nil {
		return err
	}
	header := resp.Header.Clone()
	removeHopHeaders(header)
	header.Del(UserHeader)
	if p.opt.UserHeader != "" {
		header.Del(p.opt.UserHeader)
	}
	if p.opt.PhoneHeader != "" {
		header.Del(p.opt.PhoneHeader)
	}
	held := store.HeldResponse{Status: resp.StatusCode, Header: header, Body: body}
	switch {
	case st.basic:
		// The browser asks again for what it asked for, now with the
		// gate cookie beside its credentials.
		held = seeOther(header, st.orig.URL.RequestURI(), true)
	case !matched:
		// A new session the success rule did not describe (a login that
		// also asked for a page), whose user the app confirmed: held;
		// released as a redirect home rather than as that page.
		p.log.WarnContext(ctx, "login answer sets a new app session but does not match login.success; held", "event", "login_unmatched_held",
			"user", user, "status", resp.StatusCode, "path", resp.Request.URL.Path)
		held = seeOther(header, "/", false)
	}
	h := &store.Held{
		Phone:     p.phoneOf(resp.Header, body),
		ID:        id,
		User:      user,
		Session:   session,
		Response:  held,
		RemoteIP:  st.remoteIP,
		UserAgent: st.userAgent,
		Created:   now,
		Expires:   now.Add(p.holdTTL),
	}
	bind := gate.BindingMap(session)
	// Gate cookies bound to this app session before now are void: an app
	// that keeps its session id across a login (PHP without regeneration)
	// must not let an older gate cookie carry the new login.
	if err := p.opt.Store.Revoke(ctx, bind, now, now.Add(p.opt.Cookies.MaxAge)); err != nil {
		p.abandon(ctx, st, user, session, "store_error")
		return StoreError{fmt.Errorf("revoking earlier gate sessions: %w", err)}
	}
	if err := p.opt.Store.CreateHeld(ctx, h); err != nil {
		p.abandon(ctx, st, user, session, "store_error")
		return StoreError{fmt.Errorf("holding login: %w", err)}
	}
	reply, err := p.opt.Challenger.Begin(st.orig, h)
	if err != nil {
		return fmt.Errorf("starting challenge: %w", err)
	}
	if reply.Header == nil {
		reply.Header = http.Header{}
	}
	// A gate cookie of an earlier session goes; one the reply sets itself
	// (a remembered device released at once) comes later and wins.
	reply.Header["Set-Cookie"] = append([]string{p.opt.Cookies.Clear().String()}, reply.Header["Set-Cookie"]...)
	reply.Replace(resp)
	p.log.InfoContext(ctx, "login held", "event", audit.LoginHeld, "user", user, "remote_ip", st.remoteIP, "user_agent", st.userAgent)
	return nil
}

// seeOther is a held answer that redirects to target, keeping the app's
// Set-Cookie lines (they carry the session being released).
func seeOther(h http.Header, target string, basic bool) store.HeldResponse {
	out := http.Header{}
	if !basic {
		out["Set-Cookie"] = h["Set-Cookie"]
	}
	out.Set("Location", target)
	out.Set("Cache-Control", "no-store")
	return store.HeldResponse{Status: http.StatusSeeOther, Header: out}
}

// identify returns the user a login belongs to: the app's answer (the
// identity probe, else the configured answer header), else the name the
// canonical login request carried. A probe that fails, or a user the
// probe names who is banned, ends the app session and fails the answer.
func (p *Proxy) identify(resp *http.Response, st *reqState, session map[string]string) (string, error) {
	ctx := resp.Request.Context()
	user := st.user
	if p.opt.UserHeader != "" {
		if u, err := p.opt.Form.Normalize.Normalize(resp.Header.Get(p.opt.UserHeader)); err == nil && u != "" {
			user = u
		}
	}
	if p.opt.Identity != nil {
		raw, err := p.opt.Identity.ask(ctx, p, st.orig, session)
		u := user
		if errors.Is(err, errConfirmOnly) {
			err = nil
		} else if err == nil {
			if u, err = p.opt.Form.Normalize.Normalize(raw); err == nil && u == "" {
				err = fmt.Errorf("%w: the app named an empty user", errProbe)
			}
		}
		if err != nil {
			p.log.ErrorContext(ctx, "identity probe failed; login not held", "event", "identity_probe_failed",
				"request_user", st.user, "remote_ip", st.remoteIP, "err", err)
			p.abandon(ctx, st, st.user, session, "identity_unconfirmed")
			return "", PageError{Status: http.StatusBadGateway, Err: err, Message: msgUnconfirmed}
		}
		if u != user {
			p.log.WarnContext(ctx, "the app authenticated another user than the login request named; held under the app's", "event", "identity_mismatch",
				"user", u, "request_user", user, "remote_ip", st.remoteIP)
		}
		user = u
	}
	if user == "" {
		p.log.WarnContext(ctx, "login answer names no user; not held", "event", "login_unattributed", "remote_ip", st.remoteIP, "path", resp.Request.URL.Path)
		p.abandon(ctx, st, "", session, "unattributed")
		return "", PageError{Status: http.StatusBadGateway, Err: errors.New("login names no user"), Message: msgUnconfirmed}
	}
	if user != st.user && p.opt.Regulator != nil {
		if err := p.opt.Regulator.Banned(ctx, user, st.remoteIP); err != nil {
			var b banned
			if !errors.As(err, &b) {
				p.abandon(ctx, st, user, session, "store_error")
				return "", StoreError{fmt.Errorf("reading bans: %w", err)}
			}
			p.log.WarnContext(ctx, "login refused: banned", "event", "login_refused_banned", "user", user, "remote_ip", st.remoteIP)
			p.abandon(ctx, st, user, session, "banned")
			return "", PageError{Status: http.StatusTooManyRequests, Until: b.BannedUntil(), Err: err}
		}
	}
	return user, nil
}

// msgUnconfirmed is the page of a login whose user the app did not confirm.
const msgUnconfirmed = "Your password was accepted, but the sign-in could not be confirmed, so it was not completed. Please try again in a moment; if this keeps happening, tell your administrator."

// abandon ends at the app a session the gateway will not hold.
func (p *Proxy) abandon(ctx context.Context, st *reqState, user string, session map[string]string, reason string) {
	if p.opt.Abandon == nil {
		return
	}
	p.opt.Abandon(ctx, &store.Held{User: user, Session: session, RemoteIP: st.remoteIP, UserAgent: st.userAgent, Created: p.now()}, reason)
}

// setsLoginOnly reports whether an answer sets (not deletes) a session
// cookie that is not a pre-login one: an app session that only a login
// makes.
func (p *Proxy) setsLoginOnly(cookies []*http.Cookie, now time.Time) bool {
	for _, c := range cookies {
		if p.names.match(c.Name) && !p.pre.match(c.Name) && !deletes(c, now) {
			return true
		}
	}
	return false
}

// markPreLogin lets pre-login session cookies an answer sets for an
// unreleased browser pass, with a marker signed over their values, and
// withholds every other session cookie it sets (a session the gateway did
// not release).
func (p *Proxy) markPreLogin(resp *http.Response, sent *scan, now time.Time) {
	if !setsSessionCookie(resp.Header, p.names) {
		return
	}
	pre := map[string]string{}
	for i := 0; i < sent.n; i++ {
		if p.pre.match(sent.names[i]) {
			pre[sent.names[i]] = sent.values[i]
		}
	}
	issued := false
	var kept []string
	lines := resp.Header["Set-Cookie"]
	for _, line := range lines {
		name, _, _ := strings.Cut(line, "=")
		c, err := http.ParseSetCookie(line)
		if err != nil {
			c = nil
		}
		switch {
		case !p.names.match(name) || c == nil:
			kept = append(kept, line)
		case deletes(c, now):
			delete(pre, c.Name)
			kept = append(kept, line)
		case p.pre.match(c.Name):
			pre[c.Name] = c.Value
			issued = true
			kept = append(kept, line)
		default:
			p.log.WarnContext(resp.Request.Context(), "app session cookie for an unreleased browser withheld", "event", "session_withheld",
				"cookie", c.Name, "path", resp.Request.URL.Path, "status", resp.StatusCode)
		}
	}
	resp.Header["Set-Cookie"] = kept
	if issued {
		m := &http.Cookie{Name: p.markName, Value: p.opt.Cookies.Codec.Mark(gate.BindingMap(pre), now.Add(p.opt.Cookies.MaxAge)),
			Path: "/", MaxAge: int(p.opt.Cookies.MaxAge / time.Second), HttpOnly: true, Secure: p.opt.Cookies.Secure, SameSite: http.SameSiteLaxMode}
		resp.Header.Add("Set-Cookie", m.String())
	}
}

// endSession revokes the gate session of the app session that hit the
// logout route, once the upstream has answered, and clears the gate cookie.
func (p *Proxy) endSession(resp *http.Response, st *reqState) error {
	now := p.now()
	bind := gate.Binding(st.sent.sessionNames(), st.sent.sessionValues())
	if err := p.opt.Store.Revoke(resp.Request.Context(), bind, now, now.Add(p.opt.Cookies.MaxAge)); err != nil {
		// The app has logged the session out; the gate cookie is cleared
		// below. Log loudly, don't fail the logout.
		p.log.ErrorContext(resp.Request.Context(), "revoking gate session on logout", "event", "store_error", "err", err)
	}
	resp.Header.Add("Set-Cookie", p.opt.Cookies.Clear().String())
	p.log.InfoContext(resp.Request.Context(), "logout", "event", "logout", "remote_ip", st.remoteIP)
	return nil
}

// followRotation re-binds the gate cookie when the app rotates or drops the
// session of a released request. A rotation that looks like a login (the
// success matcher holds) is not followed: that is a new login through a
// route the config does not name, and its cookie stays unreleased.
func (p *Proxy) followRotation(resp *http.Response) {
	var sc scan
	scanCookies(resp.Request.Header["Cookie"], p.gateCk, p.names, &sc)
	if p.opt.Basic {
		if vs := resp.Request.Header["Authorization"]; len(vs) == 1 && sc.n < maxSessionCookies {
			sc.names[sc.n], sc.values[sc.n] = authorizationKey, vs[0]
			sc.n++
		}
	}
	now := p.now()
	cookies := resp.Cookies()
	// Only a released request carries its claims (the gate cookie itself
	// was not sent to the app).
	claims, ok := VerifiedClaims(resp.Request)
	if !ok || sc.n == 0 || sc.overflow {
		p.markPreLogin(resp, &sc, now)
		return
	}
	session, changed := sessionAfter(&sc, cookies, p.names, now)
	if !changed {
		return
	}
	oldBind := claims.Bind
	if len(session) == 0 || deletesBound(&sc, cookies, now) {
		// The app ended (part of) the session: the gate session ends
		// with it, and copies of the old cookies are worth nothing.
		if err := p.opt.Store.Revoke(resp.Request.Context(), oldBind, now, now.Add(p.opt.Cookies.MaxAge)); err != nil {
			p.log.ErrorContext(resp.Request.Context(), "revoking gate session the app ended", "event", "store_error", "err", err)
		}
		resp.Header.Add("Set-Cookie", p.opt.Cookies.Clear().String())
		p.log.InfoContext(resp.Request.Context(), "app ended the session", "event", "logout", "user", claims.User)
		return
	}
	if p.opt.Success.Match(resp, cookies, p.names) {
		p.log.WarnContext(resp.Request.Context(), "app issued a new session that looks like a login on a route not configured as login; not released",
			"event", "rotation_refused", "user", claims.User, "path", resp.Request.URL.Path)
		return
	}
	names, values := sessionMapArrays(session)
	c, err := p.opt.Cookies.Cookie(claims.User, gate.Binding(names, values), claims.Verified)
	// The old binding is void: the app replaced that session.
	if err := p.opt.Store.Revoke(resp.Request.Context(), oldBind, now, now.Add(p.opt.Cookies.MaxAge)); err != nil {
		p.log.ErrorContext(resp.Request.Context(), "revoking the rotated session's gate cookies", "event", "store_error", "err", err)
	}
	if err != nil {
		p.log.ErrorContext(resp.Request.Context(), "re-binding gate cookie", "event", "rotation_failed", "err", err)
		return
	}
	resp.Header.Add("Set-Cookie", c.String())
	p.log.InfoContext(resp.Request.Context(), "app session rotated; binding follows", "event", "session_rotated", "user", claims.User)
}

// phoneOf reads the user's number from the login answer, as configured.
func (p *Proxy) phoneOf(h http.Header, body []byte) string {
	if p.opt.PhoneHeader != "" {
		if v := strings.TrimSpace(h.Get(p.opt.PhoneHeader)); v != "" {
			return v
		}
	}
	if p.opt.PhoneJSONField != "" && len(body) > 0 && body[0] == '{' {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			if v, ok := m[p.opt.PhoneJSONField].(string); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// NewHeldID makes a held login's id: 144 random bits, URL-safe.
func NewHeldID(random io.Reader) (string, error) {
	var b [18]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("making held login id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Replace makes resp the gateway's own answer rep (a held login's
// challenge): status, headers and body, framed anew.
func (rep Reply) Replace(resp *http.Response) {
	resp.StatusCode, resp.Status = rep.Status, ""
	resp.Header = rep.Header
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	ReplaceBody(resp, rep.Body)
}

// ReplaceBody gives resp a new, complete body.
func ReplaceBody(resp *http.Response, b []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Del("Content-Encoding")
	resp.TransferEncoding = nil
	resp.Trailer = nil
}

var (
	errUnbound  = errors.New("login answer carries no app session")
	errTooLarge = errors.New("login answer too large to hold")
)

// StoreError marks a failure of the gateway's store while it handled an
// answer: the client gets 503, not 502.
type StoreError struct{ Err error }

func (e StoreError) Error() string { return e.Err.Error() }
func (e StoreError) Unwrap() error { return e.Err }

// PageError fails an answer with the gateway's own page of status Status
// (Until, for 429, is when a ban ends).
type PageError struct {
	Status int
	Until  time.Time
	// Message, if set, is what the page tells the user instead of the
	// status's usual text (see PageMessage).
	Message string
	Err     error
}

type messageKey struct{}

// PageMessage returns the message the proxy wants its error page for r to
// show ("" for the status's usual text).
func PageMessage(r *http.Request) string {
	m, _ := r.Context().Value(messageKey{}).(string)
	return m
}

func (e PageError) Error() string { return e.Err.Error() }
func (e PageError) Unwrap() error { return e.Err }

// FailureStatus is the status of the gateway's answer to a request that
// failed upstream or while its answer was handled: 503 for a store
// failure, 504 for a timeout, else 502; 0 when the client went away.
func FailureStatus(r *http.Request, err error) int {
	var se StoreError
	var ne net.Error
	var pe PageError
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return 0
	case errors.As(err, &pe):
		return pe.Status
	case errors.As(err, &se):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// errorHandler answers upstream failures and interception failures with the
// gateway's own page; details go to the log only.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	// First: a request body the client did not finish (a timeout, a
	// dropped connection). The server cancels such a request's context,
	// but the client may still be waiting for an answer, and a handler
	// that writes nothing is answered "200 OK": it must get an error.
	if berr := bodyFailed(r); berr != nil || errors.Is(err, errBodyIncomplete) {
		p.log.WarnContext(r.Context(), "request body broke off before the app had it all", "event", "request_incomplete",
			"method", r.Method, "path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r), "err", err)
		p.page(w, r, http.StatusRequestTimeout)
		return
	}
	status := FailureStatus(r, err)
	if status == 0 {
		return // the client went away; nobody to answer
	}
	var pe PageError
	if errors.As(err, &pe) {
		if status == http.StatusTooManyRequests {
			p.bannedPage(w, r, pe.Until)
			return
		}
		if pe.Message != "" {
			r = r.WithContext(context.WithValue(r.Context(), messageKey{}, pe.Message))
		}
		p.page(w, r, status)
		return
	}
	p.log.WarnContext(r.Context(), "upstream request failed", "event", "upstream_error", "status", status,
		"method", r.Method, "path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r), "err", err)
	p.page(w, r, status)
}

func (p *Proxy) page(w http.ResponseWriter, r *http.Request, status int) {
	if p.opt.Status != nil {
		p.opt.Status(status)
	}
	if p.opt.ErrorPage != nil {
		p.opt.ErrorPage(w, r, status)
		return
	}
	http.Error(w, http.StatusText(status), status)
}

// Hop-by-hop headers (RFC 9110 7.6.1) are not part of a held response.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

// RemoveHopHeaders removes hop-by-hop headers (and Content-Length) from a
// response header about to be held.
func RemoveHopHeaders(h http.Header) { removeHopHeaders(h) }

func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for _, sf := range strings.Split(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// bufferPool recycles the 32 KiB copy buffers ReverseProxy would otherwise
// allocate per request.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }
