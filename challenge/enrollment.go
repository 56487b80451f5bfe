package challenge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vestibule-gw/vestibule/enroll"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/store"
)

// The enrollment policy on the gate pages and the Parse protocol. Every
// path that creates a first enrollment asks decide (through mayEnroll,
// apiMayEnroll and, when the enrollment is stored, enrollFirst); a refusal
// ends the held login.
//
// An invitation meets the held login in the same browser through a cookie:
// the link `vestibule users invite NAME` prints (<prefix>invite?t=TOKEN)
// checks the token and keeps it in a short-lived, HttpOnly cookie scoped to
// the gate pages; the enrollment pages read it, and it counts only for the
// held login whose user (the identity the app authenticated) is the
// invitation's. Opened while a login is held, the link continues that
// login. Parse API clients send the token as "invite" in the JSON body.

// inviteCookieName is the invitation cookie.
const inviteCookieName = "vestibule_invite"

// inviteCookieMaxAge bounds how long an opened invitation waits for the
// sign-in in that browser.
const inviteCookieMaxAge = time.Hour

// errRefused: the policy refused a first enrollment (the page is the
// caller's to write).
var errRefused = errors.New("enrollment refused")

// decide is the one decision on a first enrollment by this held login.
func (h *Handler) decide(r *http.Request, held *store.Held, invite string) enroll.Verdict {
	return h.opt.Enrollment.Decide(enroll.Request{User: held.User, ClientIP: h.ip(r), Invite: invite, Now: h.opt.Now()})
}

// verdict is decide before an enrollment starts: an invitation that was
// used already is refused now, rather than after the user set up an app.
func (h *Handler) verdict(r *http.Request, held *store.Held, invite string) (enroll.Verdict, error) {
	v := h.decide(r, held, invite)
	if v.Allowed && v.Invite != nil {
		used, err := h.opt.Enrollment.Invites.IsUsed(r.Context(), *v.Invite, h.opt.Now())
		if err != nil {
			return v, err
		}
		if used {
			return enroll.Verdict{Reason: enroll.ReasonInviteUsed}, nil
		}
	}
	return v, nil
}

// inviteFromCookie is the invitation token the browser brings ("": none).
func (h *Handler) inviteFromCookie(r *http.Request) string {
	if c, err := r.Cookie(inviteCookieName); err == nil {
		return c.Value
	}
	return ""
}

func (h *Handler) inviteCookie(value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: inviteCookieName, Value: value, Path: h.opt.Prefix, HttpOnly: true, Secure: h.opt.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second)}
	if maxAge <= 0 {
		c.MaxAge = -1
	}
	return c
}

// mayEnroll asks the policy whether this page's held login may create the
// user's first enrollment. When not, it ends the held login, answers with
// the refusal page and returns false.
func (h *Handler) mayEnroll(w http.ResponseWriter, r *http.Request, held *store.Held) bool {
	v, err := h.verdict(r, held, h.inviteFromCookie(r))
	if err != nil {
		h.storeFailed(w, r, "reading invitation", err)
		return false
	}
	if v.Allowed {
		return true
	}
	h.refuseEnrollment(w, r, held, v.Reason)
	return false
}

