package challenge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"time"

	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
)

// deviceCookie makes the remembered-device cookie: signed and encrypted
// like the gate cookie, naming the user, with a random id in place of a
// session binding. verified is when the second factor passed.
func (h *Handler) deviceCookie(r *http.Request, user string, verified time.Time) (*http.Cookie, error) {
	now := h.opt.Now()
	cl := gate.Claims{User: user, Issued: now, Expires: now.Add(h.opt.DeviceMaxAge), Verified: verified}
	if _, err := io.ReadFull(h.opt.Random, cl.Bind[:]); err != nil {
		return nil, err
	}
	v, err := h.opt.Device.Encode(cl)
	if err != nil {
		return nil, err
	}
	h.seeDevice(r, user, cl.Bind)
	return &http.Cookie{Name: h.opt.Device.Name(), Value: v, Path: "/", MaxAge: int(h.opt.DeviceMaxAge / time.Second),
		HttpOnly: true, Secure: h.opt.Secure, SameSite: http.SameSiteLaxMode}, nil
}

// rememberedDevice reports whether the request carries a remembered-device
// cookie for user that is still good: unexpired, issued after the user's
// enrollment and after any revocation of their devices, and not forgotten
// one by one (store.Device.Revoked). It returns when that device last
// passed a second factor.
func (h *Handler) rememberedDevice(r *http.Request, user string) (time.Time, bool) {
	if h.opt.Device == nil {
		return time.Time{}, false
	}
	c, err := r.Cookie(h.opt.Device.Name())
	if err != nil {
		return time.Time{}, false
	}
	cl, err := h.opt.Device.Decode(c.Value)
	if err != nil || cl.User != user {
		return time.Time{}, false
	}
	enr, err := h.opt.Durable.Enrollment(r.Context(), user)
	if err != nil || cl.Issued.Before(enr.CreatedAt) || !cl.Issued.After(enr.DevicesRevoked) {
		return time.Time{}, false
	}
	if h.deviceRevoked(r, user, deviceID(cl.Bind)) {
		return time.Time{}, false
	}
	h.seeDevice(r, user, cl.Bind)
	return cl.Verified, true
}

// releaseRemembered releases a held login at once for a remembered device.
func (h *Handler) releaseRemembered(r *http.Request, held *store.Held, verified time.Time) (forward.Reply, bool) {
	taken, done, err := h.take(r.Context(), held.ID)
	if err != nil {
		return forward.Reply{}, false
	}
	// The answer is complete in memory: the proxy writes it next.
	defer done()
	hd := http.Header{}
	if err := h.released(r, taken, verified, false, hd, "device"); err != nil {
		h.log.ErrorContext(r.Context(), "releasing for a remembered device", "err", err)
		return forward.Reply{}, false
	}
	h.log.InfoContext(r.Context(), "second factor skipped for a remembered device", "event", "device_accepted", "user", held.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	return forward.Reply{Status: taken.Response.Status, Header: hd, Body: taken.Response.Body}, true
}

// stepUpToken is the step-up form's CSRF token: a MAC of the gate
// session, so it needs no server state and is useless with another session.
func (h *Handler) stepUpToken(cl gate.Claims) string {
	m := hmac.New(sha256.New, h.stepUpKey)
	m.Write([]byte("step-up\x00"))
	m.Write(cl.Bind[:])
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(cl.Issued.UnixNano())))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
