package account

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/templates"
)

// The two changes that need a code first: a new authenticator app (its
// first code proves it was set up) and a new phone number (a code sent to
// it proves it is the user's).

const wrongCode = "That code is not valid."

// postStartTOTP makes a new authenticator secret (kept sealed in the
// pending cookie, so reloading shows the same one) and shows its QR code.
func (h *Handler) postStartTOTP(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	if h.opt.TOTPForbidden {
		h.pageError(w, r, cl, http.StatusNotFound, "Authenticator apps are not used here.")
		return
	}
	p, ok := h.loadPending(r, cl, "totp")
	if !ok {
		secret, err := factor.NewTOTPSecret(h.opt.Random)
		if err != nil {
			h.failed(w, r, "making TOTP secret", err)
			return
		}
		sealed, err := h.opt.Sealer.Seal([]byte(secret), []byte(cl.User))
		if err != nil {
			h.failed(w, r, "sealing TOTP secret", err)
			return
		}
		nonce, err := h.token(18)
		if err != nil {
			h.failed(w, r, "making nonce", err)
			return
		}
		p = pending{User: cl.User, Bind: cl.Bind, Kind: "totp", Secret: sealed, Nonce: nonce, Expires: h.opt.Now().Add(h.opt.CodeTTL)}
		if err := h.savePending(w, p); err != nil {
			h.failed(w, r, "encoding pending change", err)
			return
		}
	}
	h.totpPage(w, r, cl, p, http.StatusOK, "")
}

// totpPage shows the new secret as a QR code and a key to type, with the
// form for its first code.
func (h *Handler) totpPage(w http.ResponseWriter, r *http.Request, cl gate.Claims, p pending, status int, errMsg string) {
	secret, err := h.opt.Sealer.Open(p.Secret, []byte(cl.User))
	if err != nil {
		h.failed(w, r, "opening TOTP secret", err)
		return
	}
	png, err := factor.QRCodePNG(factor.KeyURI(h.opt.AppName, cl.User, string(secret)), 200)
	if err != nil {
		h.failed(w, r, "making QR code", err)
		return
	}
	h.render(w, r, status, "account_totp", pageData{Title: "New authenticator app", User: cl.User, CSRF: h.formToken(cl), Error: errMsg,
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), Secret: factor.GroupKey(string(secret))})
}

// postConfirmTOTP checks the new app's first code; right, the new secret
// replaces the old one (recovery codes, phone and passkeys stay).
func (h *Handler) postConfirmTOTP(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	p, left, ok := h.confirming(w, r, cl, "totp")
	if !ok {
		return
	}
	secret, err := h.opt.Sealer.Open(p.Secret, []byte(cl.User))
	if err != nil {
		h.failed(w, r, "opening TOTP secret", err)
		return
	}
	now := h.opt.Now()
	step, valid := h.opt.TOTP.Verify(string(secret), r.PostForm.Get("code"), now)
	if !valid {
		h.log.WarnContext(r.Context(), "new authenticator's code rejected", "event", audit.CodeRejected, "factor", "totp",
			"purpose", "account", "user", cl.User, "remote_ip", h.opt.ClientIP(r), "user_agent", r.UserAgent())
		h.totpPage(w, r, cl, p, http.StatusUnauthorized, h.attemptsLeft(r, left))
		return
	}
	if !h.once(w, r, cl, p) {
		return
	}
	if err := h.opt.Store.SetTOTP(r.Context(), cl.User, p.Secret, now); err != nil {
		h.storeFailed(w, r, "replacing TOTP secret", err)
		return
	}
	// The confirming code must not sign in again.
	if err := h.opt.Store.UseTOTPStep(r.Context(), cl.User, step, now); err != nil && !errors.Is(err, store.ErrReplay) {
		h.log.WarnContext(r.Context(), "recording the new authenticator's first step", "event", "store_error", "user", cl.User, "err", err)
	}
	h.clearPending(w)
	h.changed(r, cl, audit.TOTPReplaced, notify.Event{Factor: "totp"})
	h.done(w, r, "totp")
}

// getPhone shows the form for a new number.
func (h *Handler) getPhone(w http.ResponseWriter, r *http.Request) {
	cl, ok := h.session(w, r)
	if !ok {
		return
	}
	if h.opt.Texter == nil {
		h.pageError(w, r, cl, http.StatusNotFound, "Text messages are not used here.")
		return
	}
	if !h.fresh(cl) {
		h.stepUp(w, r, h.Path()+"/phone", false)
		return
	}
	d := pageData{Title: "Change your phone number", User: cl.User, CSRF: h.formToken(cl)}
	if p, ok := h.loadPending(r, cl, "phone"); ok {
		d.Sent, d.Number = true, phone.Mask(p.Phone)
	}
	h.render(w, r, http.StatusOK, "account_phone", d)
}

