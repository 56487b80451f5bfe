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
	// UserField is the login form field naming the user.
	UserField string
	// UserHeader, if set, is a header of the app's login answer naming the
	// user; it wins over UserField.
	UserHeader string
	// MaxLoginBody bounds login request bodies (0: 64 KiB).
	MaxLoginBody int64
	// HoldTTL is how long a held login lives (0: 5 minutes).
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
	opt     Options
	rp      *httputil.ReverseProxy
	names   cookieNames
	login   routeSet
	logout  routeSet
	gateCk  string
	log     *slog.Logger
	now     func() time.Time
	random  io.Reader
	maxBody int64
	holdTTL time.Duration
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
		p.holdTTL = 5 * time.Minute
	}
	transport := opts.Transport
	if transport == nil {
		transport = NewTransport(TransportOptions{})
	}
	p.rp = NewForwarder(opts.Upstream, transport, opts.ClientIP, opts.PreserveHost)
	p.rp.ModifyResponse = p.modifyResponse
	p.rp.ErrorHandler = p.errorHandler
	p.rp.ErrorLog = slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)
	return p, nil
}

// NewForwarder returns the reverse proxy that carries requests to upstream:
// the gateway writes the X-Forwarded-* headers itself (a client's own
// entries count only behind a trusted proxy) and recycles copy buffers. The
// caller sets ModifyResponse and ErrorHandler.
func NewForwarder(upstream *url.URL, transport http.RoundTripper, ips *clientip.Resolver, preserveHost bool) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			h := pr.Out.Header
			h["X-Forwarded-For"] = []string{ips.ForwardedFor(pr.In)}
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
	user      string
	sent      scan
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
	// Identity headers belong to the gateway.
	if _, ok := r.Header[UserHeader]; ok {
		r.Header.Del(UserHeader)
	}
	// Every request reaches the app with a request id: the one a trusted
	// proxy set, or a new one.
	if v := r.Header.Get(audit.Header); v == "" || !audit.Sane(v) || !p.opt.ClientIP.TrustedPeer(r) {
		r.Header[audit.Header] = []string{audit.NewID()}
	}

	var sc scan
	scanCookies(r.Header["Cookie"], p.gateCk, p.names, &sc)

	authorized := false
	var claims gate.Claims
	if sc.n > 0 && !sc.overflow && sc.gate != "" {
		claims, authorized = p.verify(&sc)
	}

	path := r.URL.Path
	canon := canonical(path)
	var key string
	isLogin, isLogout := false, false
	if canon {
		key = loginKey(path)
		isLogin = p.login.matchPath(key)
		isLogout = p.logout.match(key, r.Method)
	}

	// A protocol upgrade (WebSocket) is a long-lived channel to the app:
	// it needs a released session, unless its path is public.
	rules := p.rules.Load()
	if !authorized && r.Header.Get("Upgrade") != "" && !(canon && bypass(rules.bypass, path, r.Method)) {
		p.log.InfoContext(r.Context(), "upgrade without a gate session refused", "event", "upgrade_refused",
			"path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
		p.page(w, r, http.StatusForbidden)
		return
	}
	// A request to a login route (path and method) is read first: whether
	// it names a user decides what its cookies may do.
	interceptLogin := isLogin && p.login.match(key, r.Method)
	var user string
	if interceptLogin {
		body, err := ReadBody(r, p.maxBody)
		if err != nil {
			if errors.Is(err, ErrBodyTooLarge) {
				p.page(w, r, http.StatusRequestEntityTooLarge)
			} else {
				p.log.InfoContext(r.Context(), "login request body unreadable", "event", "bad_request", "remote_ip", p.opt.ClientIP.ClientIP(r), "err", err)
				p.page(w, r, http.StatusBadRequest)
			}
			return
		}
		user = loginUser(r, body, p.opt.UserField)
	}
	if sc.n > 0 && !authorized {
		switch {
		case interceptLogin && (user != "" || p.opt.UserField == ""):
			// A login attempt may carry an unreleased (pre-login) session:
			// apps that keep their session id need it, and the answer is
			// intercepted. Anything else on a login path, such as an
			// app that posts every form to one path, gets no unreleased
			// cookie.
		case canon && bypass(rules.bypass, path, r.Method):
			// Public paths.
		case p.wantsPage(r) && p.opt.Challenger.Pending(r):
			http.Redirect(w, r, p.opt.Prefix+"verify", http.StatusSeeOther)
			if p.opt.Status != nil {
				p.opt.Status(http.StatusSeeOther)
			}
			return
		default:
			stripSessionCookies(r.Header, p.names)
			sc.n = 0
		}
	}
	if authorized {
		if len(rules.stepUp) > 0 && canon {
			if maxAge, ok := stepUpAge(rules.stepUp, path, r.Method); ok && p.now().Sub(claims.Verified) > maxAge {
				p.requireStepUp(w, r)
				return
			}
		}
		r.Header[UserHeader] = []string{claims.User}
	}

	if interceptLogin || (isLogout && sc.n > 0) {
		_, ctx := audit.EnsureRequestID(r, p.opt.ClientIP.TrustedPeer(r))
		r = r.WithContext(ctx)
		st := &reqState{login: interceptLogin, logout: isLogout, sent: sc, remoteIP: p.opt.ClientIP.ClientIP(r), userAgent: r.UserAgent()}
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
					if p.opt.BannedPage != nil {
						p.opt.BannedPage(w, r, b.BannedUntil())
					} else {
						http.Error(w, "Too many failed attempts. Try again later.", http.StatusTooManyRequests)
					}
					return
				}
			}
		}
		st.orig = r
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	}
	p.rp.ServeHTTP(w, r)
}

