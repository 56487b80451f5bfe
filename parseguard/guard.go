package parseguard

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/vestibule-gw/vestibule/config/defaults"
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
	// MaxBody bounds request bodies read (0: defaults.ParseMaxBody).
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
	rules  rules
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
		opts.MaxBody = defaults.ParseMaxBody
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	g := &Guard{opt: opts, mount: key(opts.Mount), log: opts.Logger,
		rules: rules{allowLoginAs: opts.AllowLoginAs, allowVerifyPassword: opts.AllowVerifyPassword}}
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
	tokenErr  error       // why the registry could not say (logged)
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
