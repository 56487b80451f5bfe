package cookieguard

import (
	"strings"
	"time"
)

// Facts are what the guard read from a request before deciding: every
// input of Decide that comes from the request (or from the work the
// request asked for, such as reading a login form). Gathering them is
// ServeHTTP's job; Decide only reads them.
type Facts struct {
	Method string
	// Path is the request's decoded path; Canonical says it has nothing
	// an app might resolve differently (see canonical).
	Path      string
	Canonical bool
	// Released: a gate cookie that decodes, is bound to exactly the
	// request's app session and is not revoked. Age is the time since its
	// session last passed a second factor.
	Released bool
	Age      time.Duration
	// Sessions: the request carries app session cookies (or, with Basic,
	// an Authorization header, which counts as one).
	Sessions bool
	// Upgrade: the request still asks to switch protocols after the
	// Upgrade headers that open nothing were dropped.
	Upgrade bool
	// LoginRoute and LogoutRoute: the canonical path, method (and, for a
	// logout, query) match a configured route.
	LoginRoute  bool
	LogoutRoute bool
	// On a login route: the login request as read (LoginTooLarge, or
	// LoginErr: the body could not be read, or LoginRefused: why the form
	// is ambiguous, naming the user in ways an app might read
	// differently), and the user it names.
	LoginTooLarge bool
	LoginErr      error
	LoginRefused  string
	LoginUser     string
	// Authorization: the request carries an Authorization header. Basic:
	// the one Authorization value counted as the app session (Basic mode),
	// with the user it names (BasicErr: not one an app reads the same way).
	Authorization bool
	Basic         bool
	BasicUser     string
	BasicErr      error
	// WantsPage: a browser navigation (GET or HEAD asking for HTML).
	// Pending: it carries a valid pending-challenge cookie (read only when
	// an unreleased request could be sent to its code page).
	WantsPage bool
	Pending   bool
}

// Rules are the configuration Decide applies.
type Rules struct {
	Bypass []PathRule
	StepUp []StepUpRule
	// Basic: HTTP Basic credentials are the first factor.
	Basic bool
	// UserField: login requests name the user in a form field (a login
	// route request that names none is no login attempt).
	UserField bool
	// CredentialParams: the app takes a password in request fields
	// outside a login.
	CredentialParams bool
}

// Action is what ServeHTTP does with a request.
type Action uint8

const (
	// Forward the request to the app, as the rest of the Decision says.
	Forward Action = iota
	// RefusePath: a released session on a path the gateway can't read as
	// the app will (400).
	RefusePath
	// RefuseUpgrade: a protocol upgrade without a released session (403).
	RefuseUpgrade
	// LoginTooLarge, LoginUnreadable, LoginAmbiguous: a login request
	// that can't be read (413, 400, 400).
	LoginTooLarge
	LoginUnreadable
	LoginAmbiguous
	// ToPending: a browser with a pending challenge goes to its code page.
	ToPending
	// ToStepUp: a released session on a step-up path whose second factor
	// is older than the rule allows.
	ToStepUp
)

// Login is the kind of login attempt a request is.
type Login uint8

const (
	NoLogin    Login = iota
	FormLogin        // a request to a login route that names a user
	BasicLogin       // an unbound HTTP Basic Authorization (GET, HEAD)
)

// Cookies is what becomes of the app session cookies of a request that
// carries some without a released session.
type Cookies uint8

const (
	// KeepCookies: released, public (bypass) path, or none sent.
	KeepCookies Cookies = iota
	// StripCookies: the app session cookies are removed.
	StripCookies
	// PreLoginCookies: a login attempt keeps only pre-login cookies with a
	// valid marker; everything else is removed.
	PreLoginCookies
)

// Authorization is why an Authorization header is removed.
type Authorization uint8

const (
	KeepAuthorization Authorization = iota
	// UnboundAuthorization: not bound to a released session.
	UnboundAuthorization
	// AppAuthorization: the app's credentials pass only as released
	// sessions (not Basic mode).
	AppAuthorization
)

// Decision is the guard's verdict on one request.
type Decision struct {
	Action Action
	// The rest applies to requests that get as far as the cookie check
	// (Forward, ToPending from there, ToStepUp).
	Login         Login
	Logout        bool
	Authorization Authorization
	// StripCredentials: take credential parameters out of the request;
	// CredentialLogin: it is a form login attempt (only its cookies are
	// cleaned, the form reaches the app).
	StripCredentials bool
	CredentialLogin  bool
	Cookies          Cookies
	// Released: forward as the released session's user (user header,
	// claims for the answer).
	Released bool
	// User is the login attempt's user.
	User string
	// Reason says why a login request is ambiguous (LoginAmbiguous).
	Reason string
}

