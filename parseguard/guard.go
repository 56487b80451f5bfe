package parseguard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/clientip"
	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/store"
)

// TokenKey is the Held.Session key of a held Parse login's session token;
// the app keys of the login request are kept beside it under their header
// names, for the gateway's own calls (logging out an abandoned login).
const TokenKey = "sessionToken"

// UsernameKey is the Held.Session key of a held Parse login's username
// (for the pages), when Parse gave one.
const UsernameKey = "vestibule:username"

// Challenger starts the second factor for a held Parse login (the challenge
// package implements it).
type Challenger interface {
	// BeginParse answers a held Parse login: a Parse-shaped JSON
	// challenge; or, when the login carried a code the mfa-adapter way
	// (mfa.Sent) and it passes, the released answer itself.
	BeginParse(r *http.Request, h *store.Held, mfa MFA) (forward.Reply, error)
}

// MFA is what a login sent in authData.mfa (Parse's mfa adapter protocol).
type MFA struct {
	Sent  bool
	Token string // a code, or "request" to ask for a text message
}

// Options configures a Guard.
type Options struct {
	Upstream     *url.URL // Required.
	Transport    http.RoundTripper
	PreserveHost bool
	// Mount is Parse Server's mount path ("/parse"); GraphQL its GraphQL
	// path ("": none). Matched the way Parse routes: case insensitive,
	// repeated and trailing slashes ignored.
	Mount   string
	GraphQL string
	// Challenger starts second factors. Required.
	Challenger Challenger
	// Held keeps held logins. Required.
	Held Holder
	// Tokens is the registry of released session tokens. Required.
	Tokens *held.Registry
	// ClientIP resolves client addresses (nil: the peer).
	ClientIP *clientip.Resolver
	// MasterKeyFrom lists the client networks that may send a master or
	// maintenance key (none: refused from everyone).
	MasterKeyFrom []netip.Prefix
	// AllowLoginAs lets master-key /loginAs through (from MasterKeyFrom);
	// its token is released at once. AllowVerifyPassword lets
	// /verifyPassword through (a password check that mints no session).
	AllowLoginAs, AllowVerifyPassword bool
	// SignupGrace releases a new user's token at once (with the header
	// X-Vestibule-Enrollment: required) instead of holding it until the
	// user enrolls a second factor.
	SignupGrace bool
	// AnonymousPass releases at once a login made with anonymous authData
	// alone, of a user whose only authData is anonymous (parse.anonymous:
	// pass); otherwise such logins are held like any other.
	AnonymousPass bool
	// PhoneField names the user field of the login answer holding the
	// phone number for text-message codes ("": none).
	PhoneField string
	// MaxBody bounds request bodies read (0: 20 MiB, Parse's default).
	MaxBody int64
	// Regulator refuses logins from a banned client address.
	Regulator Regulator
	Now       func() time.Time
	Logger    *slog.Logger
	// Status, if set, is told the status of every answer (metrics).
	Status func(code int)
}

// Regulator says whether a client address is banned (the regulate package
// implements it; its error has BannedUntil when the address is banned).
type Regulator interface {
	Banned(ctx context.Context, user, ip string) error
}

// Holder keeps held logins (package held's Logins implements it).
type Holder interface {
	// Hold stores a new held login, giving it its id and expiry.
	Hold(ctx context.Context, h *store.Held) error
	// Cancel takes back a held login whose challenge could not begin.
	Cancel(ctx context.Context, id string) (*store.Held, error)
}

// Guard is the Parse Server guard: only session tokens the gateway released
// after a second factor reach the app; answers that mint a token are held.
type Guard struct {
	opt    Options
	rp     *httputil.ReverseProxy
	mount  string
	gql    string
	log    *slog.Logger
	ending sync.WaitGroup // sessions being ended at Parse
}

// maxAnswer bounds the answers the guard reads to find tokens.
const maxAnswer = 8 << 20

// New checks opts and returns a Guard.
func New(opts Options) (*Guard, error) {
	switch {
	case opts.Upstream == nil:
		return nil, errors.New("parseguard: no upstream")
	case opts.Challenger == nil || opts.Held == nil || opts.Tokens == nil:
		return nil, errors.New("parseguard: no challenger, held logins or token registry")
	case !strings.HasPrefix(opts.Mount, "/") || key(opts.Mount) == "/":
		return nil, fmt.Errorf("parseguard: mount %q must be a path below /", opts.Mount)
	case opts.GraphQL != "" && !strings.HasPrefix(opts.GraphQL, "/"):
		return nil, fmt.Errorf("parseguard: graphql path %q must start with /", opts.GraphQL)
	}
	if opts.Transport == nil {
		opts.Transport = forward.NewTransport(forward.TransportOptions{})
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 20 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	g := &Guard{opt: opts, mount: key(opts.Mount), log: opts.Logger}
	if opts.GraphQL != "" {
		g.gql = key(opts.GraphQL)
	}
	g.rp = forward.New(opts.Upstream, opts.Transport, opts.ClientIP, opts.PreserveHost)
	g.rp.ModifyResponse = g.modifyResponse
	g.rp.ErrorHandler = g.errorHandler
	g.rp.ErrorLog = slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)
	return g, nil
}