// postStartPhone checks the typed number and sends a code to it.
func (h *Handler) postStartPhone(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	if h.opt.Texter == nil {
		h.pageError(w, r, cl, http.StatusNotFound, "Text messages are not used here.")
		return
	}
	typed := strings.TrimSpace(r.PostForm.Get("phone"))
	if len(typed) > 40 {
		typed = typed[:40]
	}
	page := pageData{Title: "Change your phone number", User: cl.User, CSRF: h.formToken(cl), Number: typed}
	to, err := phone.Parse(typed, h.opt.DefaultRegion)
	if err != nil || !phone.Mobile(to) {
		page.Error = "That is not a mobile number we can send text messages to. Include the country code, e.g. +44 7400 123456."
		h.render(w, r, http.StatusBadRequest, "account_phone", page)
		return
	}
	code, refusal, status := h.opt.Texter.SendConfirmation(r, cl.User, to)
	if refusal != "" {
		page.Error = refusal
		h.render(w, r, status, "account_phone", page)
		return
	}
	nonce, err := h.token(18)
	if err != nil {
		h.failed(w, r, "making nonce", err)
		return
	}
	p := pending{User: cl.User, Bind: cl.Bind, Kind: "phone", Phone: to, Nonce: nonce, Expires: h.opt.Now().Add(h.opt.CodeTTL)}
	p.CodeMAC = h.codeMAC(p, code)
	if err := h.savePending(w, p); err != nil {
		h.failed(w, r, "encoding pending change", err)
		return
	}
	http.Redirect(w, r, h.Path()+"/phone", http.StatusSeeOther)
}

// postConfirmPhone checks the code sent to the new number; right, the
// number replaces the old one.
func (h *Handler) postConfirmPhone(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	p, left, ok := h.confirming(w, r, cl, "phone")
	if !ok {
		return
	}
	if !hmac.Equal(h.codeMAC(p, factor.Digits(r.PostForm.Get("code"))), p.CodeMAC) {
		h.log.WarnContext(r.Context(), "new number's code rejected", "event", audit.CodeRejected, "factor", "sms",
			"purpose", "account", "user", cl.User, "remote_ip", h.opt.ClientIP(r), "user_agent", r.UserAgent())
		h.render(w, r, http.StatusUnauthorized, "account_phone", pageData{Title: "Change your phone number", User: cl.User,
			CSRF: h.formToken(cl), Sent: true, Number: phone.Mask(p.Phone), Error: h.attemptsLeft(r, left)})
		return
	}
	if !h.once(w, r, cl, p) {
		return
	}
	if err := h.opt.Store.SetPhone(r.Context(), cl.User, p.Phone, h.opt.Now()); err != nil {
		h.storeFailed(w, r, "setting phone", err)
		return
	}
	h.clearPending(w)
	h.changed(r, cl, audit.PhoneChanged, notify.Event{Factor: "sms", Phone: phone.Mask(p.Phone)})
	h.done(w, r, "phone")
}

// confirming loads the pending change of kind that a code confirms and
// counts the attempt; false (answered) when the change expired or its
// attempts ran out.
func (h *Handler) confirming(w http.ResponseWriter, r *http.Request, cl gate.Claims, kind string) (pending, int, bool) {
	p, ok := h.loadPending(r, cl, kind)
	if !ok {
		h.pageError(w, r, cl, http.StatusGone, "That change has expired. Please start again.")
		return p, 0, false
	}
	left, ok, err := h.attempt(r, p)
	if err != nil {
		h.storeFailed(w, r, "counting attempt", err)
		return p, 0, false
	}
	if !ok {
		h.tooMany(w, r, cl)
		return p, 0, false
	}
	return p, left, true
}

// attemptsLeft is the wrong-code message with the tries left.
func (h *Handler) attemptsLeft(r *http.Request, left int) string {
	lang := templates.Negotiate(r.Header.Get("Accept-Language"))
	return templates.T(lang, wrongCode) + " " + fmt.Sprintf(templates.T(lang, "%d attempts left."), left)
}

// tooMany ends a pending change whose code was guessed at too often.
func (h *Handler) tooMany(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	h.log.WarnContext(r.Context(), "security page change cancelled after too many codes", "event", audit.AttemptsExhausted,
		"purpose", "account", "user", cl.User, "remote_ip", h.opt.ClientIP(r), "user_agent", r.UserAgent())
	h.clearPending(w)
	h.pageError(w, r, cl, http.StatusTooManyRequests, "Too many wrong codes. The change was cancelled; you can start again.")
}

// failed logs an internal failure and answers 503.
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, doing string, err error) {
	h.log.ErrorContext(r.Context(), "security page failure", "doing", doing, "user_agent", r.UserAgent(), "err", err)
	h.message(w, r, http.StatusServiceUnavailable, "Something went wrong", "Your security settings can't be reached right now. Please try again in a moment.")
}
