package cookieguard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/store"
)

// maxHeldBody bounds the body of a login answer the gateway holds.
const maxHeldBody = 1 << 20

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
		return forward.PageError{Status: http.StatusBadGateway, Err: errors.New("unmatched login answer"), Message: msgUnconfirmed}
	}
	user, err := p.identify(resp, st, session)
	if err != nil {
		return err
	}
	body, err := forward.ReadAnswer(resp, maxHeldBody)
	switch {
	case errors.Is(err, forward.ErrAnswerTooLarge):
		p.log.ErrorContext(ctx, "login answer too large to hold", "event", "login_too_large", "user", user, "limit", maxHeldBody)
		p.abandon(ctx, st, user, session, "too_large")
		return errTooLarge
	case err != nil:
		return fmt.Errorf("reading login answer: %w", err)
	}
	header := held.Header(resp.Header, p.opt.UserHeader, p.opt.PhoneHeader)
	answer := store.HeldResponse{Status: resp.StatusCode, Header: header, Body: body}
	switch {
	case st.basic:
		// The browser asks again for what it asked for, now with the
		// gate cookie beside its credentials.
		answer = seeOther(header, st.orig.URL.RequestURI(), true)
	case !matched:
		// A new session the success rule did not describe (a login that
		// also asked for a page), whose user the app confirmed: held;
		// released as a redirect home rather than as that page.
		p.log.WarnContext(ctx, "login answer sets a new app session but does not match login.success; held", "event", "login_unmatched_held",
			"user", user, "status", resp.StatusCode, "path", resp.Request.URL.Path)
		answer = seeOther(header, "/", false)
	}
	h := &store.Held{
		Phone:     p.phoneOf(resp.Header, body),
		User:      user,
		Session:   session,
		Response:  answer,
		RemoteIP:  st.remoteIP,
		UserAgent: st.userAgent,
	}
	bind := gate.BindingMap(session)
	// Gate cookies bound to this app session before now are void: an app
	// that keeps its session id across a login (PHP without regeneration)
	// must not let an older gate cookie carry the new login.
	if err := p.opt.Store.Revoke(ctx, bind, now, now.Add(p.opt.Cookies.MaxAge)); err != nil {
		p.abandon(ctx, st, user, session, "store_error")
		return forward.StoreError{Err: fmt.Errorf("revoking earlier gate sessions: %w", err)}
	}
	return held.HoldAnswer(resp, h, cookieKind{p, st}, p.opt.Held, p.log)
}

// cookieKind is what holding a cookie login adds to held.HoldAnswer.
type cookieKind struct {
	p  *Proxy
	st *reqState
}

func (cookieKind) Stored(context.Context, *store.Held) {}

func (k cookieKind) Begin(h *store.Held) (forward.Reply, error) {
	return k.p.opt.Challenger.Begin(k.st.orig, h)
}

// Unheld ends the app session of a login that could not be stored; one
// whose challenge did not begin stays held until it expires (Sweep
// abandons it then).
func (k cookieKind) Unheld(ctx context.Context, h *store.Held, reason string) {
	if reason == "store_error" {
		k.p.abandon(ctx, k.st, h.User, h.Session, reason)
	}
}

// ReplyHeader clears a gate cookie of an earlier session; one the reply
// sets itself (a remembered device released at once) comes later and wins.
func (k cookieKind) ReplyHeader(_, reply http.Header) {
	reply["Set-Cookie"] = append([]string{k.p.opt.Cookies.Clear().String()}, reply["Set-Cookie"]...)
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
			return "", forward.PageError{Status: http.StatusBadGateway, Err: err, Message: msgUnconfirmed}
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
		return "", forward.PageError{Status: http.StatusBadGateway, Err: errors.New("login names no user"), Message: msgUnconfirmed}
	}
	if user != st.user && p.opt.Regulator != nil {
		if err := p.opt.Regulator.Banned(ctx, user, st.remoteIP); err != nil {
			var b banned
			if !errors.As(err, &b) {
				p.abandon(ctx, st, user, session, "store_error")
				return "", forward.StoreError{Err: fmt.Errorf("reading bans: %w", err)}
			}
			p.log.WarnContext(ctx, "login refused: banned", "event", "login_refused_banned", "user", user, "remote_ip", st.remoteIP)
			p.abandon(ctx, st, user, session, "banned")
			return "", forward.PageError{Status: http.StatusTooManyRequests, Until: b.BannedUntil(), Err: err}
		}
	}
	return user, nil
}

// msgUnconfirmed is the page of a login whose user the app did not confirm.
const msgUnconfirmed = "Your password was accepted, but the sign-in could not be confirmed, so it was not completed. Please try again in a moment; if this keeps happening, tell your administrator."

// abandon ends at the app a session the gateway will not hold.
func (p *Proxy) abandon(ctx context.Context, st *reqState, user string, session map[string]string, reason string) {
	p.opt.Held.Abandon(ctx, &store.Held{User: user, Session: session, RemoteIP: st.remoteIP, UserAgent: st.userAgent, Created: p.now()}, reason)
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

var (
	errUnbound  = errors.New("login answer carries no app session")
	errTooLarge = errors.New("login answer too large to hold")
)
