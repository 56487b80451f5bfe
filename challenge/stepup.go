package challenge

import (
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/store"
)

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
	n, err := h.opt.Ephemeral.Hit(ctx, "step-up:"+hex.EncodeToString(cl.Bind[:]), h.opt.Now(), h.opt.HoldTTL)
	if err != nil {
		h.storeFailed(w, r, "counting attempt", err)
		return
	}
	if n > h.opt.MaxAttempts {
		h.log.WarnContext(r.Context(), "step-up attempts exhausted", "event", audit.AttemptsExhausted, "step_up", true,
			"user", cl.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
		h.render(w, r, http.StatusTooManyRequests, "message", pageData{Title: "Too many attempts",
			Message: "Too many wrong codes. For your security this sign-in was cancelled. Please sign in again."})
		return
	}
	var reg *regulate.Attempt
	if h.opt.Regulator != nil {
		if reg, err = h.opt.Regulator.Begin(ctx, cl.User, h.ip(r)); err != nil {
			if until, ok := regulate.IsBanned(err); ok {
				h.BannedPage(w, r, until)
			} else {
				h.storeFailed(w, r, "counting attempt", err)
			}
			return
		}
	}
	enr, err := h.opt.Durable.Enrollment(ctx, cl.User)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.render(w, r, http.StatusForbidden, "message", pageData{Title: "No second factor",
				Message: "Your account has no authenticator set up any more. Sign out and sign in again to set one up."})
			return
		}
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	secret, err := h.opt.Sealer.Open(enr.TOTPSecret, []byte(cl.User))
	if err != nil {
		h.log.ErrorContext(r.Context(), "opening TOTP secret failed (wrong encryption key?)", "event", "secret_unreadable", "user", cl.User)
		h.ErrorPage(w, r, http.StatusServiceUnavailable)
		return
	}
	now := h.opt.Now()
	step, valid := h.opt.TOTP.Verify(string(secret), r.PostForm.Get("code"), now)
	if valid {
		switch err := h.opt.Durable.UseTOTPStep(ctx, cl.User, step, now); {
		case errors.Is(err, store.ErrReplay):
			// Not a guess: the user's failures are not counted for it.
			if reg != nil {
				reg.Cancel(ctx)
			}
			h.log.InfoContext(r.Context(), "step-up code of a used time step sent again; not counted", "event", audit.CodeReplayed,
				"step_up", true, "user", cl.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
			h.render(w, r, http.StatusUnauthorized, "stepup", pageData{Title: "Confirm it's you", CSRF: h.stepUpToken(cl),
				User: cl.User, Next: next, Error: h.tr(r, replayedCode)})
			return
		case err != nil:
			h.storeFailed(w, r, "recording TOTP step", err)
			return
		}
	}
	if !valid {
		h.log.WarnContext(r.Context(), "step-up code rejected", "event", audit.CodeRejected, "factor", "totp", "step_up", true,
			"user", cl.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
		if reg != nil {
			if until, ok := regulate.IsBanned(reg.Fail(ctx)); ok {
				h.BannedPage(w, r, until)
				return
			}
		}
		h.render(w, r, http.StatusUnauthorized, "stepup", pageData{Title: "Confirm it's you", CSRF: h.stepUpToken(cl),
			User: cl.User, Next: next, Error: genericFailure})
		return
	}
	if reg != nil {
		reg.Succeed(ctx)
	}
	c, err := h.opt.Cookies.Cookie(cl.User, cl.Bind, now)
	if err != nil {
		h.log.ErrorContext(r.Context(), "issuing gate cookie", "err", err)
		h.ErrorPage(w, r, http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, c)
	h.log.InfoContext(r.Context(), "step-up passed", "event", audit.CodeAccepted, "factor", "totp", "step_up", true,
		"user", cl.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	http.Redirect(w, r, next, http.StatusSeeOther)
}
