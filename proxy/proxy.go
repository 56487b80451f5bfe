package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

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
}

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
	case len(opts.SessionCookies) == 0:
		return nil, errors.New("proxy: no app session cookie names")
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
	upstream := opts.Upstream
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
			if opts.PreserveHost {
				pr.Out.Host = pr.In.Host
			}
		},
		Transport:      transport,
		BufferPool:     newBufferPool(),
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	return p, nil
}

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
		p.opt.Gate.ServeHTTP(w, r)
		return
	}
	// Identity headers belong to the gateway.
	if _, ok := r.Header[UserHeader]; ok {
		r.Header.Del(UserHeader)
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

	if sc.n > 0 && !authorized {
		switch {
		case isLogin || (canon && bypass(p.opt.Bypass, path, r.Method)):
			// An unreleased cookie may reach the login route (its answer is
			// intercepted) and public paths.
		case p.wantsPage(r) && p.opt.Challenger.Pending(r):
			http.Redirect(w, r, p.opt.Prefix+"verify", http.StatusSeeOther)
			return
		default:
			stripSessionCookies(r.Header, p.names)
			sc.n = 0
		}
	}
	if authorized {
		r.Header[UserHeader] = []string{claims.User}
	}

	interceptLogin := isLogin && p.login.match(key, r.Method)
	if interceptLogin || (isLogout && sc.n > 0) {
		st := &reqState{login: interceptLogin, logout: isLogout, sent: sc, remoteIP: remoteIP(r), userAgent: r.UserAgent()}
		if interceptLogin {
			body, err := readLoginBody(r, p.maxBody)
			if err != nil {
				if errors.Is(err, errBodyTooLarge) {
					p.page(w, r, http.StatusRequestEntityTooLarge)
				} else {
					p.log.Info("login request body unreadable", "event", "bad_request", "remote_ip", st.remoteIP, "err", err)
					p.page(w, r, http.StatusBadRequest)
				}
				return
			}
			st.user = loginUser(r, body, p.opt.UserField)
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

// wantsPage reports whether the request is a browser navigation that can be
// redirected to the code page.
func (p *Proxy) wantsPage(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// modifyResponse intercepts login answers, ends gate sessions on logout and
// follows app-session rotation. For a plain verified request that sets no
// session cookie it costs one map lookup.
func (p *Proxy) modifyResponse(resp *http.Response) error {
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
		p.log.Error("login succeeded but names no user; check login.user in the config",
			"event", "login_unattributed", "remote_ip", st.remoteIP, "path", resp.Request.URL.Path)
		return errUnattributed
	}
	session, _ := sessionAfter(&st.sent, cookies, p.names, now)
	if len(session) == 0 {
		p.log.Error("login succeeded but no app session cookie is set; check session_cookies in the config",
			"event", "login_unbound", "user", user, "remote_ip", st.remoteIP)
		return errUnbound
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHeldBody+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading login answer: %w", err)
	}
	if len(body) > maxHeldBody {
		p.log.Error("login answer too large to hold", "event", "login_too_large", "user", user, "limit", maxHeldBody)
		return errTooLarge
	}
	id, err := p.newID()
	if err != nil {
		return err
	}
	header := resp.Header.Clone()
	removeHopHeaders(header)
	header.Del(UserHeader)
	if p.opt.UserHeader != "" {
		header.Del(p.opt.UserHeader)
	}
	h := &store.Held{
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
		return storeError{fmt.Errorf("revoking earlier gate sessions: %w", err)}
	}
	if err := p.opt.Store.CreateHeld(ctx, h); err != nil {
		return storeError{fmt.Errorf("holding login: %w", err)}
	}
	reply, err := p.opt.Challenger.Begin(st.orig, h)
	if err != nil {
		return fmt.Errorf("starting challenge: %w", err)
	}
	if reply.Header == nil {
		reply.Header = http.Header{}
	}
	reply.Header.Add("Set-Cookie", p.opt.Cookies.Clear().String())
	resp.StatusCode = reply.Status
	resp.Status = ""
	resp.Header = reply.Header
	resp.Body = io.NopCloser(bytes.NewReader(reply.Body))
	resp.ContentLength = int64(len(reply.Body))
	resp.Header.Set("Content-Length", fmt.Sprint(len(reply.Body)))
	resp.Trailer = nil
	resp.TransferEncoding = nil
	p.log.Info("login held", "event", "login_held", "user", user, "remote_ip", st.remoteIP, "user_agent", st.userAgent)
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
		p.log.Error("revoking gate session on logout", "event", "store_error", "err", err)
	}
	resp.Header.Add("Set-Cookie", p.opt.Cookies.Clear().String())
	p.log.Info("logout", "event", "logout", "remote_ip", st.remoteIP)
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
		p.log.Info("app ended the session", "event", "logout", "user", claims.User)
		return
	}
	if p.opt.Success.Match(resp, cookies, p.names) {
		p.log.Warn("app issued a new session that looks like a login on a route not configured as login; not released",
			"event", "rotation_refused", "user", claims.User, "path", resp.Request.URL.Path)
		return
	}
	names, values := sessionMapArrays(session)
	c, err := p.opt.Cookies.Cookie(claims.User, gate.Binding(names, values), claims.Verified)
	if err != nil {
		p.log.Error("re-binding gate cookie", "event", "rotation_failed", "err", err)
		return
	}
	resp.Header.Add("Set-Cookie", c.String())
	p.log.Info("app session rotated; binding follows", "event", "session_rotated", "user", claims.User)
}

func (p *Proxy) newID() (string, error) {
	var b [18]byte
	if _, err := io.ReadFull(p.random, b[:]); err != nil {
		return "", fmt.Errorf("making held login id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

var (
	errUnattributed = errors.New("login answer names no user")
	errUnbound      = errors.New("login answer carries no app session")
	errTooLarge     = errors.New("login answer too large to hold")
)

type storeError struct{ err error }

func (e storeError) Error() string { return e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// errorHandler answers upstream failures and interception failures with the
// gateway's own page; details go to the log only.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	var se storeError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody to answer.
		return
	case errors.As(err, &se):
		status = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		status = http.StatusGatewayTimeout
	}
	p.log.Warn("upstream request failed", "event", "upstream_error", "status", status,
		"method", r.Method, "path", r.URL.Path, "remote_ip", remoteIP(r), "err", err)
	p.page(w, r, status)
}

func (p *Proxy) page(w http.ResponseWriter, r *http.Request, status int) {
	if p.opt.ErrorPage != nil {
		p.opt.ErrorPage(w, r, status)
		return
	}
	http.Error(w, http.StatusText(status), status)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Hop-by-hop headers (RFC 9110 7.6.1) are not part of a held response.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

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
