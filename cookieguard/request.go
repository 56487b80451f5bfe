package cookieguard

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/gate"
)

// gather reads the facts Decide needs from r: the Cookie header (scanned
// once into sc), the gate cookie (claims), the path, and, on a login
// route, the login request (which may rewrite it into its canonical form).
// It returns the Authorization value counted as the app session (Basic).
func (p *Proxy) gather(r *http.Request, f *Facts, sc *scan, claims *gate.Claims) (auth string) {
	f.Method, f.Path = r.Method, r.URL.Path
	scanCookies(r.Header["Cookie"], p.gateCk, p.names, sc)
	// The Authorization header is an app credential: in Basic mode it is
	// part of the app session the gate cookie is bound to; otherwise it
	// never reaches the app.
	if vs := r.Header["Authorization"]; len(vs) > 0 {
		f.Authorization = true
		if p.opt.Basic && len(vs) == 1 && !sc.overflow && sc.n < maxSessionCookies {
			auth = vs[0]
			sc.names[sc.n], sc.values[sc.n] = authorizationKey, auth
			sc.n++
		}
	}
	f.Sessions, f.Basic = sc.n > 0, auth != ""
	if sc.n > 0 && !sc.overflow && sc.gate != "" {
		*claims, f.Released = p.verify(sc)
		if f.Released {
			f.Age = p.now().Sub(claims.Verified)
		}
	}
	f.Canonical = canonical(f.Path)
	if f.Canonical {
		key := loginKey(f.Path)
		f.LoginRoute = p.login.match(key, r.Method)
		f.LogoutRoute = p.logout.matchRequest(key, r)
	}
	// An Upgrade header without "Connection: upgrade" (or over HTTP/2, or
	// h2c, which the gateway never forwards) opens nothing and is dropped.
	if _, ok := r.Header["Upgrade"]; ok && !opensChannel(r) {
		r.Header.Del("Upgrade")
		r.Header.Del("Http2-Settings")
	}
	f.Upgrade = r.Header.Get("Upgrade") != ""
	if f.LoginRoute {
		p.readLogin(r, f)
	}
	f.WantsPage = p.wantsPage(r)
	if !f.Released && (f.Basic || f.Sessions && f.WantsPage) {
		f.Pending = p.opt.Challenger.Pending(r)
	}
	if f.Basic && !f.Released {
		f.BasicUser, f.BasicErr = p.basicUser(auth)
	}
	return auth
}

// readLogin reads a login route request: the user field once, normalised,
// only login.fields forwarded (LoginForm.Canonical).
func (p *Proxy) readLogin(r *http.Request, f *Facts) {
	body, err := forward.ReadBody(r, p.maxBody)
	switch {
	case errors.Is(err, forward.ErrBodyTooLarge):
		f.LoginTooLarge = true
		return
	case err != nil:
		f.LoginErr = err
		return
	}
	if p.opt.Form.UserField == "" {
		return
	}
	f.LoginUser, err = p.opt.Form.Canonical(r, body)
	if err != nil {
		f.LoginRefused = err.Error()
		if lr := (*LoginRefused)(nil); errors.As(err, &lr) {
			f.LoginRefused = lr.Reason
		}
	}
}

// clean applies a decision's removals to r: the Authorization header,
// credential parameters, and app session cookies (sc follows).
func (p *Proxy) clean(r *http.Request, d *Decision, sc *scan) {
	switch d.Authorization {
	case UnboundAuthorization:
		delete(r.Header, "Authorization")
		p.log.InfoContext(r.Context(), "Authorization not bound to a gate session removed", "event", "credential_stripped",
			"channel", "authorization", "path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
	case AppAuthorization:
		delete(r.Header, "Authorization")
		p.log.InfoContext(r.Context(), "Authorization removed (the app's credentials pass only as released sessions)", "event", "credential_stripped",
			"channel", "authorization", "path", r.URL.Path, "remote_ip", p.opt.ClientIP.ClientIP(r))
	}
	if d.StripCredentials {
		p.stripCredentials(r, d.CredentialLogin)
	}
	switch d.Cookies {
	case PreLoginCookies:
		if !p.preLoginOnly(r, sc) {
			stripSessionCookies(r.Header, p.names)
			sc.n = 0
		}
	case StripCookies:
		stripSessionCookies(r.Header, p.names)
		sc.n = 0
	}
}

// forward sends r to the app as decided: a released session's user named,
// a login or logout attempt's state carried to its answer (a login from a
// banned user or address refused first).
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, d *Decision, sc *scan, claims gate.Claims, auth string) {
	if d.Released {
		r.Header[forward.UserHeader] = []string{claims.User}
		// The answer may rotate the session (followRotation), and the
		// gate cookie itself does not travel to the app.
		r = r.WithContext(&claimsContext{Context: r.Context(), claims: claims})
	}
	if d.Login != NoLogin || d.Logout {
		_, ctx := audit.EnsureRequestID(r, p.opt.ClientIP.TrustedPeer(r))
		r = r.WithContext(ctx)
		st := &reqState{login: d.Login != NoLogin, logout: d.Logout, basic: d.Login == BasicLogin, auth: auth, sent: *sc,
			remoteIP: p.opt.ClientIP.ClientIP(r), userAgent: r.UserAgent(), user: d.User}
		if st.login && p.opt.Regulator != nil {
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
		st.orig = r
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	}
	p.rp.ServeHTTP(w, r)
}

// identitySpelling reports whether a header name is forward.UserHeader to an app
// that folds case and reads "_" as "-".
func identitySpelling(k string) bool {
	for i := 0; i < len(k); i++ {
		a, b := k[i], forward.UserHeader[i]
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
