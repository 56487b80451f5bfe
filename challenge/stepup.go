package challenge

import (
	"encoding/hex"
	"net/http"

	"github.com/vestibule-gw/vestibule/cookieguard"
)

// formNotSent is shown on the step-up page when a browser posted a form to
// a step-up path after the factor's max age: the gateway did not forward it.
const formNotSent = "Your confirmation has expired. Confirm it's you, then send the form again: what you submitted was not sent."

// getStepUp shows the code form for a signed-in user whose last second
// factor is too old for the page they asked for.
func (h *Handler) getStepUp(w http.ResponseWriter, r *http.Request) {
	cl, ok := cookieguard.VerifiedClaims(r)
	if !ok {
		h.render(w, r, http.StatusUnauthorized, "message", pageData{Title: "Sign in first",
			Message: "This page needs a signed-in session.", LoginURL: h.opt.LoginURL})
		return
	}
	d := pageData{Title: "Confirm it's you", CSRF: h.stepUpToken(cl), User: cl.User,
		Next: h.safeLocation(r.URL.Query().Get("next"))}
	if r.URL.Query().Get("resend") == "1" {
		// A form was posted after the factor's max age: it was not
		// forwarded, and the user must know to send it again.
		d.Error = h.tr(r, formNotSent)
	}
	h.render(w, r, http.StatusOK, "stepup", d)
}

// postStepUp checks a fresh TOTP code and renews the gate cookie's
// verification time, then returns to the page asked for.
func (h *Handler) postStepUp(w http.ResponseWriter, r *http.Request) {
	cl, ok := cookieguard.VerifiedClaims(r)
	if !ok {
		h.ErrorPage(w, r, http.StatusForbidden)
		return
	}
	if !h.checkToken(w, r, h.stepUpToken(cl)) {
		return
	}
	next := h.safeLocation(r.PostForm.Get("next"))
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	// Each gate session gets MaxAttempts step-up codes per hold period,
	// counted before the code is checked, whatever the regulation config:
	// a step-up has no held login whose budget would stop the guessing.
	res := h.checker.Check(ctx, Attempt{User: cl.User, Budget: "step-up:" + hex.EncodeToString(cl.Bind[:]), Method: h.totp,
		Code: r.PostForm.Get("code"), ClientIP: h.ip(r), UserAgent: r.UserAgent()})
	page := pageData{Title: "Confirm it's you", CSRF: h.stepUpToken(cl), User: cl.User, Next: next}
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
		page.Error = h.tr(r, replayedCode)
		h.render(w, r, http.StatusUnauthorized, "stepup", page)
	case Wrong:
		page.Error = genericFailure
		h.render(w, r, http.StatusUnauthorized, "stepup", page)
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
