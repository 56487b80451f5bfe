package account

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/vestibule-gw/vestibule/gate"
)

// pending is a change waiting for its confirmation code, carried in a
// signed and encrypted cookie bound to the gate session that started it:
// a new authenticator secret (sealed) or a new phone number with the MAC
// of the code sent to it. Nothing is stored until the code confirms it.
type pending struct {
	User string
	Bind [32]byte
	// Kind is "totp" or "phone".
	Kind string
	// Secret is the new authenticator secret, sealed for User.
	Secret []byte
	// Phone is the new number (E.164); CodeMAC the MAC of the code sent.
	Phone   string
	CodeMAC []byte
	// Nonce names this change's attempt counter.
	Nonce   string
	Expires time.Time
}

// loadPending returns the pending change of kind for this session, if any
// and unexpired.
func (h *Handler) loadPending(r *http.Request, cl gate.Claims, kind string) (pending, bool) {
	c, err := r.Cookie(pendingCookie)
	if err != nil {
		return pending{}, false
	}
	var p pending
	if err := securecookie.DecodeMulti(pendingCookie, c.Value, &p, h.pending...); err != nil {
		return pending{}, false
	}
	if p.User != cl.User || p.Bind != cl.Bind || p.Kind != kind || !h.opt.Now().Before(p.Expires) {
		return pending{}, false
	}
	return p, true
}

// savePending sets the pending-change cookie.
func (h *Handler) savePending(w http.ResponseWriter, p pending) error {
	v, err := securecookie.EncodeMulti(pendingCookie, p, h.pending...)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: v, Path: h.Path(), MaxAge: int(h.opt.CodeTTL / time.Second),
		HttpOnly: true, Secure: h.opt.Secure, SameSite: http.SameSiteStrictMode})
	return nil
}

// clearPending deletes the pending-change cookie.
func (h *Handler) clearPending(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: "", Path: h.Path(), MaxAge: -1,
		HttpOnly: true, Secure: h.opt.Secure, SameSite: http.SameSiteStrictMode})
}

// codeMAC is what the pending cookie keeps of a text-message code: a MAC
// bound to the change (its nonce) and the number.
func (h *Handler) codeMAC(p pending, code string) []byte {
	m := hmac.New(sha256.New, h.formKey)
	m.Write([]byte("account-phone-code\x00" + p.Nonce + "\x00" + p.Phone + "\x00" + code))
	return m.Sum(nil)
}

// attempt counts one try at a pending change's code; false when the
// change's budget is spent (or the count can't be kept).
func (h *Handler) attempt(r *http.Request, p pending) (left int, ok bool, err error) {
	n, err := h.opt.Counters.Hit(r.Context(), "account-code:"+p.Nonce, h.opt.Now(), h.opt.CodeTTL)
	if err != nil {
		return 0, false, err
	}
	return h.opt.CodeAttempts - n, n <= h.opt.CodeAttempts, nil
}

// once claims a confirmed change, atomically: of two posts of the same
// right code (a double click, a replayed cookie) only the first changes
// anything; the other is answered as expired.
func (h *Handler) once(w http.ResponseWriter, r *http.Request, cl gate.Claims, p pending) bool {
	n, err := h.opt.Counters.Hit(r.Context(), "account-done:"+p.Nonce, h.opt.Now(), h.opt.CodeTTL)
	if err != nil {
		h.storeFailed(w, r, "claiming change", err)
		return false
	}
	if n > 1 {
		h.clearPending(w)
		h.pageError(w, r, cl, http.StatusGone, "That change has expired. Please start again.")
		return false
	}
	return true
}
