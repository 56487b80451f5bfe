package parseguard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vestibule-gw/vestibule/forward"
)

// remove is the streamed answers' token decision: a token the gateway
// did not release goes (so does any token when the registry can't say).
func (st *state) remove(tok string) bool {
	_, ok, err := st.g.opt.Tokens.Released(st, tok)
	if err != nil {
		st.g.log.ErrorContext(st, "reading the token registry for an answer", "event", "store_error", "err", err)
		return true
	}
	return !ok
}

// filtered is told how many strings a streamed answer had tokens removed
// from.
func (st *state) filtered(n int) {
	st.g.log.InfoContext(st, "session tokens the gateway did not release removed from an answer", "event", "tokens_redacted",
		"count", n, "path", st.orig.URL.Path, "user", st.user)
}

// streamed reports whether an answer is filtered as it streams; otherwise
// it is read whole (answers that may hold a login).
func (st *state) streamed() bool {
	switch st.kind {
	case pass, scan, logout, deleteSession, verifyPassword:
		return true
	}
	return false
}

// files: Parse's file routes answer the files' bytes, which are the app's
// users' content, not JSON Parse writes: they are not scanned.
func (st *state) files() bool {
	first, _, _ := strings.Cut(st.route, "/")
	return st.where == rest && strings.EqualFold(first, "files")
}

