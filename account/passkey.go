package account

import (
	"errors"
	"net/http"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/store"
)

// Adding a passkey: the ceremony's session waits in the pending cookie
// (bound to this gate session) between the options and the browser's
// answer, which static/passkey.js posts with the form's token.

const passkeyFailed = "The passkey was not added. Try again, or use another authenticator."

// postStartPasskey begins a registration and shows the page that runs it.
func (h *Handler) postStartPasskey(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	if h.opt.Passkeys == nil {
		h.pageError(w, r, cl, http.StatusNotFound, "Passkeys can't be added here.")
		return
	}
	existing, err := h.opt.Store.Passkeys(r.Context(), cl.User)
	if err != nil {
		h.storeFailed(w, r, "listing passkeys", err)
		return
	}
	options, session, err := h.opt.Passkeys.BeginRegistration(cl.User, existing)
	if err != nil {
		h.failed(w, r, "beginning passkey registration", err)
		return
	}
	nonce, err := h.token(18)
	if err != nil {
		h.failed(w, r, "making nonce", err)
		return
	}
	p := pending{User: cl.User, Bind: cl.Bind, Kind: "passkey", Secret: session, Nonce: nonce, Expires: h.opt.Now().Add(h.opt.CodeTTL)}
	if err := h.savePending(w, p); err != nil {
		h.failed(w, r, "encoding pending change", err)
		return
	}
	h.passkeyPage(w, r, cl, http.StatusOK, string(options), "")
}

func (h *Handler) passkeyPage(w http.ResponseWriter, r *http.Request, cl gate.Claims, status int, options, errMsg string) {
	h.render(w, r, status, "account_passkey", pageData{Title: "Add a passkey", User: cl.User, CSRF: h.formToken(cl),
		Options: options, Error: errMsg})
}

// postFinishPasskey checks the browser's answer and stores the passkey
// under the name the user gave.
func (h *Handler) postFinishPasskey(w http.ResponseWriter, r *http.Request, cl gate.Claims) {
	if h.opt.Passkeys == nil {
		h.pageError(w, r, cl, http.StatusNotFound, "Passkeys can't be added here.")
		return
	}
	p, ok := h.loadPending(r, cl, "passkey")
	if !ok {
		h.pageError(w, r, cl, http.StatusGone, "That change has expired. Please start again.")
		return
	}
	name, ok := cleanName(r.PostForm.Get("name"))
	if r.PostForm.Get("name") == "" {
		name, ok = "Passkey", true
	}
	if !ok {
		h.pageError(w, r, cl, http.StatusBadRequest, "Give the passkey a name of up to 64 characters.")
		return
	}
	if !h.once(w, r, cl, p) {
		return
	}
	h.clearPending(w)
	pk, err := h.opt.Passkeys.FinishRegistration(p.Secret, cl.User, []byte(r.PostForm.Get("passkey_response")))
	if err != nil {
		if !h.opt.Refused(err) {
			h.failed(w, r, "finishing passkey registration", err)
			return
		}
		h.log.WarnContext(r.Context(), "passkey registration refused", "event", "passkey_refused", "user", cl.User,
			"reason", err.Error(), "remote_ip", h.opt.ClientIP(r), "user_agent", r.UserAgent())
		h.pageError(w, r, cl, http.StatusBadRequest, passkeyFailed)
		return
	}
	pk.Name = name
	switch err := h.opt.Store.AddPasskey(r.Context(), pk); {
	case errors.Is(err, store.ErrExists):
		h.pageError(w, r, cl, http.StatusConflict, "That passkey is already registered.")
		return
	case err != nil:
		h.storeFailed(w, r, "storing passkey", err)
		return
	}
	h.changed(r, cl, audit.PasskeyAdded, notify.Event{Factor: "webauthn"})
	h.done(w, r, "passkey-added")
}
