package challenge

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/vestibule-gw/vestibule/clientip"
	"github.com/vestibule-gw/vestibule/config/defaults"
	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/enroll"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/templates"
)

// Sealer encrypts TOTP secrets at rest (seal.Sealer implements it).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Options configures the gate pages.
type Options struct {
	// Prefix is the reserved path prefix ("/.vestibule/"). Required.
	Prefix string
	// AppName is shown on every page and is the TOTP issuer.
	AppName string
	// LoginURL is where a user starts again (the app's login page).
	LoginURL string
	// Origin is the gateway's public origin ("https://app.example.com");
	// form posts with another Origin header are refused. "": not checked.
	Origin string
	// Secure marks cookies Secure (the public URL is https).
	Secure bool

	Durable   store.Durable   // Required.
	Ephemeral store.Ephemeral // Required.
	Sealer    Sealer          // Required.
	Cookies   *gate.Issuer    // Required: issues the gate cookie on release.
	// PendingKeys sign and encrypt the pending-challenge cookie (first
	// encodes, all decode). Required.
	PendingKeys [][]byte
	// PendingCookie is that cookie's name (""): "vestibule_pending").
	PendingCookie string

	// TOTP parameters (zero: factor.DefaultTOTP()).
	TOTP factor.TOTP
	// MaxAttempts is the number of code attempts per held login (0:
	// defaults.MaxAttempts).
	MaxAttempts int
	// HoldTTL is the lifetime of a held login, and so of the pending cookie
	// (0: defaults.HoldTTL).
	HoldTTL time.Duration
	// RecoveryCodes is how many recovery codes enrollment issues (0: 10).
	RecoveryCodes int

	// Templates and Static are the embedded page files. Required.
	Templates fs.FS
	Static    fs.FS

	Now    func() time.Time // nil: time.Now
	Random io.Reader        // nil: crypto/rand
	Logger *slog.Logger     // nil: slog.Default()

	// ClientIP resolves client addresses (nil: the connection's peer).
	ClientIP *clientip.Resolver
	// Regulator limits failed attempts per user and client IP across held
	// logins (nil: only the per-login MaxAttempts).
	Regulator *regulate.Regulator
	// OnAbandon, if set, is told of a held login given up before release
	// (attempts exhausted, banned), e.g. to log it out at the app.
	OnAbandon func(ctx context.Context, h *store.Held, reason string)
	// Device, if set, enables "remember this device": it encodes the device
	// cookie, which lets a browser skip the code for DeviceMaxAge (0:
	// defaults.DeviceMaxAge).
	Device       *gate.Codec
	DeviceMaxAge time.Duration
	// SMS, if set, enables text-message codes.
	SMS *SMSOptions
	// Brand adds an accent colour and a logo to the pages.
	Brand Brand
	// TOTPForbidden keeps authenticator apps out (text messages only).
	TOTPForbidden bool
	// Logins takes held logins for release (nil: package held's Logins
	// over Ephemeral).
	Logins Taker
	// ParseTokens registers the session token of a released Parse login
	// (Parse Server mode).
	ParseTokens TokenRegistry
	// Enrollment decides who may create a first enrollment, and reads
	// invitations (nil: open, trust on first use). See enrollment.go.
	Enrollment *enroll.Policy
	// Notifier is told of every enrollment (nil: nobody).
	Notifier *notify.Notifier
	// Passkeys, if set, offers passkeys and security keys (WebAuthn) as a
	// second factor: on the code page first for a user who has one, as a
	// choice at enrollment, and on the step-up page (passkey.go).
	Passkeys PasskeyRP
}

// Brand is the app's look on the gate pages.
type Brand struct {
	// Accent is a CSS colour (#1a73e8) for buttons and links.
	Accent string
	// Logo is an image file's bytes, served from the gate prefix; LogoType
	// is its media type.
	Logo     []byte
	LogoType string
}

