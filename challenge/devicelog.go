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