// modifyResponse checks every answer from Parse for session tokens.
func (g *Guard) modifyResponse(resp *http.Response) (err error) {
	if g.opt.Status != nil {
		defer func() {
			if err == nil {
				g.opt.Status(resp.StatusCode)
			}
		}()
	}
	st, _ := resp.Request.Context().Value(stateKey{}).(*state)
	if st == nil || st.req == nil {
		return nil
	}
	ctx := resp.Request.Context()
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") && !st.files() {
		// Asked for identity; an encoded answer can't be checked.
		g.log.ErrorContext(ctx, "encoded answer can't be checked for session tokens", "event", "answer_encoded", "path", resp.Request.URL.Path, "encoding", ce)
		return errEncodedAnswer
	}
	switch st.kind {
	case logout:
		if resp.StatusCode == http.StatusOK && st.token != "" {
			if err := g.opt.Tokens.Forget(ctx, st.token); err != nil {
				g.log.ErrorContext(ctx, "forgetting a logged-out token", "event", "store_error", "err", err)
			}
			g.log.InfoContext(ctx, "logout", "event", "logout", "user", st.user, "remote_ip", st.remoteIP)
		}
	case deleteSession:
		if resp.StatusCode == http.StatusOK && st.deleted != "" {
			if err := g.opt.Tokens.Forget(ctx, st.deleted); err != nil {
				g.log.ErrorContext(ctx, "forgetting a deleted session's token", "event", "store_error", "err", err)
			}
			g.log.InfoContext(ctx, "session deleted", "event", "logout", "user", st.user, "remote_ip", st.remoteIP)
		}
	}
	if st.streamed() {
		if st.files() || resp.Body == nil || resp.Body == http.NoBody {
			return nil
		}
		st.filter = tokenFilter{src: resp.Body, s: scanner{decide: st}, max: maxAnswer, report: st}
		st.filter.init()
		resp.Body = &st.filter
		return nil
	}
	body, err := forward.ReadAnswer(resp, maxAnswer)
	switch {
	case errors.Is(err, forward.ErrAnswerTooLarge):
		g.log.ErrorContext(ctx, "answer too large to check for session tokens", "event", "answer_too_large", "path", resp.Request.URL.Path, "limit", maxAnswer)
		return errTooLarge
	case err != nil:
		return fmt.Errorf("reading answer: %w", err)
	}
	keep := func() error { forward.ReplaceBody(resp, body); return nil }
	var unreleased []string
	for _, tok := range findTokenValues(body) {
		_, ok, err := g.opt.Tokens.Released(ctx, tok)
		if err != nil {
			return forward.StoreError{Err: err}
		}
		if !ok {
			unreleased = append(unreleased, tok)
		}
	}
	if len(unreleased) == 0 && st.kind == login && bytes.Contains(body, []byte(parseMFAMissing)) {
		// Parse's own mfa adapter asks for its code: this user was enrolled
		// there and not yet moved to the gateway.
		g.log.WarnContext(ctx, "login of a user enrolled in Parse's mfa adapter: import needed", "event", "mfa_import_required",
			"username", st.req.str("username"), "remote_ip", st.remoteIP)
		if st.where == graphQL || strings.EqualFold(st.route, "batch") {
			body = bytes.ReplaceAll(body, []byte(`"`+parseMFAMissing+`"`), []byte(`"`+mfaImportMessage+`"`))
			return keep()
		}
		rewrite(resp, http.StatusBadRequest, errorBody(-1, mfaImportMessage, "mfa_import_required"))
		return nil
	}
	if len(unreleased) == 0 {
		return keep()
	}
	// removeAll blanks the unreleased tokens (those in end are also ended
	// at Parse: this answer minted them, and nobody will get them).
	removeAll := func(reason string, end []string) error {
		drop := map[string]bool{}
		for _, t := range unreleased {
			drop[t] = true
		}
		redactTokens(body, func(t string) bool { return drop[t] })
		g.log.InfoContext(ctx, "session tokens the gateway did not release removed from an answer", "event", "tokens_redacted",
			"count", len(drop), "path", resp.Request.URL.Path, "user", st.user, "reason", reason)
		if len(end) > 0 {
			g.endSessions(ctx, st.req.keySets(), end, reason)
		}
		return keep()
	}
	success := resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated
	if st.kind == mint || !success {
		return removeAll("not_a_login", unreleased)
	}
	if st.kind == loginAs {
		for _, tok := range unreleased {
			user := g.attribute(ctx, st, body, tok)
			if user == "" {
				return errUnattributed
			}
			if err := g.opt.Tokens.Register(ctx, tok, user); err != nil {
				return forward.StoreError{Err: err}
			}
			g.log.WarnContext(ctx, "loginAs token released (master key)", "event", "login_as", "user", user, "remote_ip", st.remoteIP)
		}
		return keep()
	}
	// A token minted from the caller's own released session (a password
	// change, POST /sessions) follows it.
	var rest []minted
	for _, tok := range unreleased {
		m := minted{token: tok}
		if st.kind == follow && st.user != "" {
			m.user = g.attribute(ctx, st, body, tok)
			if m.user == st.user {
				if err := g.opt.Tokens.Register(ctx, m.token, m.user); err != nil {
					return forward.StoreError{Err: err}
				}
				g.log.InfoContext(ctx, "new session token of a released session follows it", "event", "session_rotated", "user", m.user)
				continue
			}
		}
		rest = append(rest, m)
	}
	switch len(rest) {
	case 0:
		return keep()
	case 1:
	default:
		g.log.WarnContext(ctx, "answer mints several session tokens; refused", "event", "login_refused", "count", len(rest), "remote_ip", st.remoteIP)
		var toks []string
		for _, m := range rest {
			toks = append(toks, m.token)
		}
		g.endSessions(ctx, st.req.keySets(), toks, "several_logins")
		rewrite(resp, http.StatusBadRequest, errorBody(119, "Only one sign-in per request is possible through this gateway.", "several_logins"))
		return nil
	}
	m := rest[0]
	if m.user == "" {
		m.user = g.attribute(ctx, st, body, m.token)
	}
	if m.user == "" {
		g.log.ErrorContext(ctx, "login answer names no user and /users/me did not either", "event", "login_unattributed", "remote_ip", st.remoteIP)
		g.endSessions(ctx, st.req.keySets(), []string{m.token}, "unattributed")
		return errUnattributed
	}
	// A new user (GraphQL answers 200, REST 201).
	signup := resp.StatusCode == http.StatusCreated ||
		st.where == graphQL && strings.Contains(st.req.gqlQuery, "signUp") && !strings.Contains(st.req.gqlQuery, "logIn")
	if st.user != "" && m.user != st.user && signup {
		// A signed-in user created another user (an admin screen): the
		// creator gets the new record without the new user's session, which
		// is ended at Parse. The new user signs in (and enrolls) themselves.
		g.log.InfoContext(ctx, "user created by a signed-in user; the new session withheld", "event", "user_created", "user", m.user, "by", st.user)
		return removeAll("user_created", []string{m.token})
	}
	if g.opt.SignupGrace && signup {
		if err := g.opt.Tokens.Register(ctx, m.token, m.user); err != nil {
			return forward.StoreError{Err: err}
		}
		resp.Header.Set("X-Vestibule-Enrollment", "required")
		g.log.WarnContext(ctx, "new user released without a second factor (parse.signup: grace)", "event", "signup_grace", "user", m.user, "remote_ip", st.remoteIP)
		return keep()
	}
	if g.opt.AnonymousPass && st.req.anonymous() {
		if g.isAnonymous(ctx, st.req, m.token) {
			if err := g.opt.Tokens.Register(ctx, m.token, m.user); err != nil {
				return forward.StoreError{Err: err}
			}
			g.log.InfoContext(ctx, "anonymous login released (parse.anonymous: pass)", "event", "anonymous_released", "user", m.user, "remote_ip", st.remoteIP)
			return keep()
		}
	}
	m.obj = phoneHolder(body, m.token)
	return g.hold(resp, st, m, body)
}