// verify decides whether the request's app session was released: a gate
// cookie that decodes, is bound to exactly these session cookies and was not
// revoked. No store round trip: revocations are an in-process view.
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
	return cl, true
}

func stepUpAge(rules []StepUpRule, path, method string) (time.Duration, bool) {
	for i := range rules {
		su := &rules[i]
		if bypass([]BypassRule{su.Rule}, path, method) {
			return su.MaxAge, true
		}
	}
	return 0, false
}

// requireStepUp sends a browser to the step-up page (coming back to this
// URL afterwards); API clients get a JSON 401 naming the page.
func (p *Proxy) requireStepUp(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	target := p.opt.Prefix + "step-up?next=" + url.QueryEscape(next)
	p.log.InfoContext(r.Context(), "step-up required", "event", "step_up_required", "path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
	w.Header().Set("Cache-Control", "no-store")
	if p.opt.Status != nil {
		p.opt.Status(map[bool]int{true: http.StatusSeeOther, false: http.StatusUnauthorized}[p.wantsPage(r)])
	}
	if p.wantsPage(r) {
		http.Redirect(w, r, target, http.StatusSeeOther)
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

// interceptLogin holds a successful login answer and replaces it with the
// challenge. Other answers (a failed login, an error page) pass unchanged.
func (p *Proxy) interceptLogin(resp *http.Response, st *reqState) error {
	cookies := resp.Cookies()
	if !p.opt.Success.Match(resp, cookies, p.names) {
		return nil
	}
	now := p.now()
	user := st.user
	if p.opt.UserHeader != "" {
		if u := NormalizeUser(resp.Header.Get(p.opt.UserHeader)); u != "" {
			user = u
		}
	}
	if user == "" {
		// No user named in the request or the answer: not a login (an app
		// that posts everything to one path, index.php style). The answer
		// passes; any session cookie it sets is still unreleased, so the
		// guard strips it from later requests.
		p.log.WarnContext(resp.Request.Context(), "answer on a login route names no user; passed through unreleased (check login.user if this was a login)",
			"event", "login_unattributed", "remote_ip", st.remoteIP, "path", resp.Request.URL.Path)
		return nil
	}
	session, _ := sessionAfter(&st.sent, cookies, p.names, now)
	if len(session) == 0 {
		p.log.ErrorContext(resp.Request.Context(), "login succeeded but no app session cookie is set; check session_cookies in the config",
			"event", "login_unbound", "user", user, "remote_ip", st.remoteIP)
		return errUnbound
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHeldBody+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading login answer: %w", err)
	}
	if len(body) > maxHeldBody {
		p.log.ErrorContext(resp.Request.Context(), "login answer too large to hold", "event", "login_too_large", "user", user, "limit", maxHeldBody)
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
	h := &store.Held{
		Phone:     p.phoneOf(resp.Header, body),
		ID:        id,
		User:      user,
		Session:   session,
		Response:  store.HeldResponse{Status: resp.StatusCode, Header: header, Body: body},
		RemoteIP:  st.remoteIP,
		UserAgent: st.userAgent,
		Created:   now,
		Expires:   now.Add(p.holdTTL),
	}
	ctx := resp.Request.Context()
	bind := gate.BindingMap(session)
	// Gate cookies bound to this app session before now are void: an app
	// that keeps its session id across a login (PHP without regeneration)
	// must not let an older gate cookie carry the new login.
	if err := p.opt.Store.Revoke(ctx, bind, now, now.Add(p.opt.Cookies.MaxAge)); err != nil {
		return StoreError{fmt.Errorf("revoking earlier gate sessions: %w", err)}
	}
	if err := p.opt.Store.CreateHeld(ctx, h); err != nil {
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
	p.log.InfoContext(resp.Request.Context(), "login held", "event", "login_held", "user", user, "remote_ip", st.remoteIP, "user_agent", st.userAgent)
	return nil
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
	if sc.n == 0 || sc.overflow || sc.gate == "" {
		return
	}
	claims, ok := p.verify(&sc)
	if !ok {
		return
	}
	now := p.now()
	cookies := resp.Cookies()
	session, changed := sessionAfter(&sc, cookies, p.names, now)
	if !changed {
		return
	}
	oldBind := claims.Bind
	if len(session) == 0 {
		_ = p.opt.Store.Revoke(resp.Request.Context(), oldBind, now, now.Add(p.opt.Cookies.MaxAge))
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

// FailureStatus is the status of the gateway's answer to a request that
// failed upstream or while its answer was handled: 503 for a store
// failure, 504 for a timeout, else 502; 0 when the client went away.
func FailureStatus(r *http.Request, err error) int {
	var se StoreError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return 0
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
	status := FailureStatus(r, err)
	if status == 0 {
		return // the client went away; nobody to answer
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
