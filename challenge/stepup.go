package challenge

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/store"
)

// formNotSent is shown on the step-up page when a browser posted a form to
// a step-up path after the factor's max age: the gateway did not forward it.
const formNotSent = "Your confirmation has expired. Confirm it's you, then send the form again: what you submitted was not sent."

// Step-up takes whichever factor the user has: the authenticator app, a
// text message to the enrolled number, or a recovery code (the page's
// "use" and the form's "method" say which).
const (
	stepUpTOTP     = "totp"
	stepUpSMS      = "sms"
	stepUpRecovery = "recovery"
)

// stepUpCookie carries the MAC of a text-message code sent for a step-up,
// bound to the gate session (no held login keeps it).
const stepUpCookie = "vestibule_step_up"

type stepUpCode struct {
	Bind    [32]byte
	Nonce   string
	MAC     []byte
	Expires time.Time
}

// stepUpFactors are the step-up methods the user has, in the order the
// page prefers them.
func (h *Handler) stepUpFactors(ctx context.Context, user string) ([]string, store.Enrollment, error) {
	enr, err := h.opt.Durable.Enrollment(ctx, user)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, enr, nil
		}
		return nil, enr, err
	}
	var out []string
	if len(enr.TOTPSecret) > 0 && h.totpOn() {
		out = append(out, stepUpTOTP)
	}
	if enr.Phone != "" && h.smsOn() {
		out = append(out, stepUpSMS)
	}
	if len(enr.RecoveryHashes) > 0 {
		out = append(out, stepUpRecovery)
	}
	return out, enr, nil
}