// endRefused ends a held login whose first enrollment was refused: logged
// (event enrollment_refused), discarded, and logged out at the app as
// other abandoned logins are.
func (h *Handler) endRefused(r *http.Request, held *store.Held, reason string) {
	mode := "open"
	if h.opt.Enrollment != nil && h.opt.Enrollment.Mode != "" {
		mode = h.opt.Enrollment.Mode
	}
	h.log.WarnContext(r.Context(), "first enrollment refused by the enrollment policy", "event", "enrollment_refused", "reason", reason,
		"mode", mode, "user", held.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	if err := h.opt.Ephemeral.DeleteHeld(r.Context(), held.ID); err != nil {
		h.log.ErrorContext(r.Context(), "discarding held login", "event", "store_error", "err", err)
	}
	h.abandon(r, held, "enrollment_refused")
}

// refuseEnrollment ends the held login and shows why, and whom to ask.
func (h *Handler) refuseEnrollment(w http.ResponseWriter, r *http.Request, held *store.Held, reason string) {
	h.endRefused(r, held, reason)
	h.refusedPage(w, r, reason)
}

func (h *Handler) contact() string {
	if h.opt.Enrollment == nil {
		return ""
	}
	return h.opt.Enrollment.Contact
}

// refusalMessage tells a refused user what to do; it never says more
// about the account than the user already knows.
func refusalMessage(reason string) string {
	switch reason {
	case enroll.ReasonInviteRequired:
		return "Setting up two-factor sign-in for this account needs an invitation link. Open the link you were sent, then sign in again."
	case enroll.ReasonNetwork:
		return "Two-factor sign-in can only be set up from your organisation's network. Connect to it (in the office or through the VPN) and sign in again."
	case enroll.ReasonClosed:
		return "Setting up two-factor sign-in on your own is no longer possible. You need an invitation link."
	default:
		return "This invitation link can't be used: it has expired, was already used or is for another account."
	}
}

// apiMayEnroll is mayEnroll for the Parse JSON protocol: the invitation
// comes in the body. A refusal ends the held login (logged out at Parse).
func (h *Handler) apiMayEnroll(w http.ResponseWriter, r *http.Request, held *store.Held, invite string) bool {
	v, err := h.verdict(r, held, invite)
	if err != nil {
		writeReply(w, errStore.reply())
		return false
	}
	if v.Allowed {
		return true
	}
	h.endRefused(r, held, v.Reason)
	writeReply(w, h.apiRefusal(r, v.Reason).reply())
	return false
}

func (h *Handler) apiRefusal(r *http.Request, reason string) *apiError {
	extra := map[string]any{"refusal": reason}
	if c := h.contact(); c != "" {
		extra["contact"] = c
	}
	return &apiError{status: http.StatusForbidden, code: 119, msg: h.tr(r, refusalMessage(reason)), reason: "enrollment_refused", extra: extra}
}

// enrollFirst stores a first enrollment the policy allows, after asking it
// once more for this very request and claiming the invitation that allowed
// it (single use). errRefused: refused, and the held login is ended (the
// caller answers with the refusal). On success the change is logged (event
// enrollment), the webhook told, and the invitation cookie cleared.
func (h *Handler) enrollFirst(ctx context.Context, w http.ResponseWriter, r *http.Request, held *store.Held, e store.Enrollment, invite string) (reason string, err error) {
	v := h.decide(r, held, invite)
	if v.Allowed && v.Invite != nil {
		switch err := h.opt.Enrollment.Invites.Claim(ctx, *v.Invite, h.opt.Now()); {
		case errors.Is(err, enroll.ErrUsed):
			v = enroll.Verdict{Reason: enroll.ReasonInviteUsed}
		case err != nil:
			return "", err
		default:
			h.log.InfoContext(ctx, "invitation used", "event", "invite_used", "user", held.User, "remote_ip", h.ip(r))
		}
	}
	if !v.Allowed {
		h.endRefused(r, held, v.Reason)
		return v.Reason, errRefused
	}
	if err := h.opt.Durable.EnrollNew(ctx, e); err != nil {
		return "", err
	}
	if v.Invite != nil {
		http.SetCookie(w, h.inviteCookie("", 0))
	}
	factorName := factorTOTP
	switch {
	case len(e.TOTPSecret) > 0:
	case e.Phone != "":
		factorName = factorSMS
	default: // a passkey, stored next (postEnrollPasskey)
		factorName = factorWebAuthn
	}
	attrs := []any{"event", "enrollment", "factor", factorName, "via", v.Via, "user", held.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent()}
	if e.Phone != "" {
		attrs = append(attrs, "phone", phone.Mask(e.Phone))
	}
	if held.Kind != "" {
		attrs = append(attrs, "kind", held.Kind)
	}
	h.log.InfoContext(ctx, "enrolled "+factorName, attrs...)
	h.opt.Notifier.Notify(ctx, notify.Event{Event: "enrollment", User: held.User, Factor: factorName, Phone: phone.Mask(e.Phone),
		By: "user", Via: v.Via, RemoteIP: h.ip(r)})
	return "", nil
}

// getInvite: GET <prefix>invite?t=TOKEN, the link `vestibule users invite`
// prints. A valid, unused invitation is kept in the invitation cookie; a
// held login in this browser continues at the code page, otherwise the user
// is sent to sign in. Opening the link uses nothing up (mail scanners open
// links too): the invitation is claimed when the enrollment is stored.
func (h *Handler) getInvite(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("t")
	now := h.opt.Now()
	var iv *enroll.Invites
	if h.opt.Enrollment != nil {
		iv = h.opt.Enrollment.Invites
	}
	inv, err := iv.Read(tok, now)
	reason := ""
	switch {
	case errors.Is(err, enroll.ErrExpired):
		reason = enroll.ReasonInviteExpired
	case err != nil:
		reason = enroll.ReasonInviteInvalid
	default:
		used, err := iv.IsUsed(r.Context(), inv, now)
		if err != nil {
			h.storeFailed(w, r, "reading invitation", err)
			return
		}
		if used {
			reason = enroll.ReasonInviteUsed
		}
	}
	if reason != "" {
		h.log.WarnContext(r.Context(), "invitation link refused", "event", "invite_refused", "reason", reason, "user", inv.User,
			"remote_ip", h.ip(r), "user_agent", r.UserAgent())
		http.SetCookie(w, h.inviteCookie("", 0))
		h.render(w, r, http.StatusGone, "enrollment", pageData{Title: "Invitation not valid", Message: refusalMessage(reason),
			Contact: h.contact()})
		return
	}
	http.SetCookie(w, h.inviteCookie(tok, min(inviteCookieMaxAge, inv.ExpiresAt().Sub(now))))
	h.log.InfoContext(r.Context(), "invitation opened", "event", "invite_opened", "user", inv.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	if h.Pending(r) {
		http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "enrollment", pageData{Title: "Set up two-factor sign-in",
		Message:  fmt.Sprintf(h.tr(r, "Your invitation for %s is ready. Sign in to the application now (in this browser, within the hour) to set up two-factor sign-in."), inv.User),
		LoginURL: h.opt.LoginURL})
}

// refusedPage answers a page whose enrollment enrollFirst refused (the held
// login is already ended).
func (h *Handler) refusedPage(w http.ResponseWriter, r *http.Request, reason string) {
	http.SetCookie(w, h.clearPending())
	if reason != enroll.ReasonInviteRequired && reason != enroll.ReasonNetwork && reason != enroll.ReasonClosed {
		http.SetCookie(w, h.inviteCookie("", 0)) // an invitation that can't serve
	}
	h.render(w, r, http.StatusForbidden, "enrollment", pageData{Title: "Two-factor sign-in can't be set up here",
		Message: refusalMessage(reason), Contact: h.contact(), LoginURL: h.opt.LoginURL})
}
