package account

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/templates"
)

// pageData is what the security page templates see. The first fields are
// the layout's (shared with the gate pages).
type pageData struct {
	Lang, Title, AppName, Prefix, Error string
	Branded, Logo                       bool

	Message  string
	LoginURL string
	CSRF     string
	User     string
	// Fresh: the second factor is recent enough that a change happens at
	// once; otherwise the page says a confirmation comes first.
	Fresh bool
	// Done is the note of the change just made (translated).
	Done string

	TOTP        bool
	TOTPAdded   time.Time
	TOTPAllowed bool
	Passkeys    []passkeyRow
	Phone       string // masked
	// PasskeyAdd: passkeys can be added here; Options is the ceremony's
	// options JSON (the add page).
	PasskeyAdd bool
	Options    string
	// PhoneChange: a new number can be confirmed by text message here.
	PhoneChange  bool
	RecoveryLeft int
	// CanRemove: the user has more than one factor (or may have none).
	CanRemove bool
	Devices   []deviceRow
	SignIns   []signInRow

	// The confirmation pages.
	QR     template.URL
	Secret string
	Codes  []string
	Number string
	Sent   bool
	Digits int
}

type passkeyRow struct {
	ID, Name         string
	Added, LastUsed  time.Time
	Synced, Syncable bool
}

type deviceRow struct {
	ID, IP, Browser string
	Created, Seen   time.Time
}

type signInRow struct {
	At              time.Time
	IP, Browser, By string
}

// notes are the messages a finished change shows, by the key it redirects with.
var notes = map[string]string{
	"totp":            "Your new authenticator app is set up. The old one no longer works.",
	"totp-removed":    "The authenticator app was removed.",
	"phone":           "Your new phone number is confirmed.",
	"phone-removed":   "The phone number was removed.",
	"passkey-added":   "The passkey was added.",
	"passkey-renamed": "The passkey was renamed.",
	"passkey-removed": "The passkey was removed.",
	"device":          "The device was forgotten: it will be asked for a second factor again.",
	"sessions":        "Every other session was signed out. This one stays signed in.",
}

// factorNames are the sign-in methods as the page shows them.
var factorNames = map[string]string{
	"totp": "Authenticator app", "sms": "Text message", "recovery": "Recovery code",
	"webauthn": "Passkey", "device": "Remembered device",
}

// getPage shows the user's factors, devices and sign-ins.
func (h *Handler) getPage(w http.ResponseWriter, r *http.Request) {
	cl, ok := h.session(w, r)
	if !ok {
		return
	}
	d, err := h.overview(r, cl)
	if err != nil {
		h.storeFailed(w, r, "reading the security page", err)
		return
	}
	if note, ok := notes[r.URL.Query().Get("done")]; ok {
		d.Done = note
	}
	h.render(w, r, http.StatusOK, "account", d)
}

// overview reads everything the page lists.
func (h *Handler) overview(r *http.Request, cl gate.Claims) (pageData, error) {
	ctx := r.Context()
	d := pageData{Title: "Security", User: cl.User, CSRF: h.formToken(cl), Fresh: h.fresh(cl),
		TOTPAllowed: !h.opt.TOTPForbidden, PhoneChange: h.opt.Texter != nil, PasskeyAdd: h.opt.Passkeys != nil}
	enr, err := h.opt.Store.Enrollment(ctx, cl.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return d, err
	}
	d.TOTP, d.TOTPAdded = len(enr.TOTPSecret) > 0, enr.TOTPSetAt
	d.Phone, d.RecoveryLeft = phone.Mask(enr.Phone), len(enr.RecoveryHashes)
	pks, err := h.opt.Store.Passkeys(ctx, cl.User)
	if err != nil {
		return d, err
	}
	for _, p := range pks {
		d.Passkeys = append(d.Passkeys, passkeyRow{ID: base64.RawURLEncoding.EncodeToString(p.ID), Name: p.Name,
			Added: p.CreatedAt, LastUsed: p.LastUsed, Synced: p.BackupState, Syncable: p.BackupEligible})
	}
	d.CanRemove = h.opt.AllowNoFactor || factorCount(enr, len(pks)) > 1
	devs, err := h.opt.Store.Devices(ctx, cl.User)
	if err != nil {
		return d, err
	}
	for _, dv := range devs {
		if !h.deviceLive(dv, enr) {
			continue
		}
		d.Devices = append(d.Devices, deviceRow{ID: dv.ID, IP: dv.LastIP, Browser: browserName(dv.UserAgent), Created: dv.Created, Seen: dv.LastSeen})
	}
	ins, err := h.opt.Store.SignIns(ctx, cl.User, h.opt.SignInsShown)
	if err != nil {
		return d, err
	}
	for _, s := range ins {
		by := factorNames[s.Factor]
		if by == "" {
			by = s.Factor
		}
		d.SignIns = append(d.SignIns, signInRow{At: s.At, IP: s.IP, Browser: browserName(s.UserAgent), By: by})
	}
	return d, nil
}

// deviceLive reports whether a remembered device still skips the second
// factor: not forgotten, not revoked with all the user's devices, not from
// an earlier enrollment, not expired. The others are not listed.
func (h *Handler) deviceLive(d store.Device, enr store.Enrollment) bool {
	switch {
	case !d.Revoked.IsZero(), !d.Created.After(enr.DevicesRevoked), d.Created.Before(enr.CreatedAt):
		return false
	case h.opt.DeviceMaxAge > 0 && !h.opt.Now().Before(d.Created.Add(h.opt.DeviceMaxAge)):
		return false
	}
	return true
}

// factorCount is how many second factors the user has (recovery codes are
// a fallback, not a factor).
func factorCount(enr store.Enrollment, passkeys int) int {
	n := passkeys
	if len(enr.TOTPSecret) > 0 {
		n++
	}
	if enr.Phone != "" {
		n++
	}
	return n
}

// render writes a page in the request's language.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Lang = templates.Negotiate(r.Header.Get("Accept-Language"))
	tr := func(s string) string { return templates.T(d.Lang, s) }
	d.Title, d.Message, d.Error, d.Done = tr(d.Title), tr(d.Message), tr(d.Error), tr(d.Done)
	for i := range d.SignIns {
		d.SignIns[i].By = tr(d.SignIns[i].By)
	}
	b := h.brand.Load()
	d.Branded, d.Logo = b.accent, b.logo
	d.AppName, d.Prefix = h.opt.AppName, h.opt.Prefix
	w.Header().Set("Content-Language", d.Lang)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := h.pages[name].ExecuteTemplate(w, "layout", d); err != nil {
		h.log.ErrorContext(r.Context(), "rendering page", "page", name, "err", err)
	}
}

// message answers with a short page: a title, a message, a way back.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.render(w, r, status, "account_codes", pageData{Title: title, Message: msg})
}
