package account

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/vestibule-gw/vestibule/config/defaults"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/templates"
)

// Options configure the security page.
type Options struct {
	// Prefix is the gate prefix ("/.vestibule/"); the page is Prefix+"account". Required.
	Prefix string
	// AppName is shown on the page and is the new authenticator's issuer.
	AppName string
	// Origin is the gateway's public origin; form posts from another are
	// refused ("": not checked).
	Origin string
	// LoginURL is where a visitor without a session signs in ("": /).
	LoginURL string
	// Secure marks the pending-change cookie Secure.
	Secure bool
	// Keys are the gate keys (first current): the form tokens and the
	// pending-change cookie are made with keys derived from them. Required.
	Keys [][]byte

	Claims   ClaimsFunc // Required.
	Store    Store      // Required.
	Sessions Sessions   // Required.
	Counters Counters   // Required.
	Cookies  Issuer     // Required.
	Sealer   Sealer     // Required.
	// Notifier is told of every change (nil: nobody).
	Notifier Notifier
	// Texter sends the code that confirms a new phone number (nil: the
	// phone can't be changed here, only removed).
	Texter Texter
	// Passkeys registers new passkeys (nil: passkeys can be renamed and
	// removed here, not added). Refused reports whether a Finish error is
	// the browser's (a wrong attempt) rather than the gateway's.
	Passkeys Registrar
	Refused  func(error) bool

	// ReauthMaxAge is how old the session's second factor may be for a
	// change; older, the change goes through the step-up page first.
	// Required (config: account.reauth_max_age).
	ReauthMaxAge time.Duration
	// SessionMaxAge is the gate session's lifetime: how long a "sign out
	// everywhere else" revocation must last. Required.
	SessionMaxAge time.Duration
	// TOTP parameters (zero: factor.DefaultTOTP()); TOTPForbidden hides
	// the authenticator app (factors.totp: forbidden).
	TOTP          factor.TOTP
	TOTPForbidden bool
	// DefaultRegion reads national phone numbers; CodeTTL and
	// CodeAttempts bound a phone confirmation code (0: 5 minutes, 5).
	DefaultRegion string
	CodeTTL       time.Duration
	CodeAttempts  int
	// RecoveryCodes is how many new recovery codes are made (0: 10).
	RecoveryCodes int
	// AllowNoFactor lets a user remove their last factor (a policy where a
	// second factor is optional). Off: the last one stays.
	AllowNoFactor bool
	// DeviceMaxAge is how long a remembered device skips the second factor
	// (remember_device.max_age); older ones are not listed (0: no limit).
	DeviceMaxAge time.Duration
	// SignInsShown bounds the recent sign-ins listed (0: store.SignInsKept).
	SignInsShown int

	// Templates are the page files (layout.html, account*.html). Required.
	Templates fs.FS

	Now      func() time.Time             // nil: time.Now
	Random   io.Reader                    // nil: crypto/rand
	Logger   *slog.Logger                 // nil: slog.Default()
	ClientIP func(r *http.Request) string // nil: the peer address
}

// Handler serves the security page and its forms.
type Handler struct {
	opt     Options
	mux     *http.ServeMux
	pages   map[string]*template.Template
	log     *slog.Logger
	formKey []byte
	pending []securecookie.Codec
	brand   atomic.Pointer[brand]
}

type brand struct{ accent, logo bool }

// SetBrand says whether the pages link the brand stylesheet and logo the
// gate pages serve (config reload included).
func (h *Handler) SetBrand(accent, logo bool) { h.brand.Store(&brand{accent, logo}) }

// pendingCookie is the name of the cookie that carries a change waiting for
// its confirmation code (a new authenticator secret, a new number).
const pendingCookie = "vestibule_account"

