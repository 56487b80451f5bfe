package parseguard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/forward"
)

// Screen guards the requests outside the mount and the GraphQL path on
// their way to next (the cookie guard): they reach the same upstream, so
// a master key header is refused from outside master_key_from, and a Parse
// token header must be released.
func (g *Guard) Screen(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Parse-Master-Key") != "" || r.Header.Get("X-Parse-Maintenance-Key") != "" {
			if ip := g.opt.ClientIP.ClientIP(r); !g.masterAllowed(ip) {
				g.refuseMaster(w, r, ip)
				return
			}
		}
		if tok := r.Header.Get("X-Parse-Session-Token"); tok != "" {
			if _, ok := g.checkToken(w, r, tok); !ok {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP guards one request to a path the guard Owns: it reads the
// request's facts, and acts on decide's decision.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var f facts
	st, r := g.read(r, &f)
	d := decide(&f, &g.rules)
	switch d.action {
	case refuseDotted:
		g.fail(w, r, http.StatusBadRequest, 107, "Invalid path.", "bad_path")
	case notParse:
		g.fail(w, r, http.StatusNotFound, 119, "Not a Parse path.", "")
	case refuseUpgrade:
		// A WebSocket (LiveQuery) carries its token inside messages the
		// gateway doesn't read: not through the guarded paths.
		g.log.InfoContext(r.Context(), "protocol upgrade on a Parse path refused", "event", "upgrade_refused", "path", r.URL.Path)
		g.fail(w, r, http.StatusForbidden, 119, "WebSockets are not available on this path through the gateway.", "")
	case refuseTooLarge:
		g.fail(w, r, http.StatusRequestEntityTooLarge, 130, "Request body too large.", "body_too_large")
	case refuseEncoding:
		g.log.InfoContext(st, "Parse request refused", "event", "bad_request", "reason", f.readErr.Error(), "remote_ip", st.remoteIP)
		g.fail(w, r, http.StatusUnsupportedMediaType, 107, "Send the body as plain UTF-8 JSON.", "")
	case refuseJSON:
		g.log.InfoContext(st, "Parse request refused", "event", "bad_request", "reason", f.readErr.Error(), "remote_ip", st.remoteIP)
		g.fail(w, r, http.StatusBadRequest, 107, "Invalid JSON.", "")
	case refuseMaster:
		g.refuseMaster(w, r, st.remoteIP)
	case tokenUnavailable:
		g.log.ErrorContext(st, "reading the token registry", "event", "store_error", "err", st.tokenErr)
		g.tokensUnavailable(w, r)
	case refuseToken:
		g.refuseToken(w, r, st.remoteIP)
	case refuseMismatch:
		g.fail(w, r, http.StatusBadRequest, 209, "Invalid session token", "token_mismatch")
	case refuseBatch:
		g.log.WarnContext(st, "Parse batch with loginAs or verifyPassword refused", "event", "batch_refused", "remote_ip", st.remoteIP)
		g.fail(w, r, http.StatusForbidden, 119, "loginAs and verifyPassword can't be used in a batch through this gateway.", "")
	case refuseLoginAs:
		g.log.WarnContext(st, "Parse loginAs refused (parse.allow_login_as)", "event", "login_as_refused", "remote_ip", st.remoteIP)
		g.fail(w, r, http.StatusForbidden, 119, "loginAs is not available through this gateway.", "")
	case refuseVerifyPassword:
		g.log.WarnContext(st, "Parse verifyPassword refused (parse.allow_verify_password)", "event", "verify_password_refused", "remote_ip", st.remoteIP)
		g.fail(w, r, http.StatusForbidden, 119, "verifyPassword is not available through this gateway.", "")
	case forwardIt:
		g.forward(w, r, st, d)
	}
}

// read gathers the facts of r in decide's order, up to the first that
// refuses it. From the path on, r carries the request's state (st), which
// holds what was read.
func (g *Guard) read(r *http.Request, f *facts) (*state, *http.Request) {
	k := clean(r.URL.Path)
	if f.dotted = dotted(k); f.dotted {
		return nil, r
	}
	if f.where, f.route = g.locate(k); f.where == elsewhere {
		return nil, r
	}
	if f.upgrade = r.Header.Get("Upgrade") != ""; f.upgrade {
		return nil, r
	}
	delete(r.Header, forward.UserHeader)
	// The request id reaches Parse and every log line of this request.
	st := &state{Context: r.Context(), g: g, where: f.where, route: f.route}
	id := ""
	if g.opt.ClientIP.TrustedPeer(r) {
		if id = r.Header.Get(audit.Header); !audit.Sane(id) {
			id = ""
		}
	}
	if id == "" {
		id = audit.NewID()
	}
	// Header values backed by the state: no allocation of their own.
	st.requestID, st.hdrs[0] = id, id
	r.Header[audit.Header] = st.hdrs[0:1:1]
	r = r.WithContext(st)
	st.remoteIP = g.opt.ClientIP.ClientIP(r)

	q := &st.reqv
	if f.readErr = readRequestInto(q, r, g.opt.MaxBody); f.readErr != nil {
		return st, r
	}
	if f.master = q.master; f.master {
		if f.masterAllowed = g.masterAllowed(st.remoteIP); !f.masterAllowed {
			return st, r
		}
	}
	st.req, st.userAgent = q, r.UserAgent()
	for _, tok := range [2]string{q.headerToken, q.bodyToken} {
		if tok == "" {
			continue
		}
		user, ok, err := g.opt.Tokens.Released(st, tok)
		switch {
		case err != nil:
			st.tokenErr, f.token = err, tokensUnavailable
			return st, r
		case !ok:
			f.token = tokenRefused
			return st, r
		case st.user != "" && st.user != user:
			f.token = tokensMismatch
			return st, r
		}
		st.token, st.user = tok, user
	}
	f.signedIn = st.token != ""
	if f.where == graphQL && q.gqlQuery == "" && r.URL.RawQuery != "" {
		q.gqlQuery = r.URL.Query().Get("query") // GraphQL over GET
	}
	f.kind = kindOf(f.where, f.route, q, g.mount)
	st.kind = f.kind
	return st, r
}

// forward sends a request decide let through to Parse: a login from a
// banned client is refused first, and authData.mfa taken off it; the token
// of a session it deletes is looked up while the caller may still read it.
func (g *Guard) forward(w http.ResponseWriter, r *http.Request, st *state, d decision) {
	q := st.req
	if d.regulate {
		if g.opt.Regulator != nil {
			if err := g.opt.Regulator.Banned(st, "", st.remoteIP); err != nil {
				var b interface{ BannedUntil() time.Time }
				if !errors.As(err, &b) {
					g.log.ErrorContext(st, "reading bans", "event", "store_error", "err", err)
					g.fail(w, r, http.StatusServiceUnavailable, 1, "Sign-in is temporarily unavailable.", "")
					return
				}
				g.log.WarnContext(st, "login refused: banned", "event", "login_refused_banned", "remote_ip", st.remoteIP)
				w.Header().Set("Retry-After", fmt.Sprint(int(b.BannedUntil().Sub(g.opt.Now()).Seconds())+1))
				g.fail(w, r, http.StatusTooManyRequests, 155, "Too many failed attempts. Try again later.", "too_many_attempts")
				return
			}
		}
		if err := q.stripMFA(r); err != nil {
			g.fail(w, r, http.StatusBadRequest, 107, "Invalid JSON.", "")
			return
		}
	}
	if st.user != "" {
		st.hdrs[1] = st.user
		r.Header[forward.UserHeader] = st.hdrs[1:2:2]
	}
	if d.deleting {
		id := st.route[strings.LastIndexByte(st.route, '/')+1:]
		st.deleted = g.sessionToken(st, q, st.token, id)
	}
	// Every answer is checked for tokens: ask for it uncompressed.
	r.Header.Del("Accept-Encoding")
	st.orig = r
	g.rp.ServeHTTP(w, r)
}

func (g *Guard) masterAllowed(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range g.opt.MasterKeyFrom {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// checkToken answers a request whose token was not released (as Parse
// answers an invalid token) and returns false; else the token's user.
func (g *Guard) checkToken(w http.ResponseWriter, r *http.Request, tok string) (string, bool) {
	user, ok, err := g.opt.Tokens.Released(r.Context(), tok)
	switch {
	case err != nil:
		g.log.ErrorContext(r.Context(), "reading the token registry", "event", "store_error", "err", err)
		g.tokensUnavailable(w, r)
		return "", false
	case !ok:
		g.refuseToken(w, r, g.opt.ClientIP.ClientIP(r))
		return "", false
	}
	return user, true
}

func (g *Guard) tokensUnavailable(w http.ResponseWriter, r *http.Request) {
	g.fail(w, r, http.StatusServiceUnavailable, 1, "Temporarily unavailable. Please try again in a moment.", "")
}

func (g *Guard) refuseToken(w http.ResponseWriter, r *http.Request, ip string) {
	g.log.WarnContext(r.Context(), "session token not released by the gateway refused", "event", "token_refused",
		"path", r.URL.Path, "remote_ip", ip)
	g.fail(w, r, http.StatusBadRequest, 209, "Invalid session token", "")
}

func (g *Guard) refuseMaster(w http.ResponseWriter, r *http.Request, ip string) {
	g.log.WarnContext(r.Context(), "master key from a client outside parse.master_key_from refused", "event", "master_key_refused",
		"path", r.URL.Path, "remote_ip", ip)
	g.fail(w, r, http.StatusForbidden, 119, "The master key is not accepted from this address.", "")
}

// fail writes a Parse-shaped error: {"code": code, "error": msg}.
func (g *Guard) fail(w http.ResponseWriter, r *http.Request, status, code int, msg, reason string) {
	if g.opt.Status != nil {
		g.opt.Status(status)
	}
	writeError(w, status, code, msg, reason)
}

// writeError writes a Parse-shaped error answer. Like Parse's own answers
// it may be read by a web app on another origin (no credentials are
// involved: Parse requests carry no cookies).
func writeError(w http.ResponseWriter, status, code int, msg, reason string) {
	body := map[string]any{"code": code, "error": msg}
	if reason != "" {
		body["reason"] = reason
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
