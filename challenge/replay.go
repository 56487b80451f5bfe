package challenge

import (
	"github.com/vestibule-gw/vestibule/audit"
	"net/http"

	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/store"
)

// replayedCode is what a user who sent a code twice learns: it was right,
// but its time step is used up. Not a guess, so not counted.
const replayedCode = "This code was already used. Wait for the next one from your app."

// replayedTOTP reports whether code is the right code of a time step the
// user already used (the same 30-second window as the last accepted code,
// or an earlier one). Knowing a used code tells nobody anything new, so
// this check costs no attempt.
func (h *Handler) replayedTOTP(enr store.Enrollment, secret, code string) bool {
	step, ok := h.opt.TOTP.Verify(secret, code, h.opt.Now())
	return ok && enr.LastStep > 0 && step <= enr.LastStep
}

// replayed answers a replayed code on the code page. reg, when the attempt
// was already reserved (a replay racing the request that used the step),
// is given back: a replay is not a failure.
func (h *Handler) replayed(w http.ResponseWriter, r *http.Request, held *store.Held, st pendingState, reg *regulate.Attempt) {
	if reg != nil {
		if err := reg.Cancel(r.Context()); err != nil {
			h.log.ErrorContext(r.Context(), "giving back an attempt", "event", "store_error", "err", err)
		}
	}
	h.log.InfoContext(r.Context(), "TOTP code of a used time step sent again; not counted", "event", audit.CodeReplayed,
		"user", held.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	h.render(w, r, http.StatusUnauthorized, "verify", pageData{Title: "Two-factor sign-in", CSRF: st.CSRF, User: held.User,
		Error: h.tr(r, replayedCode)})
}

// formNotSent is shown on the step-up page when a browser posted a form to
// a step-up path after the factor's max age: the gateway did not forward it.
const formNotSent = "Your confirmation has expired. Confirm it's you, then send the form again: what you submitted was not sent."