// New checks o and returns the handler.
func New(o Options) (*Handler, error) {
	switch {
	case o.Prefix == "" || o.Prefix[len(o.Prefix)-1] != '/':
		return nil, fmt.Errorf("account: prefix %q must end with /", o.Prefix)
	case len(o.Keys) == 0:
		return nil, errors.New("account: no keys")
	case o.Claims == nil || o.Store == nil || o.Sessions == nil || o.Counters == nil || o.Cookies == nil || o.Sealer == nil:
		return nil, errors.New("account: claims, store, sessions, counters, cookie issuer and sealer are required")
	case o.ReauthMaxAge <= 0:
		return nil, fmt.Errorf("account: reauth max age must be positive, got %s", o.ReauthMaxAge)
	case o.SessionMaxAge <= 0:
		return nil, fmt.Errorf("account: session max age must be positive, got %s", o.SessionMaxAge)
	case o.Passkeys != nil && o.Refused == nil:
		return nil, errors.New("account: passkeys without a way to tell refusals")
	case o.Templates == nil:
		return nil, errors.New("account: no templates")
	}
	if o.TOTP.Digits == 0 {
		o.TOTP = factor.DefaultTOTP()
	}
	if o.CodeTTL <= 0 {
		o.CodeTTL = defaults.SMSCodeTTL
	}
	if o.CodeAttempts <= 0 {
		o.CodeAttempts = defaults.SMSMaxAttempts
	}
	if o.RecoveryCodes <= 0 {
		o.RecoveryCodes = defaults.RecoveryCodes
	}
	if o.SignInsShown <= 0 {
		o.SignInsShown = store.SignInsKept
	}
	if o.LoginURL == "" {
		o.LoginURL = "/"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Random == nil {
		o.Random = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ClientIP == nil {
		o.ClientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	h := &Handler{opt: o, log: o.Logger, pages: map[string]*template.Template{}}
	h.SetBrand(false, false)
	for _, name := range []string{"account", "account_totp", "account_phone", "account_codes", "account_passkey"} {
		t, err := template.New("").Funcs(templates.Funcs()).Funcs(funcs).ParseFS(o.Templates, "layout.html", name+".html")
		if err != nil {
			return nil, fmt.Errorf("account: parsing template %s: %w", name, err)
		}
		h.pages[name] = t
	}
	h.formKey, _ = gate.DeriveKeys(o.Keys[0], "account-form")
	for _, k := range o.Keys {
		hk, bk := gate.DeriveKeys(k, "account-pending")
		h.pending = append(h.pending, securecookie.New(hk, bk).MaxAge(int(o.CodeTTL/time.Second)+60))
	}
	h.routes()
	return h, nil
}

// funcs are the page's own template functions.
var funcs = template.FuncMap{
	// date shows a time in UTC, to the minute.
	"date": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
}

// routes declares every page and form of the security page.
func (h *Handler) routes() {
	p := h.opt.Prefix + "account"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p, h.getPage)
	// Changes: each needs a fresh second factor (h.change).
	mux.HandleFunc("POST "+p+"/passkey/rename", h.change(h.postRenamePasskey))
	mux.HandleFunc("POST "+p+"/passkey/remove", h.change(h.postRemovePasskey))
	mux.HandleFunc("POST "+p+"/totp/remove", h.change(h.postRemoveTOTP))
	mux.HandleFunc("POST "+p+"/phone/remove", h.change(h.postRemovePhone))
	mux.HandleFunc("POST "+p+"/recovery-codes", h.change(h.postRecoveryCodes))
	mux.HandleFunc("POST "+p+"/device/revoke", h.change(h.postRevokeDevice))
	mux.HandleFunc("POST "+p+"/sessions/end", h.change(h.postEndSessions))
	// Two-step changes: a form that starts them (a new secret, a code
	// sent), then the code that confirms them.
	mux.HandleFunc("POST "+p+"/totp", h.change(h.postStartTOTP))
	mux.HandleFunc("POST "+p+"/totp/confirm", h.change(h.postConfirmTOTP))
	mux.HandleFunc("POST "+p+"/passkey", h.change(h.postStartPasskey))
	mux.HandleFunc("POST "+p+"/passkey/finish", h.change(h.postFinishPasskey))
	mux.HandleFunc("GET "+p+"/phone", h.getPhone)
	mux.HandleFunc("POST "+p+"/phone", h.change(h.postStartPhone))
	mux.HandleFunc("POST "+p+"/phone/confirm", h.change(h.postConfirmPhone))
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		h.message(w, r, http.StatusNotFound, "Something went wrong", "There is nothing here.")
	})
	h.mux = mux
}

// Path is where the security page is (for links and mounting).
func (h *Handler) Path() string { return h.opt.Prefix + "account" }

// ServeHTTP serves the page and its forms with the gate pages' security
// headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	// script-src: static/passkey.js, the passkey ceremony's only script.
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

