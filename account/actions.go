package account

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/store"
)

// maxPasskeyName bounds a passkey's name (in characters).
const maxPasskeyName = 64

// changed records a change: the audit event (counted by the metrics) and
// the signed notification to the security-event webhook.
func (h *Handler) changed(r *http.Request, cl gate.Claims, event string, ev notify.Event, attrs ...any) {
	ip := h.opt.ClientIP(r)
	args := append([]any{"event", event, "user", cl.User, "remote_ip", ip, "user_agent", r.UserAgent()}, attrs...)
	h.log.InfoContext(r.Context(), "security settings changed", args...)
	if h.opt.Notifier != nil {
		ev.Event, ev.User, ev.By, ev.RemoteIP = event, cl.User, "user", ip
		h.opt.Notifier.Notify(r.Context(), ev)
	}
}

// passkeyID reads the form's passkey id (base64url, as the page lists it).
func passkeyID(r *http.Request) ([]byte, bool) {
	id, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("id"))
	return id, err == nil && len(id) > 0 && len(id) <= 1023
}

// cleanName trims a passkey name and refuses control characters and
// overlong names.
func cleanName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > maxPasskeyName || !utf8.ValidString(s) {
		return "", false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return "", false
		}
	}
	return s, true
}

// pageError shows the page again with an error.
func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, cl gate.Claims, status int, msg string) {
	d, err := h.overview(r, cl)
	if err != nil {
		h.storeFailed(w, r, "reading the security page", err)
		return
	}
	d.Error = msg
	h.render(w, r, status, "account", d)
}

func (h *Handler) postRenamePasskey(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	id, ok := passkeyID(r)
	name, nameOK := cleanName(r.PostForm.Get("name"))
	if !ok || !nameOK {
		h.pageError(w, r, cl, http.StatusBadRequest, "Give the passkey a name of up to 64 characters.")
		return
	}
	switch err := h.opt.Store.RenamePasskey(r.Context(), cl.User, id, name); {
	case errors.Is(err, store.ErrNotFound):
		h.pageError(w, r, cl, http.StatusNotFound, "That passkey is not one of yours any more.")
		return
	case err != nil:
		h.storeFailed(w, r, "renaming passkey", err)
		return
	}
	h.changed(r, cl, audit.PasskeyRenamed, notify.Event{Factor: "webauthn"})
	h.done(w, r, "passkey-renamed")
}

// lastFactor refuses to remove a factor that is the user's last (unless
// the policy allows no second factor); it answers the page itself.
func (h *Handler) lastFactor(w http.ResponseWriter, r *http.Request, cl gate.Claims) bool {
	if h.opt.AllowNoFactor {
		return false
	}
	ctx := r.Context()
	enr, err := h.opt.Store.Enrollment(ctx, cl.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.storeFailed(w, r, "reading enrollment", err)
		return true
	}
	pks, err := h.opt.Store.Passkeys(ctx, cl.User)
	if err != nil {
		h.storeFailed(w, r, "listing passkeys", err)
		return true
	}
	if factorCount(enr, len(pks)) <= 1 {
		h.log.InfoContext(ctx, "removing the last second factor refused", "event", "factor_removal_refused",
			"user", cl.User, "remote_ip", h.opt.ClientIP(r))
		h.pageError(w, r, cl, http.StatusConflict, "This is your only way to confirm it's you. Add another before you remove it.")
		return true
	}
	return false
}

func (h *Handler) postRemovePasskey(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	id, ok := passkeyID(r)
	if !ok {
		h.pageError(w, r, cl, http.StatusBadRequest, "That passkey is not one of yours any more.")
		return
	}
	if h.lastFactor(w, r, cl) {
		return
	}
	switch err := h.opt.Store.DeletePasskey(r.Context(), cl.User, id); {
	case errors.Is(err, store.ErrNotFound):
		h.pageError(w, r, cl, http.StatusNotFound, "That passkey is not one of yours any more.")
		return
	case err != nil:
		h.storeFailed(w, r, "removing passkey", err)
		return
	}
	h.changed(r, cl, audit.FactorRemoved, notify.Event{Factor: "webauthn"}, "factor", "webauthn")
	h.done(w, r, "passkey-removed")
}