// stepUpPage renders the step-up page for method use (the user's first
// factor when use is not one of theirs).
func (h *Handler) stepUpPage(w http.ResponseWriter, r *http.Request, status int, cl gate.Claims, use, next, errMsg string) {
	factors, enr, err := h.stepUpFactors(r.Context(), cl.User)
	if err != nil {
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	if len(factors) == 0 {
		h.render(w, r, http.StatusForbidden, "message", pageData{Title: "No second factor",
			Message: "Your account has no authenticator set up any more. Sign out and sign in again to set one up."})
		return
	}
	if !contains(factors, use) {
		use = factors[0]
	}
	d := pageData{Title: "Confirm it's you", CSRF: h.stepUpToken(cl), User: cl.User, Next: next, Error: errMsg, Method: use,
		TOTP: contains(factors, stepUpTOTP), SMS: contains(factors, stepUpSMS), Recovery: contains(factors, stepUpRecovery),
		Phone: phone.Mask(enr.Phone)}
	if use == stepUpSMS {
		_, d.Sent = h.stepUpCode(r, cl)
		d.Digits = h.opt.SMS.CodeLength
	}
	h.render(w, r, status, "stepup", d)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// getStepUp shows the code form for a signed-in user whose last second
// factor is too old for the page they asked for.
func (h *Handler) getStepUp(w http.ResponseWriter, r *http.Request) {
	cl, ok := cookieguard.VerifiedClaims(r)
	if !ok {
		h.render(w, r, http.StatusUnauthorized, "message", pageData{Title: "Sign in first",
			Message: "This page needs a signed-in session.", LoginURL: h.opt.LoginURL})
		return
	}
	var msg string
	if r.URL.Query().Get("resend") == "1" {
		// A form was posted after the factor's max age: it was not
		// forwarded, and the user must know to send it again.
		msg = h.tr(r, formNotSent)
	}
	h.stepUpPage(w, r, http.StatusOK, cl, r.URL.Query().Get("use"), h.safeLocation(r.URL.Query().Get("next")), msg)
}

// postStepUp checks a fresh code of the chosen factor and renews the gate
// cookie's verification time, then returns to the page asked for.
func (h *Handler) postStepUp(w http.ResponseWriter, r *http.Request) {
	cl, next, ok := h.stepUpForm(w, r)
	if !ok {
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	use := r.PostForm.Get("method")
	var m Method = h.totp
	switch use {
	case stepUpRecovery:
		m = h.recovery
	case stepUpSMS:
		if !h.smsOn() {
			h.ErrorPage(w, r, http.StatusNotFound)
			return
		}
		sent, _ := h.stepUpCode(r, cl)
		m = stepUpSMSMethod{want: sent, mac: h.smsHash, claim: func(ctx context.Context) (bool, error) {
			n, err := h.opt.Ephemeral.Hit(ctx, "step-up-sms:"+sent.Nonce, h.opt.Now(), h.opt.SMS.CodeTTL)
			return n == 1, err
		}}
	default:
		use = stepUpTOTP
	}
	// Each gate session gets MaxAttempts step-up codes per hold period,
	// counted before the code is checked, whatever the regulation config:
	// a step-up has no held login whose budget would stop the guessing.
	res := h.checker.Check(ctx, Attempt{User: cl.User, Budget: "step-up:" + hex.EncodeToString(cl.Bind[:]), Method: m,
		Code: r.PostForm.Get("code"), ClientIP: h.ip(r), UserAgent: r.UserAgent()})
	switch res.Kind {
	case Accepted:
		c, err := h.opt.Cookies.Cookie(cl.User, cl.Bind, h.opt.Now())
		if err != nil {
			h.log.ErrorContext(r.Context(), "issuing gate cookie", "err", err)
			h.ErrorPage(w, r, http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, c)
		if use == stepUpSMS {
			http.SetCookie(w, h.stepUpCookie("", -1))
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	case Replayed:
		h.stepUpPage(w, r, http.StatusUnauthorized, cl, use, next, h.tr(r, replayedCode))
	case Wrong:
		h.stepUpPage(w, r, http.StatusUnauthorized, cl, use, next, genericFailure)
	case Exhausted:
		h.render(w, r, http.StatusTooManyRequests, "message", pageData{Title: "Too many attempts",
			Message: "Too many wrong codes. For your security this sign-in was cancelled. Please sign in again."})
	case Banned:
		h.BannedPage(w, r, res.Until)
	case NotEnrolled:
		h.stepUpPage(w, r, http.StatusForbidden, cl, "", next, genericFailure)
	default:
		h.unavailable(w, r, res)
	}
}

// stepUpForm reads a step-up form post: the signed-in session, the form's
// token, where to return. false: answered (403).
func (h *Handler) stepUpForm(w http.ResponseWriter, r *http.Request) (gate.Claims, string, bool) {
	cl, ok := cookieguard.VerifiedClaims(r)
	if !ok {
		h.ErrorPage(w, r, http.StatusForbidden)
		return cl, "", false
	}
	if !h.checkToken(w, r, h.stepUpToken(cl)) {
		return cl, "", false
	}
	return cl, h.safeLocation(r.PostForm.Get("next")), true
}

// postStepUpSMS sends a step-up code to the user's enrolled number, under
// the sign-in codes' checks and limits, and keeps its MAC in a cookie bound
// to the gate session.
func (h *Handler) postStepUpSMS(w http.ResponseWriter, r *http.Request) {
	cl, next, ok := h.stepUpForm(w, r)
	if !ok {
		return
	}
	factors, enr, err := h.stepUpFactors(r.Context(), cl.User)
	if err != nil {
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	if !contains(factors, stepUpSMS) {
		h.ErrorPage(w, r, http.StatusNotFound)
		return
	}
	nonce, err := h.token()
	if err != nil {
		h.ErrorPage(w, r, http.StatusServiceUnavailable)
		return
	}
	var code stepUpCode
	msg, status := h.sendText(r, cl.User, enr.Phone, "step-up", func(_ context.Context, c string, now time.Time) bool {
		code = stepUpCode{Bind: cl.Bind, Nonce: nonce, MAC: h.smsHash("step-up:"+nonce, c, nil), Expires: now.Add(h.opt.SMS.CodeTTL)}
		return true
	})
	if msg != "" {
		h.stepUpPage(w, r, status, cl, stepUpSMS, next, h.tr(r, msg))
		return
	}
	v, err := securecookie.EncodeMulti(stepUpCookie, code, h.pending.Codecs...)
	if err != nil {
		h.ErrorPage(w, r, http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, h.stepUpCookie(v, int(h.opt.SMS.CodeTTL/time.Second)))
	http.Redirect(w, r, h.opt.Prefix+"step-up?"+url.Values{"use": {stepUpSMS}, "next": {next}}.Encode(), http.StatusSeeOther)
}

func (h *Handler) stepUpCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: stepUpCookie, Value: value, Path: h.opt.Prefix, MaxAge: maxAge, HttpOnly: true,
		Secure: h.opt.Secure, SameSite: http.SameSiteStrictMode}
}

// stepUpCode returns the step-up code sent for this gate session, if any
// and unexpired.
func (h *Handler) stepUpCode(r *http.Request, cl gate.Claims) (stepUpCode, bool) {
	c, err := r.Cookie(stepUpCookie)
	if err != nil {
		return stepUpCode{}, false
	}
	var s stepUpCode
	if securecookie.DecodeMulti(stepUpCookie, c.Value, &s, h.pending.Codecs...) != nil || s.Bind != cl.Bind || !h.opt.Now().Before(s.Expires) {
		return stepUpCode{}, false
	}
	return s, true
}

// stepUpSMSMethod checks a step-up text-message code against the MAC in
// the session's step-up cookie, once (claim: the first right code wins).
type stepUpSMSMethod struct {
	want  stepUpCode
	mac   func(id, code string, stored []byte) []byte
	claim func(ctx context.Context) (bool, error)
}

func (stepUpSMSMethod) Factor() string { return factorSMS }

func (m stepUpSMSMethod) Verify(ctx context.Context, a Attempt) (Proof, error) {
	code := factor.Digits(a.Code)
	if len(m.want.MAC) == 0 || !hmac.Equal(m.mac("step-up:"+m.want.Nonce, code, m.want.MAC), m.want.MAC) {
		return Proof{}, nil
	}
	first, err := m.claim(ctx)
	if err != nil {
		return Proof{}, err
	}
	return Proof{Valid: first}, nil
}
