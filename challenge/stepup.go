package challenge

import (
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
)

// formNotSent is shown on the step-up page when a browser posted a form to
// a step-up path after the factor's max age: the gateway did not forward it.
const formNotSent = "Your confirmation has expired. Confirm it's you, then send the form again: what you submitted was not sent."

// getStepUp shows the code form (and the passkey form, for a user with
// passkeys) for a signed-in user whose last second factor is too old for
// the page they asked for.
func (h *Handler) getStepUp(w http.ResponseWriter, r *http.Request) {
	cl, ok := cookieguard.VerifiedClaims(r)
	if !ok {
		h.render(w, r, http.StatusUnauthorized, "message", pageData{Title: "Sign in first",
			Message: "This page needs a signed-in session.", LoginURL: h.opt.LoginURL})
		return
	}
	d := h.stepUpPage(cl, h.safeLocation(r.URL.Query().Get("next")))
	if r.URL.Query().Get("resend") == "1" {
		// A form was posted after the factor's max age: it was not
		// forwarded, and the user must know to send it again.
		d.Error = h.tr(r, formNotSent)
	}
	h.renderStepUp(w, r, http.StatusOK, d)
}

func (h *Handler) stepUpPage(cl gate.Claims, next string) pageData {
	return pageData{Title: "Confirm it's you", CSRF: h.stepUpToken(cl), User: cl.User, Next: next}
}

// renderStepUp renders the step-up page with the user's factors: a
// passkey ceremony begun for a user with passkeys, the code form for a
// user with an authenticator (or no passkey).
func (h *Handler) renderStepUp(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	enr, err := h.opt.Durable.Enrollment(r.Context(), d.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	if h.passkeysOn() && enr.Passkeys > 0 {
		if d.Passkey, err = h.beginStepUpPasskey(w, r, d.User); err != nil {
			h.storeFailed(w, r, "beginning passkey step-up", err)
			return
		}
		d.PasskeyAction = "step-up/passkey"
	}
	d.TOTP = d.Passkey == "" || len(enr.TOTPSecret) > 0 && h.totpOn()
	h.render(w, r, status, "stepup", d)
}

// stepUpBudget is the counter key of a gate session's step-up attempts:
// each gets MaxAttempts per hold period, counted before the code is
// checked, whatever the regulation config (a step-up has no held login
// whose budget would stop the guessing).
func stepUpBudget(cl gate.Claims) string { return "step-up:" + hex.EncodeToString(cl.Bind[:]) }

// postStepUp checks a fresh TOTP code and renews the gate cookie's
// verification time, then returns to the page asked for.
func (h *Handler) postStepUp(w http.ResponseWriter, r *http.Request) {
	cl, next, ok := h.stepUpForm(w, r)
	if !ok {
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	res := h.checker.Check(ctx, Attempt{User: cl.User, Budget: stepUpBudget(cl), Method: h.totp,
		Code: r.PostForm.Get("code"), ClientIP: h.ip(r), UserAgent: r.UserAgent()})
	h.stepUpResult(w, r, cl, next, res, genericFailure, replayedCode)
}

// stepUpForm checks a step-up form post (a signed-in session, its token)
// and returns the session's claims and where to go back to; otherwise it
// answers and returns false.
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

// stepUpResult answers a step-up check: a new gate cookie and back to next,
// or the page again with failure or replayed, or why not.
func (h *Handler) stepUpResult(w http.ResponseWriter, r *http.Request, cl gate.Claims, next string, res Result, failure, replayed string) {
	page := h.stepUpPage(cl, next)
	switch res.Kind {
	case Accepted:
		c, err := h.opt.Cookies.Cookie(cl.User, cl.Bind, h.opt.Now())
		if err != nil {
			h.log.ErrorContext(r.Context(), "issuing gate cookie", "err", err)
			h.ErrorPage(w, r, http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, c)
		http.Redirect(w, r, next, http.StatusSeeOther)
	case Replayed:
		page.Error = h.tr(r, replayed)
		h.renderStepUp(w, r, http.StatusUnauthorized, page)
	case Wrong:
		page.Error = h.tr(r, failure)
		h.renderStepUp(w, r, http.StatusUnauthorized, page)
	case Exhausted:
		h.render(w, r, http.StatusTooManyRequests, "message", pageData{Title: "Too many attempts",
			Message: "Too many wrong codes. For your security this sign-in was cancelled. Please sign in again."})
	case Banned:
		h.BannedPage(w, r, res.Until)
	case NotEnrolled:
		h.render(w, r, http.StatusForbidden, "message", pageData{Title: "No second factor",
			Message: "Your account has no authenticator set up any more. Sign out and sign in again to set one up."})
	default:
		h.unavailable(w, r, res)
	}
}