// Handler serves the gate pages under the prefix and starts challenges for
// the proxy.
type Handler struct {
	opt     Options
	mux     *http.ServeMux
	pages   map[string]*template.Template
	pending *sessions.CookieStore
	log     *slog.Logger
	// stepUpKey makes the step-up form's CSRF token from the gate session.
	stepUpKey []byte
	// brand is the pages' look; SetBrand swaps it (config reload).
	brand atomic.Pointer[Brand]
	// checker decides every submitted code (check.go), with these
	// methods (methods.go; sms is nil without text messages).
	checker             *Checker
	totp, recovery, sms Method
	enrollTOTP          Method
	// passkeys registers passkeys (nil: passkeys are off).
	passkeys *Registration
}

// SetBrand changes the pages' accent colour and logo while serving.
func (h *Handler) SetBrand(b Brand) { h.brand.Store(&b) }

var _ cookieguard.Challenger = (*Handler)(nil)

// New checks opts, parses the templates and returns a Handler.
func New(opts Options) (*Handler, error) {
	switch {
	case opts.Prefix == "":
		return nil, errors.New("challenge: no prefix")
	case opts.Durable == nil || opts.Ephemeral == nil:
		return nil, errors.New("challenge: no store")
	case opts.Sealer == nil:
		return nil, errors.New("challenge: no sealer")
	case opts.Cookies == nil:
		return nil, errors.New("challenge: no gate cookie issuer")
	case len(opts.PendingKeys) == 0:
		return nil, errors.New("challenge: no pending-cookie keys")
	case opts.Templates == nil || opts.Static == nil:
		return nil, errors.New("challenge: no templates or static files")
	}
	smsOpts, err := withSMSDefaults(opts.SMS)
	if err != nil {
		return nil, err
	}
	opts.SMS = smsOpts
	if opts.PendingCookie == "" {
		opts.PendingCookie = "vestibule_pending"
	}
	if opts.TOTP.Digits == 0 {
		opts.TOTP = factor.DefaultTOTP()
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = defaults.MaxAttempts
	}
	if opts.HoldTTL <= 0 {
		opts.HoldTTL = defaults.HoldTTL
	}
	if opts.RecoveryCodes <= 0 {
		opts.RecoveryCodes = defaults.RecoveryCodes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Random == nil {
		opts.Random = rand.Reader
	}
	if opts.LoginURL == "" {
		opts.LoginURL = "/"
	}
	if opts.Logins == nil {
		opts.Logins = &held.Logins{Store: opts.Ephemeral, Now: opts.Now, Logger: opts.Logger}
	}
	h := &Handler{opt: opts, log: opts.Logger, pages: map[string]*template.Template{}}
	h.SetBrand(opts.Brand)
	if h.log == nil {
		h.log = slog.Default()
	}
	h.checker = &Checker{Store: opts.Ephemeral, Regulator: opts.Regulator, MaxAttempts: opts.MaxAttempts,
		BudgetWindow: opts.HoldTTL, Now: opts.Now, Log: h.log, OnAbandon: opts.OnAbandon}
	h.totp = totpMethod{store: opts.Durable, sealer: opts.Sealer, totp: opts.TOTP, now: opts.Now}
	h.recovery = recoveryMethod{store: opts.Durable, now: opts.Now}
	h.enrollTOTP = enrollTOTPMethod{sealer: opts.Sealer, totp: opts.TOTP, now: opts.Now}
	if opts.SMS != nil {
		h.sms = smsMethod{store: opts.Ephemeral, hash: h.smsHash, maxAttempts: opts.SMS.MaxAttempts, now: opts.Now}
	}
	if opts.Passkeys != nil {
		h.passkeys = &Registration{RP: opts.Passkeys, Store: opts.Durable, Marker: opts.Ephemeral, Now: opts.Now}
	}
	for _, name := range []string{"verify", "recovery", "enroll", "codes", "message", "stepup", "sms", "phone", "enrollment", "passkey"} {
		t, err := template.New("").Funcs(templates.Funcs()).ParseFS(opts.Templates, "layout.html", name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing template %s: %w", name, err)
		}
		h.pages[name] = t
	}
	var pairs [][]byte
	for _, k := range opts.PendingKeys {
		hk, bk := gate.DeriveKeys(k, "pending")
		pairs = append(pairs, hk, bk)
	}
	h.pending = sessions.NewCookieStore(pairs...)
	h.stepUpKey, _ = gate.DeriveKeys(opts.PendingKeys[0], "step-up")
	if opts.Device != nil && opts.DeviceMaxAge <= 0 {
		h.opt.DeviceMaxAge = defaults.DeviceMaxAge
	}
	h.pending.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(opts.HoldTTL / time.Second),
		HttpOnly: true,
		Secure:   opts.Secure,
		SameSite: http.SameSiteLaxMode,
	}
	h.pending.MaxAge(int(opts.HoldTTL / time.Second))

	p := opts.Prefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"verify", h.getVerify)
	mux.HandleFunc("POST "+p+"verify", h.postVerify)
	mux.HandleFunc("GET "+p+"recovery", h.getRecovery)
	mux.HandleFunc("POST "+p+"recovery", h.postRecovery)
	mux.HandleFunc("GET "+p+"enroll", h.getEnroll)
	mux.HandleFunc("POST "+p+"enroll", h.postEnroll)
	mux.HandleFunc("POST "+p+"release", h.postRelease)
	mux.HandleFunc("GET "+p+"sms", h.getSMS)
	mux.HandleFunc("POST "+p+"sms", h.postSMS)
	mux.HandleFunc("POST "+p+"sms/send", h.postSMSSend)
	mux.HandleFunc("GET "+p+"enroll-phone", h.getEnrollPhone)
	mux.HandleFunc("POST "+p+"enroll-phone", h.postEnrollPhone)
	mux.HandleFunc("GET "+p+"step-up", h.getStepUp)
	mux.HandleFunc("POST "+p+"step-up", h.postStepUp)
	mux.HandleFunc("POST "+p+"passkey", h.postPasskey)
	mux.HandleFunc("GET "+p+"enroll-passkey", h.getEnrollPasskey)
	mux.HandleFunc("POST "+p+"enroll-passkey", h.postEnrollPasskey)
	mux.HandleFunc("POST "+p+"step-up/passkey", h.postStepUpPasskey)
	mux.HandleFunc("POST "+p+"step-up/sms", h.postStepUpSMS)
	mux.HandleFunc("GET "+p+"parse", h.getTicketPage)
	mux.HandleFunc("GET "+p+"invite", h.getInvite)
	mux.HandleFunc("POST "+p+"api/verify", h.apiVerify)
	mux.HandleFunc("POST "+p+"api/sms", h.apiSMS)
	mux.HandleFunc("POST "+p+"api/enroll/totp", h.apiEnrollTOTP)
	mux.HandleFunc("POST "+p+"api/enroll/sms", h.apiEnrollSMS)
	mux.HandleFunc("POST "+p+"api/enroll/confirm", h.apiEnrollConfirm)
	mux.HandleFunc("OPTIONS "+p+"api/", h.apiPreflight)
	static, err := fs.Sub(opts.Static, ".")
	if err != nil {
		return nil, err
	}
	mux.Handle("GET "+p+"static/", http.StripPrefix(p+"static/", staticHandler(static)))
	mux.HandleFunc("GET "+p+"brand.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fmt.Fprintf(w, ":root{--accent:%s}\n", h.brand.Load().Accent)
	})
	mux.HandleFunc("GET "+p+"logo", func(w http.ResponseWriter, r *http.Request) {
		b := h.brand.Load()
		if len(b.Logo) == 0 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", b.LogoType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(b.Logo)
	})
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		h.ErrorPage(w, r, http.StatusNotFound)
	})
	h.mux = mux
	return h, nil
}