func (h *Handler) postRemoveTOTP(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	h.removeFactor(w, r, cl, "totp", h.opt.Store.RemoveTOTP, notify.Event{Factor: "totp"}, "totp-removed")
}

func (h *Handler) postRemovePhone(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	enr, err := h.opt.Store.Enrollment(r.Context(), cl.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	h.removeFactor(w, r, cl, "sms", h.opt.Store.RemovePhone, notify.Event{Factor: "sms", Phone: phone.Mask(enr.Phone)}, "phone-removed")
}

// removeFactor removes the authenticator app or the phone, never the last
// factor.
func (h *Handler) removeFactor(w http.ResponseWriter, r *http.Request, cl gate.Claims, name string,
	remove func(context.Context, string) error, ev notify.Event, note string) {
	if h.lastFactor(w, r, cl) {
		return
	}
	switch err := remove(r.Context(), cl.User); {
	case errors.Is(err, store.ErrNotFound):
		h.done(w, r, note) // already gone: the page shows it so
		return
	case err != nil:
		h.storeFailed(w, r, "removing a factor", err)
		return
	}
	h.changed(r, cl, audit.FactorRemoved, ev, "factor", name)
	h.done(w, r, note)
}

// postRecoveryCodes replaces every recovery code and shows the new ones,
// once.
func (h *Handler) postRecoveryCodes(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	codes, err := factor.NewRecoveryCodes(h.opt.Random, h.opt.RecoveryCodes)
	if err != nil {
		h.log.ErrorContext(r.Context(), "making recovery codes", "err", err)
		h.message(w, r, http.StatusServiceUnavailable, "Something went wrong", "Your security settings can't be reached right now. Please try again in a moment.")
		return
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		norm, _ := factor.NormalizeRecoveryCode(c)
		hashes[i] = factor.HashRecoveryCode(norm)
	}
	switch err := h.opt.Store.ReplaceRecoveryCodes(r.Context(), cl.User, hashes); {
	case errors.Is(err, store.ErrNotFound):
		h.pageError(w, r, cl, http.StatusConflict, "Set up a second factor first.")
		return
	case err != nil:
		h.storeFailed(w, r, "replacing recovery codes", err)
		return
	}
	h.changed(r, cl, audit.RecoveryCodesReplaced, notify.Event{})
	h.render(w, r, http.StatusOK, "account_codes", pageData{Title: "Your new recovery codes", User: cl.User, Codes: codes})
}

func (h *Handler) postRevokeDevice(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	id := r.PostForm.Get("id")
	if id == "" || len(id) > 64 {
		h.pageError(w, r, cl, http.StatusBadRequest, "That device is not one of yours any more.")
		return
	}
	switch err := h.opt.Store.RevokeDevice(r.Context(), cl.User, id); {
	case errors.Is(err, store.ErrNotFound):
		h.pageError(w, r, cl, http.StatusNotFound, "That device is not one of yours any more.")
		return
	case err != nil:
		h.storeFailed(w, r, "revoking device", err)
		return
	}
	h.changed(r, cl, audit.DeviceRevoked, notify.Event{}, "device", id)
	h.done(w, r, "device")
}

// postEndSessions signs out every other gate session of the user: a
// revocation of all of them (gate.UserKey) at now, then this browser's
// cookie issued again, not before now, so it alone survives (a
// revocation voids cookies issued strictly before it).
func (h *Handler) postEndSessions(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	now := h.opt.Now()
	if err := h.opt.Sessions.Revoke(r.Context(), gate.UserKey(cl.User), now, now.Add(h.opt.SessionMaxAge)); err != nil {
		h.storeFailed(w, r, "ending sessions", err)
		return
	}
	c, err := h.opt.Cookies.Cookie(cl.User, cl.Bind, cl.Verified)
	if err != nil {
		h.log.ErrorContext(r.Context(), "issuing gate cookie", "err", err)
		h.message(w, r, http.StatusInternalServerError, "Something went wrong", "Your other sessions were signed out, but this one could not be renewed. Please sign in again.")
		return
	}
	http.SetCookie(w, c)
	h.changed(r, cl, audit.SessionsEnded, notify.Event{})
	h.done(w, r, "sessions")
}