// state travels with a guarded request to its answer.
// It is also the request's context (the one it came with, plus itself
// under stateKey): one allocation fewer per request.
type state struct {
	context.Context
	requestID string    // answered for audit.RequestIDKey
	hdrs      [2]string // the X-Request-Id and X-Vestibule-User values
	g         *Guard
	kind      kind
	where     where
	route     string
	req       *request
	reqv      request // what req points to
	token     string  // the caller's released token
	user      string  // its user
	deleted   string  // the token of the session a DELETE /sessions/:id ends
	remoteIP  string
	userAgent string
	orig      *http.Request
	filter    tokenFilter // streams the answer (kept here: no allocation of its own)
}

type stateKey struct{}

// Value implements context.Context.
func (st *state) Value(k any) any {
	if _, ok := k.(stateKey); ok {
		return st
	}
	if k == audit.RequestIDKey {
		return st.requestID
	}
	return st.Context.Value(k)
}

// Owns reports whether the guard answers a request to path: one under the
// mount or the GraphQL path, or one whose dot segments it refuses. Every
// other path goes to the app through Screen.
func (g *Guard) Owns(path string) bool {
	k := clean(path)
	if dotted(k) {
		return true
	}
	at, _ := g.locate(k)
	return at != elsewhere
}

// Screen guards the requests outside the mount and the GraphQL path on
// their way to next (the cookie guard): they reach the same upstream, so
// a master key header is refused from outside master_key_from, and a Parse
// token header must be released.
func (g *Guard) Screen(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Header.Get("X-Parse-Master-Key") != "" || r.Header.Get("X-Parse-Maintenance-Key") != "") && !g.masterAllowed(g.opt.ClientIP.ClientIP(r)) {
			g.log.WarnContext(r.Context(), "master key from a client outside parse.master_key_from refused", "event", "master_key_refused",
				"path", r.URL.Path, "remote_ip", g.opt.ClientIP.ClientIP(r))
			g.fail(w, r, http.StatusForbidden, 119, "The master key is not accepted from this address.", "")
			return
		}
		if tok := r.Header.Get("X-Parse-Session-Token"); tok != "" {
			if _, ok := g.checkToken(w, r, tok); !ok {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP guards one request to a path the guard Owns.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := clean(r.URL.Path)
	if dotted(k) {
		g.fail(w, r, http.StatusBadRequest, 107, "Invalid path.", "bad_path")
		return
	}
	at, route := g.locate(k)
	if at == elsewhere {
		// Not the guard's: the router sends these through Screen.
		g.fail(w, r, http.StatusNotFound, 119, "Not a Parse path.", "")
		return
	}
	if r.Header.Get("Upgrade") != "" {
		// A WebSocket (LiveQuery) carries its token inside messages the
		// gateway doesn't read: not through the guarded paths.
		g.log.InfoContext(r.Context(), "protocol upgrade on a Parse path refused", "event", "upgrade_refused", "path", r.URL.Path)
		g.fail(w, r, http.StatusForbidden, 119, "WebSockets are not available on this path through the gateway.", "")
		return
	}
	delete(r.Header, forward.UserHeader)
	// The request id reaches Parse and every log line of this request.
	st := &state{Context: r.Context(), g: g, where: at, route: route}
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
	ctx := context.Context(st)
	r = r.WithContext(ctx)
	ip := g.opt.ClientIP.ClientIP(r)

	q := &st.reqv
	if err := readRequestInto(q, r, g.opt.MaxBody); err != nil {
		switch {
		case errors.Is(err, errBodyTooLarge):
			g.fail(w, r, http.StatusRequestEntityTooLarge, 130, "Request body too large.", "body_too_large")
		case errors.Is(err, errEncoding):
			g.log.InfoContext(ctx, "Parse request refused", "event", "bad_request", "reason", err.Error(), "remote_ip", ip)
			g.fail(w, r, http.StatusUnsupportedMediaType, 107, "Send the body as plain UTF-8 JSON.", "")
		default:
			g.log.InfoContext(ctx, "Parse request refused", "event", "bad_request", "reason", err.Error(), "remote_ip", ip)
			g.fail(w, r, http.StatusBadRequest, 107, "Invalid JSON.", "")
		}
		return
	}
	if q.master && !g.masterAllowed(ip) {
		g.log.WarnContext(ctx, "master key from a client outside parse.master_key_from refused", "event", "master_key_refused",
			"path", r.URL.Path, "remote_ip", ip)
		g.fail(w, r, http.StatusForbidden, 119, "The master key is not accepted from this address.", "")
		return
	}
	st.req, st.remoteIP, st.userAgent = q, ip, r.UserAgent()
	for _, tok := range [2]string{q.headerToken, q.bodyToken} {
		if tok == "" {
			continue
		}
		user, ok := g.checkToken(w, r, tok)
		if !ok {
			return
		}
		if st.user != "" && st.user != user {
			g.fail(w, r, http.StatusBadRequest, 209, "Invalid session token", "token_mismatch")
			return
		}
		st.token, st.user = tok, user
	}
	if at == graphQL && q.gqlQuery == "" && r.URL.RawQuery != "" {
		q.gqlQuery = r.URL.Query().Get("query") // GraphQL over GET
	}
	switch {
	case at == graphQL:
		st.kind = graphQLKind(q)
	case strings.EqualFold(route, "batch"):
		st.kind = batchKind(q, g.mount)
	default:
		st.kind = classify(route, q.method)
	}
	switch st.kind {
	case refused:
		g.log.WarnContext(ctx, "Parse batch with loginAs or verifyPassword refused", "event", "batch_refused", "remote_ip", ip)
		g.fail(w, r, http.StatusForbidden, 119, "loginAs and verifyPassword can't be used in a batch through this gateway.", "")
		return
	case loginAs:
		if !g.opt.AllowLoginAs || !q.master {
			g.log.WarnContext(ctx, "Parse loginAs refused (parse.allow_login_as)", "event", "login_as_refused", "remote_ip", ip)
			g.fail(w, r, http.StatusForbidden, 119, "loginAs is not available through this gateway.", "")
			return
		}
	case verifyPassword:
		if !g.opt.AllowVerifyPassword {
			g.log.WarnContext(ctx, "Parse verifyPassword refused (parse.allow_verify_password)", "event", "verify_password_refused", "remote_ip", ip)
			g.fail(w, r, http.StatusForbidden, 119, "verifyPassword is not available through this gateway.", "")
			return
		}
	}
	if st.kind == login || st.kind == verifyPassword {
		if g.opt.Regulator != nil {
			if err := g.opt.Regulator.Banned(ctx, "", ip); err != nil {
				var b interface{ BannedUntil() time.Time }
				if !errors.As(err, &b) {
					g.log.ErrorContext(ctx, "reading bans", "event", "store_error", "err", err)
					g.fail(w, r, http.StatusServiceUnavailable, 1, "Sign-in is temporarily unavailable.", "")
					return
				}
				g.log.WarnContext(ctx, "login refused: banned", "event", "login_refused_banned", "remote_ip", ip)
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
	if st.kind == deleteSession && st.token != "" {
		// Learn the token of the session being deleted while the caller
		// may still read it.
		id := route[strings.LastIndexByte(route, '/')+1:]
		st.deleted = g.sessionToken(ctx, q, st.token, id)
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
	if err != nil {
		g.log.ErrorContext(r.Context(), "reading the token registry", "event", "store_error", "err", err)
		g.fail(w, r, http.StatusServiceUnavailable, 1, "Temporarily unavailable. Please try again in a moment.", "")
		return "", false
	}
	if !ok {
		g.log.WarnContext(r.Context(), "session token not released by the gateway refused", "event", "token_refused",
			"path", r.URL.Path, "remote_ip", g.opt.ClientIP.ClientIP(r))
		g.fail(w, r, http.StatusBadRequest, 209, "Invalid session token", "")
		return "", false
	}
	return user, true
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading answer: %w", err)
	}
	if len(body) > maxAnswer {
		g.log.ErrorContext(ctx, "answer too large to check for session tokens", "event", "answer_too_large", "path", resp.Request.URL.Path, "limit", maxAnswer)
		return errTooLarge
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

// hold keeps a login answer and replaces it with the challenge.
func (g *Guard) hold(resp *http.Response, st *state, m minted, body []byte) error {
	ctx := resp.Request.Context()
	session := map[string]string{TokenKey: m.token}
	name, _ := m.obj["username"].(string)
	if name == "" && st.where == graphQL {
		name = g.username(ctx, st.req, m.token)
	}
	if name != "" {
		session[UsernameKey] = name
	}
	if b, err := json.Marshal(st.req.keySets()); err == nil {
		session[appKeysKey] = string(b)
	}
	h := &store.Held{
		Kind: store.KindParse, User: m.user, Session: session,
		Response: store.HeldResponse{Status: resp.StatusCode, Header: held.Header(resp.Header), Body: body},
		RemoteIP: st.remoteIP, UserAgent: st.userAgent,
	}
	if g.opt.PhoneField != "" && m.obj != nil {
		if p, ok := m.obj[g.opt.PhoneField].(string); ok {
			h.Phone = strings.TrimSpace(p)
		}
	}
	return held.HoldAnswer(resp, h, parseKind{st, m.token}, g.opt.Held, g.log)
}

// parseKind is what holding a Parse login adds to held.HoldAnswer.
type parseKind struct {
	st    *state
	token string
}

// Stored indexes the token as held while it is: a minting answer that
// shows it later (removed there) must not end this login at Parse.
func (k parseKind) Stored(ctx context.Context, h *store.Held) {
	if err := k.st.g.opt.Tokens.MarkHeld(ctx, k.token, h.ID, h.Expires); err != nil {
		k.st.g.log.ErrorContext(ctx, "indexing a held token", "event", "store_error", "err", err)
	}
}

func (k parseKind) Begin(h *store.Held) (forward.Reply, error) {
	return k.st.g.opt.Challenger.BeginParse(k.st.orig, h, MFA{Sent: k.st.req.hasMFA, Token: k.st.req.mfa})
}

// Unheld ends at Parse the session nobody will get: one that could not be
// stored, or one whose challenge did not begin, once it is taken back (a
// release that took it first wins).
func (k parseKind) Unheld(ctx context.Context, h *store.Held, reason string) {
	g := k.st.g
	if reason == "challenge_failed" {
		if _, err := g.opt.Held.Cancel(ctx, h.ID); err != nil {
			return
		}
		g.opt.Tokens.UnmarkHeld(ctx, k.token)
	}
	g.endSessions(ctx, k.st.req.keySets(), []string{k.token}, reason)
}

// ReplyHeader keeps Parse's CORS headers.
func (parseKind) ReplyHeader(answer, reply http.Header) { keepCORS(answer, reply) }

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

// call makes one request of the gateway's own to Parse, with the app keys
// of a client request and a session token.
func (g *Guard) call(ctx context.Context, method, route string, keys map[string]string, token string) (map[string]any, int, error) {
	return call(ctx, g.opt.Transport, g.opt.Upstream, g.opt.Mount, method, route, keys, token)
}

// callAs makes one request of the gateway's own to Parse as the client
// q named its app, trying each way it did (keySets) while Parse answers
// 403 (an app id it doesn't know).
func (g *Guard) callAs(ctx context.Context, method, route string, q *request, token string) (map[string]any, int, error) {
	sets := q.keySets()
	if len(sets) == 0 {
		sets = []map[string]string{{}}
	}
	var (
		m      map[string]any
		status int
		err    error
	)
	for _, keys := range sets {
		m, status, err = g.call(ctx, method, route, keys, token)
		if status != http.StatusForbidden {
			break
		}
	}
	return m, status, err
}

// call makes one request to Parse at upstream (Parse mounted at mount).
func call(ctx context.Context, transport http.RoundTripper, upstream *url.URL, mount, method, route string, keys map[string]string, token string) (map[string]any, int, error) {
	u := *upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + strings.TrimSuffix(mount, "/") + "/" + route
	u.RawPath = ""
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range keys {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Parse-Session-Token", token)
	resp, err := transport.RoundTrip(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return nil, resp.StatusCode, err
	}
	return m, resp.StatusCode, nil
}

// whoami asks Parse whose token this is (a GraphQL login that did not ask
// for the user's id).
func (g *Guard) whoami(ctx context.Context, q *request, token string) string {
	m, status, err := g.callAs(ctx, http.MethodGet, "users/me", q, token)
	if err != nil || status != http.StatusOK {
		return ""
	}
	id, _ := m["objectId"].(string)
	return id
}

// username asks Parse for the token's username (a GraphQL login's answer
// is shaped by the client).
func (g *Guard) username(ctx context.Context, q *request, token string) string {
	m, status, err := g.callAs(ctx, http.MethodGet, "users/me", q, token)
	if err != nil || status != http.StatusOK {
		return ""
	}
	n, _ := m["username"].(string)
	return n
}

// sessionToken reads the token of session id as the caller sees it.
func (g *Guard) sessionToken(ctx context.Context, q *request, caller, id string) string {
	if id == "" || strings.ContainsAny(id, "/?#%") {
		return ""
	}
	m, status, err := g.callAs(ctx, http.MethodGet, "sessions/"+url.PathEscape(id), q, caller)
	if err != nil || status != http.StatusOK {
		return ""
	}
	t, _ := m["sessionToken"].(string)
	return t
}
