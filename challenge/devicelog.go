package challenge

import (
	"encoding/hex"
	"net/http"

	"github.com/vestibule-gw/vestibule/store"
)

// deviceID is the public name of a remembered-device cookie: the first
// bytes of its random id, enough to tell a user's devices apart, useless
// to forge one.
func deviceID(bind [32]byte) string { return hex.EncodeToString(bind[:6]) }

// seeDevice records, when the durable store keeps a device log, that the
// device cookie id was issued or used by this request's address and
// browser, for `vestibule users show`. Best effort: the log is for
// administrators, the cookie alone decides.
func (h *Handler) seeDevice(r *http.Request, user string, bind [32]byte) {
	dl, ok := h.opt.Durable.(store.DeviceLog)
	if !ok {
		return
	}
	d := store.Device{User: user, ID: deviceID(bind), LastSeen: h.opt.Now(), LastIP: h.ip(r), UserAgent: r.UserAgent()}
	if err := dl.SeeDevice(r.Context(), d); err != nil {
		h.log.WarnContext(r.Context(), "recording a remembered device", "event", "store_error", "user", user, "err", err)
	}
}

// signedIn records a completed sign-in (when, from where, with which
// factor) for the user's security page. Best effort: the release does not
// wait on it failing.
func (h *Handler) signedIn(r *http.Request, user, by string) {
	s := store.SignIn{User: user, At: h.opt.Now(), IP: h.ip(r), UserAgent: r.UserAgent(), Factor: by}
	if err := h.opt.Durable.AddSignIn(r.Context(), s); err != nil {
		h.log.WarnContext(r.Context(), "recording a sign-in", "event", "store_error", "user", user, "err", err)
	}
}

// deviceRevoked reports whether the user forgot this remembered device
// (the security page) or an administrator did. A device log that can't be
// read counts as revoked: the user is asked for a code, nothing worse.
func (h *Handler) deviceRevoked(r *http.Request, user, id string) bool {
	dl, ok := h.opt.Durable.(store.DeviceLog)
	if !ok {
		return false
	}
	devs, err := dl.Devices(r.Context(), user)
	if err != nil {
		h.log.WarnContext(r.Context(), "reading the device log; the remembered device is not trusted this time", "event", "store_error", "user", user, "err", err)
		return true
	}
	for _, d := range devs {
		if d.ID == id {
			return !d.Revoked.IsZero()
		}
	}
	return false
}
