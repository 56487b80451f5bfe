package cookieguard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/gate"
)

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

type messageKey struct{}

// PageMessage returns the message the proxy wants its error page for r to
// show ("" for the status's usual text).
func PageMessage(r *http.Request) string {
	m, _ := r.Context().Value(messageKey{}).(string)
	return m
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
	status := forward.FailureStatus(r, err)
	if status == 0 {
		return // the client went away; nobody to answer
	}
	var pe forward.PageError
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