// attribute names the user a token in an answer belongs to. A REST answer
// says so itself (the objectId beside "sessionToken", or the session's
// user pointer); a GraphQL answer's shape is the client's choice (aliases
// can make any field look like an id), so Parse is asked (GET /users/me).
func (g *Guard) attribute(ctx context.Context, st *state, body []byte, tok string) string {
	if st.where == rest {
		if v, ok := decodeAnswer(body); ok {
			for _, m := range findTokens(v, nil) {
				if m.token == tok && m.user != "" {
					return m.user
				}
			}
		}
	}
	return g.whoami(ctx, st.req, tok)
}

// phoneHolder is the REST object holding tok under "sessionToken" (the
// user record of a login answer), for the phone field; nil for GraphQL.
func phoneHolder(body []byte, tok string) map[string]any {
	v, ok := decodeAnswer(body)
	if !ok {
		return nil
	}
	for _, m := range findTokens(v, nil) {
		if m.token == tok {
			return m.obj
		}
	}
	return nil
}

func errorBody(code int, msg, reason string) []byte {
	b, _ := json.Marshal(map[string]any{"code": code, "error": msg, "reason": reason})
	return b
}

func rewrite(resp *http.Response, status int, body []byte) {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Cache-Control": {"no-store"}}
	keepCORS(resp.Header, h)
	forward.Reply{Status: status, Header: h, Body: body}.Replace(resp)
}

// keepCORS copies Parse's CORS headers onto an answer the gateway makes in
// place of Parse's, so a web app on another origin can read it.
func keepCORS(from, to http.Header) {
	for k, v := range from {
		if strings.HasPrefix(k, "Access-Control-") {
			to[k] = v
		}
	}
}

// parseMFAMissing is Parse's answer to a login without the code its mfa
// adapter wants; mfaImportMessage replaces it.
const (
	parseMFAMissing  = "Missing additional authData mfa"
	mfaImportMessage = "This account still uses the app's previous two-factor sign-in. An administrator has to move it to the new sign-in (vestibule parse import-mfa); then sign in again with the same authenticator app."
)

var (
	errEncodedAnswer = errors.New("answer compressed: can't be checked for session tokens")
	errTooLarge      = errors.New("answer too large to check for session tokens")
	errUnattributed  = errors.New("login answer names no user")
)

// errorHandler answers upstream and interception failures, Parse-shaped.
func (g *Guard) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	status := forward.FailureStatus(r, err)
	msg := "The app is not answering. Please try again in a moment."
	switch status {
	case 0:
		return // the client went away
	case http.StatusServiceUnavailable:
		msg = "Sign-in is temporarily unavailable. Please try again in a moment."
	}
	g.log.WarnContext(r.Context(), "upstream request failed", "event", "upstream_error", "status", status,
		"method", r.Method, "path", r.URL.Path, "remote_ip", g.opt.ClientIP.ClientIP(r), "err", err)
	g.fail(w, r, status, 1, msg, "")
}