// pageCSP is the gate pages' Content-Security-Policy: no script, except
// static/passkey.js on a page that runs a passkey ceremony (render).
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP serves the gate pages with their security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin") // "no-referrer" makes Chrome send "Origin: null" on our own form posts
	h.mux.ServeHTTP(w, r)
}

func staticHandler(files fs.FS) http.Handler {
	fsrv := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// pendingState is what the pending-challenge cookie carries.
type pendingState struct {
	Held string
	CSRF string
	// Passkey is the session of the passkey ceremony the last page began
	// (passkey.go); used once.
	Passkey []byte
}

const (
	keyHeld    = "held"
	keyCSRF    = "csrf"
	keyPasskey = "passkey"
)

// Begin implements cookieguard.Challenger: it makes the pending-challenge cookie
// for the held login and answers with a redirect to the code page (or, for
// API clients, a JSON challenge).
func (h *Handler) Begin(r *http.Request, held *store.Held) (forward.Reply, error) {
	if verified, ok := h.rememberedDevice(r, held.User); ok {
		if reply, ok := h.releaseRemembered(r, held, verified); ok {
			return reply, nil
		}
	}
	pc, err := h.pendingCookie(held.ID)
	if err != nil {
		return forward.Reply{}, err
	}
	hd := http.Header{}
	hd.Add("Set-Cookie", pc.String())
	hd.Set("Cache-Control", "no-store")
	next := h.opt.Prefix + "verify"
	if wantsJSON(r) {
		body, _ := json.Marshal(map[string]string{
			"error":      "second_factor_required",
			"message":    "Enter a second factor to finish signing in.",
			"verify_url": next,
		})
		hd.Set("Content-Type", "application/json")
		return forward.Reply{Status: http.StatusUnauthorized, Header: hd, Body: body}, nil
	}
	hd.Set("Location", next)
	return forward.Reply{Status: http.StatusSeeOther, Header: hd}, nil
}

// pendingCookie makes the pending-challenge cookie for a held login, with
// a fresh CSRF token.
func (h *Handler) pendingCookie(heldID string) (*http.Cookie, error) {
	csrf, err := h.token()
	if err != nil {
		return nil, err
	}
	return h.pendingCookieOf(pendingState{Held: heldID, CSRF: csrf})
}

// pendingCookieOf makes the pending-challenge cookie carrying st.
func (h *Handler) pendingCookieOf(st pendingState) (*http.Cookie, error) {
	s := sessions.NewSession(h.pending, h.opt.PendingCookie)
	opts := *h.pending.Options
	s.Options = &opts
	s.Values[keyHeld] = st.Held
	s.Values[keyCSRF] = st.CSRF
	if len(st.Passkey) > 0 {
		s.Values[keyPasskey] = st.Passkey
	}
	encoded, err := securecookie.EncodeMulti(h.opt.PendingCookie, s.Values, h.pending.Codecs...)
	if err != nil {
		return nil, fmt.Errorf("encoding pending cookie: %w", err)
	}
	return sessions.NewCookie(h.opt.PendingCookie, encoded, s.Options), nil
}

// Pending implements cookieguard.Challenger.
func (h *Handler) Pending(r *http.Request) bool {
	_, ok := h.state(r)
	return ok
}

func (h *Handler) state(r *http.Request) (pendingState, bool) {
	s, err := h.pending.New(r, h.opt.PendingCookie)
	if err != nil || s.IsNew {
		return pendingState{}, false
	}
	held, _ := s.Values[keyHeld].(string)
	csrf, _ := s.Values[keyCSRF].(string)
	if held == "" || csrf == "" {
		return pendingState{}, false
	}
	pk, _ := s.Values[keyPasskey].([]byte)
	return pendingState{Held: held, CSRF: csrf, Passkey: pk}, true
}

func (h *Handler) clearPending() *http.Cookie {
	opts := *h.pending.Options
	opts.MaxAge = -1
	return sessions.NewCookie(h.opt.PendingCookie, "", &opts)
}

func (h *Handler) token() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(h.opt.Random, b[:]); err != nil {
		return "", fmt.Errorf("making token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "text/html") {
		return false
	}
	return strings.Contains(accept, "application/json") ||
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

// load returns the pending state and held login of a page request, or
// answers with the "start again" page itself and returns ok=false.
func (h *Handler) load(w http.ResponseWriter, r *http.Request) (pendingState, *store.Held, bool) {
	st, ok := h.state(r)
	if !ok {
		h.restart(w, r, "Your sign-in has expired or was already completed. Please sign in again.")
		return st, nil, false
	}
	held, err := h.opt.Ephemeral.Held(r.Context(), st.Held)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.storeFailed(w, r, "reading held login", err)
			return st, nil, false
		}
		h.restart(w, r, "Your sign-in has expired or was already completed. Please sign in again.")
		return st, nil, false
	}
	return st, held, true
}