// session returns the released session of the request, or answers 401
// with a way to sign in.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (gate.Claims, bool) {
	cl, ok := h.opt.Claims(r)
	if !ok {
		h.render(w, r, http.StatusUnauthorized, "account_codes", pageData{Title: "Sign in first",
			Message: "This page needs a signed-in session.", LoginURL: h.opt.LoginURL})
		return cl, false
	}
	return cl, true
}

// fresh reports whether the session's second factor is recent enough for
// a change.
func (h *Handler) fresh(cl gate.Claims) bool {
	return !cl.Verified.IsZero() && h.opt.Now().Sub(cl.Verified) <= h.opt.ReauthMaxAge
}

// stepUp sends the browser to the step-up page, which returns to next.
// resend tells the user their form was not carried out.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request, next string, resend bool) {
	q := url.Values{"next": {next}}
	if resend {
		q.Set("resend", "1")
	}
	http.Redirect(w, r, h.opt.Prefix+"step-up?"+q.Encode(), http.StatusSeeOther)
}

// change wraps a form that changes something: a released session, the
// form's origin and token, and a fresh second factor (else step-up, and
// the form is not carried out).
func (h *Handler) change(next func(http.ResponseWriter, *http.Request, gate.Claims)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cl, ok := h.opt.Claims(r)
		if !ok {
			h.render(w, r, http.StatusForbidden, "account_codes", pageData{Title: "Sign in first",
				Message: "This page needs a signed-in session.", LoginURL: h.opt.LoginURL})
			return
		}
		if !h.checkForm(w, r, cl) {
			return
		}
		if !h.fresh(cl) {
			h.log.InfoContext(r.Context(), "security page change needs a fresh second factor", "event", "step_up_required",
				"user", cl.User, "path", r.URL.Path, "remote_ip", h.opt.ClientIP(r))
			h.stepUp(w, r, h.Path(), true)
			return
		}
		next(w, r, cl)
	}
}

// formToken is the forms' CSRF token: a MAC of the gate session (its
// binding and issue time), so it needs no server state and dies with the
// session's cookie.
func (h *Handler) formToken(cl gate.Claims) string {
	m := hmac.New(sha256.New, h.formKey)
	m.Write([]byte("account\x00"))
	m.Write(cl.Bind[:])
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(cl.Issued.UnixNano())))
	m.Write([]byte(cl.User))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkForm verifies a form post: same origin, the session's token.
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request, cl gate.Claims) bool {
	if o := r.Header.Get("Origin"); o != "" && h.opt.Origin != "" && o != h.opt.Origin {
		h.log.WarnContext(r.Context(), "form post from another origin refused", "event", "csrf_rejected", "origin", o,
			"user", cl.User, "remote_ip", h.opt.ClientIP(r), "user_agent", r.UserAgent())
		h.message(w, r, http.StatusForbidden, "This form has expired", formExpired)
		return false
	}
	// Room for a passkey's answer (passkey.MaxResponseLen) besides the fields.
	r.Body = http.MaxBytesReader(w, r.Body, 80<<10)
	if err := r.ParseForm(); err != nil {
		h.message(w, r, http.StatusBadRequest, "Something went wrong", "The request could not be understood.")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(h.formToken(cl))) != 1 {
		h.log.WarnContext(r.Context(), "form post with a bad CSRF token refused", "event", "csrf_rejected",
			"user", cl.User, "remote_ip", h.opt.ClientIP(r), "user_agent", r.UserAgent())
		h.message(w, r, http.StatusForbidden, "This form has expired", formExpired)
		return false
	}
	return true
}

const formExpired = "This form has expired or was not sent from this site. Go back, reload the page and try again."

// done returns to the page with a note of what changed (a 303: a reload
// does not post again).
func (h *Handler) done(w http.ResponseWriter, r *http.Request, note string) {
	http.Redirect(w, r, h.Path()+"?done="+url.QueryEscape(note), http.StatusSeeOther)
}

// storeFailed logs a store failure and answers 503.
func (h *Handler) storeFailed(w http.ResponseWriter, r *http.Request, doing string, err error) {
	h.log.ErrorContext(r.Context(), "store failure", "event", "store_error", "doing", doing, "remote_ip", h.opt.ClientIP(r), "err", err)
	h.message(w, r, http.StatusServiceUnavailable, "Something went wrong", "Your security settings can't be reached right now. Please try again in a moment.")
}

// token makes a random URL-safe string.
func (h *Handler) token(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(h.opt.Random, b); err != nil {
		return "", fmt.Errorf("making token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