// Decide is the guard's decision on a request: a pure function of what
// was read from it and of the rules. The checks run in this order; the
// first that refuses or redirects ends the request.
func Decide(f *Facts, rules *Rules) Decision {
	var d Decision
	// A released session reaches only paths the gateway reads as the app
	// will: a path it can't canonicalise might resolve to a protected one.
	if f.Released && !f.Canonical {
		return Decision{Action: RefusePath}
	}
	public := f.Canonical && bypass(rules.Bypass, f.Path, f.Method)
	// A protocol upgrade (WebSocket) is a long-lived channel to the app:
	// it needs a released session, unless its path is public.
	if !f.Released && f.Upgrade && !public {
		return Decision{Action: RefuseUpgrade}
	}
	// A login route request names the user, exactly once, and reaches
	// the app in a canonical form. One that names no user is no login
	// attempt (an app that posts every form to one path), unless the user
	// comes only from the app's answer.
	if f.LoginRoute {
		switch {
		case f.LoginTooLarge:
			return Decision{Action: LoginTooLarge}
		case f.LoginErr != nil:
			return Decision{Action: LoginUnreadable}
		case f.LoginRefused != "":
			return Decision{Action: LoginAmbiguous, Reason: f.LoginRefused}
		}
		if f.LoginUser != "" || !rules.UserField {
			d.Login, d.User = FormLogin, f.LoginUser
		}
	}
	// Basic mode: an Authorization not bound to a gate session is a login
	// attempt, for GET and HEAD only (a login does not also act).
	if rules.Basic && f.Basic && !f.Released && d.Login == NoLogin {
		switch {
		case f.WantsPage && f.Pending:
			return Decision{Action: ToPending}
		case (f.Method == "GET" || f.Method == "HEAD") && !f.Pending:
			if f.BasicErr != nil {
				return Decision{Action: LoginAmbiguous, Reason: f.BasicErr.Error()}
			}
			d.Login, d.User = BasicLogin, f.BasicUser
		}
	}
	switch {
	case f.Authorization && !f.Released && d.Login != BasicLogin:
		d.Authorization = UnboundAuthorization
	case f.Authorization && !rules.Basic:
		d.Authorization = AppAuthorization
	}
	// Credential parameters reach the app only in a login attempt.
	if rules.CredentialParams {
		d.StripCredentials, d.CredentialLogin = true, d.Login == FormLogin
	}
	sessions := f.Sessions
	if sessions && !f.Released {
		switch {
		case d.Login != NoLogin:
			// A login attempt carries only pre-login cookies the gateway
			// saw the app issue to this browser; anything else, such as
			// a stolen session, is stripped.
			d.Cookies = PreLoginCookies
		case public:
		case f.WantsPage && f.Pending:
			d.Action = ToPending
			return d
		default:
			d.Cookies, sessions = StripCookies, false
		}
	}
	if f.Released {
		if len(rules.StepUp) > 0 {
			if maxAge, ok := stepUpAge(rules.StepUp, f.Path, f.Method); ok && f.Age > maxAge {
				d.Action = ToStepUp
				return d
			}
		}
		d.Released = true
	}
	// A logout's answer is watched when the request still carries a
	// session for it to end (a login attempt's answer is watched anyway).
	d.Logout = f.LogoutRoute && sessions
	return d
}

// stepUpAge finds the step-up rule of a path. Rules that ask for more fail
// closed: they also match the path with case folded and repeated slashes
// collapsed, the variants an app may resolve to the same page.
func stepUpAge(rules []StepUpRule, path, method string) (time.Duration, bool) {
	if len(rules) == 0 {
		return 0, false
	}
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

// foldPath lower-cases a path and collapses repeated slashes; a path
// already folded (the usual case, rules' paths included) is returned as
// it is, without allocating.
func foldPath(p string) string {
	if isFolded(p) {
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

// isFolded reports whether foldPath would return p unchanged.
func isFolded(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; 'A' <= c && c <= 'Z' || c == '/' && i > 0 && p[i-1] == '/' {
			return false
		}
	}
	return true
}