// checkForm verifies a form post: same origin, CSRF token.
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request, st pendingState) bool {
	return h.checkToken(w, r, st.CSRF)
}

// checkToken verifies a form post against an expected CSRF token.
func (h *Handler) checkToken(w http.ResponseWriter, r *http.Request, want string) bool {
	if o := r.Header.Get("Origin"); o != "" && h.opt.Origin != "" && o != h.opt.Origin {
		h.log.WarnContext(r.Context(), "form post from another origin refused", "event", "csrf_rejected", "origin", o, "want_origin", h.opt.Origin, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
		h.ErrorPage(w, r, http.StatusForbidden)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest)
		return false
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(want)) != 1 {
		h.log.WarnContext(r.Context(), "form post with a bad CSRF token refused", "event", "csrf_rejected", "remote_ip", h.ip(r), "user_agent", r.UserAgent())
		h.ErrorPage(w, r, http.StatusForbidden)
		return false
	}
	return true
}

type pageData struct {
	AppName  string
	Title    string
	Prefix   string
	CSRF     string
	User     string
	Error    string
	Message  string
	LoginURL string
	QR       template.URL
	Secret   string
	Codes    []string
	// Remember offers "remember this device" on the form.
	Remember bool
	// Method is the step-up page's factor (totp, sms, recovery).
	Method string
	// Next is where the step-up page returns to.
	Next string
	// Text-message pages: the masked number, whether a code was sent, its
	// length, and whether the user can use an authenticator instead.
	Phone  string
	Sent   bool
	Digits int
	TOTP   bool
	// SMS offers text messages as an alternative on the code page.
	SMS bool
	// Number is the phone number the user typed, kept after an error.
	Number string
	// Recovery offers "use a recovery code": the user has unused ones.
	Recovery bool
	// Passkey is the options JSON of a passkey ceremony the page runs
	// through static/passkey.js ("": none, and no script on the page).
	Passkey string
	// PasskeyAction is where the passkey form posts (under the prefix):
	// passkey, enroll-passkey (a registration) or step-up/passkey.
	PasskeyAction string
	// Passkeys offers setting up a passkey instead (a link).
	Passkeys bool
	// Contact is whom a user refused enrollment should ask.
	Contact string
	// Lang is the page's language; Branded and Logo add the configured
	// colours and logo.
	Lang    string
	Branded bool
	Logo    bool
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Lang = templates.Negotiate(r.Header.Get("Accept-Language"))
	d.Title, d.Message, d.Error = templates.T(d.Lang, d.Title), templates.T(d.Lang, d.Message), templates.T(d.Lang, d.Error)
	b := h.brand.Load()
	d.Branded, d.Logo = b.Accent != "", len(b.Logo) > 0
	w.Header().Set("Content-Language", d.Lang)
	d.AppName = h.opt.AppName
	d.Remember = d.Remember || (h.opt.Device != nil && d.CSRF != "")
	d.Prefix = h.opt.Prefix
	if d.Passkey != "" {
		// The one page kind with a script: static/passkey.js, from here.
		w.Header().Set("Content-Security-Policy", pageCSP+"; script-src 'self'")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := h.pages[name].ExecuteTemplate(w, "layout", d); err != nil {
		h.log.Error("rendering page", "page", name, "err", err)
	}
}

// restart shows a message with a way back to the app's login, and clears
// the pending cookie. The sign-in it was about is gone: 410.
func (h *Handler) restart(w http.ResponseWriter, r *http.Request, msg string) {
	h.restartStatus(w, r, http.StatusGone, msg)
}

// restartStatus is restart with the status that says what happened.
func (h *Handler) restartStatus(w http.ResponseWriter, r *http.Request, status int, msg string) {
	http.SetCookie(w, h.clearPending())
	h.render(w, r, status, "message", pageData{Title: "Sign in again", Message: msg, LoginURL: h.opt.LoginURL})
}

func (h *Handler) storeFailed(w http.ResponseWriter, r *http.Request, doing string, err error) {
	h.log.ErrorContext(r.Context(), "store failure", "event", "store_error", "doing", doing, "remote_ip", h.ip(r), "err", err)
	h.ErrorPage(w, r, http.StatusServiceUnavailable)
}

var statusMessages = map[int]string{
	http.StatusBadRequest:            "The request could not be understood. If you were signing in, please use the sign-in form as it is.",
	http.StatusForbidden:             "This form has expired or was not sent from this site. Go back, reload the page and try again.",
	http.StatusNotFound:              "There is nothing here.",
	http.StatusRequestEntityTooLarge: "The request is too large.",
	http.StatusTooManyRequests:       "Too many attempts. Please wait a moment and try again.",
	http.StatusBadGateway:            "The application behind this sign-in is not answering. Please try again in a moment.",
	http.StatusServiceUnavailable:    "Sign-in is temporarily unavailable. Please try again in a moment.",
	http.StatusGatewayTimeout:        "The application took too long to answer. Please try again in a moment.",
}

// ErrorPage renders the gateway's own error answer: an HTML page for
// browsers, Parse-style JSON for API clients. It never shows details.
func (h *Handler) ErrorPage(w http.ResponseWriter, r *http.Request, status int) {
	msg := cookieguard.PageMessage(r)
	if msg == "" {
		msg = statusMessages[status]
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": msg, "status": status})
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.render(w, r, status, "message", pageData{Title: http.StatusText(status), Message: msg})
}

func (h *Handler) ip(r *http.Request) string { return h.opt.ClientIP.ClientIP(r) }

// BannedPage answers a request from a banned user or address: 429 with
// when to try again; the app is not asked.
func (h *Handler) BannedPage(w http.ResponseWriter, r *http.Request, until time.Time) {
	wait := until.Sub(h.opt.Now()).Round(time.Minute)
	if wait < time.Minute {
		wait = time.Minute
	}
	msg := fmt.Sprintf(templates.T(templates.Negotiate(r.Header.Get("Accept-Language")),
		"Too many failed attempts. For your security, signing in is paused until %s (about %d minutes). Please try again then."),
		until.UTC().Format("15:04 UTC"), int(wait.Minutes()))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", fmt.Sprint(int(until.Sub(h.opt.Now()).Seconds())+1))
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		json.NewEncoder(w).Encode(map[string]any{"error": "too_many_attempts", "message": msg, "retry_at": until.UTC().Format(time.RFC3339)})
		return
	}
	h.render(w, r, http.StatusTooManyRequests, "message", pageData{Title: "Too many attempts", Message: msg})
}

// ctxTimeout bounds store work done for one page.
func ctxTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

// CookieNames are the gateway cookies this handler sets (the pending
// challenge, the remembered device): the proxy never sends them to the app.
func (h *Handler) CookieNames() []string {
	names := []string{h.opt.PendingCookie}
	if h.opt.Device != nil {
		names = append(names, h.opt.Device.Name())
	}
	return names
}
