package challenge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/sms"
	"github.com/vestibule-gw/vestibule/store"
)

// SMSOptions configure text-message codes. A nil *SMSOptions turns them off.
type SMSOptions struct {
	Sender      sms.Sender
	CodeLength  int
	CodeTTL     time.Duration
	MaxAttempts int // per code
	Cooldown    time.Duration
	// Per-hour send caps.
	PerUser, PerPhone, PerIP int
	AllowedCountries         []string
	Template                 *template.Template // .Code, .App
	// WebOTPHost, if set, adds the "@host #code" line browsers autofill.
	WebOTPHost    string
	DefaultRegion string
	SelfEnroll    bool
	// Required makes text messages the only factor; TOTPForbidden keeps
	// authenticator apps out.
	Required bool
	// CodeKeys are server keys (at least 32 bytes each, derived from the
	// encryption keys, the current one first) codes are stored under as
	// HMAC-SHA-256, so a store dump alone does not give a pending code.
	// The first makes new codes' MACs and names numbers in counter keys;
	// a code made under another still checks (key rotation). Required.
	CodeKeys [][]byte
	// Timeout bounds one send, for every sender alike: New runs Sender
	// behind sms.Guard with it (0: sms.DefaultTimeout).
	Timeout time.Duration
	// AllowNumberTypes are the phone.CostlyKinds codes may go to; numbers
	// of the other kinds are refused whatever AllowedCountries says.
	AllowNumberTypes []string
	// RetryAfter is how soon a send the provider did not accept may be
	// tried again (0: 5 s, never longer than Cooldown).
	RetryAfter time.Duration
}

// Keys of the text-message counters in the ephemeral store.
func smsCooldownKey(user string) string { return "sms-cooldown:" + user }
func smsUserKey(user string) string     { return "sms-user:" + user }
func smsIPKey(ip string) string         { return "sms-ip:" + ip }

// smsPhoneKey names a number's counter by a MAC of the number, so the
// counters hold no phone number.
func smsPhoneKey(codeKey []byte, e164 string) string {
	m := hmac.New(sha256.New, codeKey)
	m.Write([]byte("vestibule-sms-phone\x00" + e164))
	return "sms-phone:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// SMSUserCounters are the counter keys of a user's text-message limits
// (its cooldown and hourly cap, and its number's cap when phone is set),
// for an administrator's unlock.
func SMSUserCounters(codeKey []byte, user, phone string) []string {
	keys := []string{smsCooldownKey(user), smsUserKey(user)}
	if phone != "" {
		keys = append(keys, smsPhoneKey(codeKey, phone))
	}
	return keys
}

// SMSIPCounters are the counter keys of a client address's text-message
// cap, for an administrator's unlock.
func SMSIPCounters(ip string) []string { return []string{smsIPKey(ip)} }

// withSMSDefaults checks and completes the text-message options: a copy,
// with the sender behind sms.Guard.
func withSMSDefaults(o *SMSOptions) (*SMSOptions, error) {
	if o == nil {
		return nil, nil
	}
	c := *o
	if c.Sender == nil {
		return nil, errors.New("challenge: text messages without a sender")
	}
	if len(c.CodeKeys) == 0 {
		return nil, errors.New("challenge: text messages need a code key")
	}
	for _, k := range c.CodeKeys {
		if len(k) < 32 {
			return nil, errors.New("challenge: text messages need code keys of at least 32 bytes")
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = sms.DefaultTimeout
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 5 * time.Second
	}
	if c.Cooldown > 0 && c.RetryAfter > c.Cooldown {
		c.RetryAfter = c.Cooldown
	}
	c.Sender = sms.Guard(c.Sender, c.Timeout)
	return &c, nil
}

// Factor policy helpers.
func (h *Handler) smsOn() bool { return h.opt.SMS != nil }
func (h *Handler) totpOn() bool {
	return !h.opt.TOTPForbidden && (h.opt.SMS == nil || !h.opt.SMS.Required)
}
func (h *Handler) onlySMS() bool { return h.smsOn() && !h.totpOn() }

// smsPhone is where this login's codes go: the enrolled number, else the
// one the app gave at login. "" when there is none usable.
func (h *Handler) smsPhone(ctx context.Context, held *store.Held) (string, error) {
	if !h.smsOn() {
		return "", nil
	}
	enr, err := h.opt.Durable.Enrollment(ctx, held.User)
	switch {
	case err == nil && enr.Phone != "":
		return enr.Phone, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	if held.Phone != "" {
		if p, err := phone.Parse(held.Phone, h.opt.SMS.DefaultRegion); err == nil {
			return p, nil
		}
	}
	return "", nil
}

// smsHash is what is stored of a code: the code key's id (4 bytes) and an
// HMAC under that key, bound to the held login. stored is the hash on the
// held login being checked (nil when making one): its key id picks the key,
// so a code sent before a key rotation still checks.
func (h *Handler) smsHash(heldID, code string, stored []byte) []byte {
	key := h.opt.SMS.CodeKeys[0]
	if len(stored) > codeKeyIDLen {
		for _, k := range h.opt.SMS.CodeKeys {
			if id := codeKeyID(k); string(id) == string(stored[:codeKeyIDLen]) {
				key = k
				break
			}
		}
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("vestibule-sms-code\x00" + heldID + "\x00" + code))
	return m.Sum(codeKeyID(key))
}

const codeKeyIDLen = 4

// codeKeyID names a code key without showing it.
func codeKeyID(key []byte) []byte {
	sum := sha256.Sum256(append([]byte("vestibule-code-key-id\x00"), key...))
	return sum[:codeKeyIDLen:codeKeyIDLen]
}

// smsPage renders the text-message page: a button to send a code, or the
// code form once one was sent.
func (h *Handler) smsPage(w http.ResponseWriter, r *http.Request, status int, st pendingState, held *store.Held, to, errMsg, info string) {
	sent := len(held.SMSHash) > 0 && h.opt.Now().Before(held.SMSExpires)
	// A user still enrolling their number has no recovery codes yet.
	enr, err := h.opt.Durable.Enrollment(r.Context(), held.User)
	enrolled := err == nil
	h.render(w, r, status, "sms", pageData{Title: "Sign in with a text message", CSRF: st.CSRF, User: accountName(held),
		Phone: phone.Mask(to), Sent: sent, Error: errMsg, Message: info, TOTP: h.totpOn() && enrolled && len(enr.TOTPSecret) > 0,
		Recovery: enrolled && len(enr.RecoveryHashes) > 0, Digits: h.opt.SMS.CodeLength})
}

// smsLogin loads the held login of a text-message page (checking the form
// when post is true) and where its codes go; ok=false when the page was
// answered already.
func (h *Handler) smsLogin(w http.ResponseWriter, r *http.Request, post bool) (pendingState, *store.Held, string, bool) {
	st, held, ok := h.load(w, r)
	if !ok || (post && !h.checkForm(w, r, st)) {
		return st, nil, "", false
	}
	if !h.smsOn() {
		h.ErrorPage(w, r, http.StatusNotFound)
		return st, nil, "", false
	}
	to, err := h.smsPhone(r.Context(), held)
	if err != nil {
		h.storeFailed(w, r, "reading enrollment", err)
		return st, nil, "", false
	}
	if to == "" {
		http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther)
		return st, nil, "", false
	}
	// A first code to an unenrolled user enrolls the number: the policy
	// decides before anything is sent.
	if h.enrollingPhone(r.Context(), held) && !h.mayEnroll(w, r, held) {
		return st, nil, "", false
	}
	return st, held, to, true
}

func (h *Handler) getSMS(w http.ResponseWriter, r *http.Request) {
	if st, held, to, ok := h.smsLogin(w, r, false); ok {
		h.smsPage(w, r, http.StatusOK, st, held, to, "", "")
	}
}

// postSMSSend sends a code, within the cooldown and the hourly caps.
func (h *Handler) postSMSSend(w http.ResponseWriter, r *http.Request) {
	st, held, to, ok := h.smsLogin(w, r, true)
	if !ok {
		return
	}
	if msg, status := h.sendCode(r, held, to, "login"); msg != "" {
		held, _ = h.opt.Ephemeral.Held(r.Context(), held.ID)
		if held == nil {
			h.restart(w, r, "Your sign-in has expired. Please sign in again.")
			return
		}
		h.smsPage(w, r, status, st, held, to, msg, "")
		return
	}
	http.Redirect(w, r, h.opt.Prefix+"sms", http.StatusSeeOther)
}

// sendCode applies the limits, sends a fresh code to `to` and stores its
// hash on the held login. It returns a message for the page when it did not
// send (the held login is untouched then).
//
// The resend cooldown is reserved atomically before the provider is called,
// so concurrent sends for one user send one text; the hourly caps count the
// send at once too. Both are given back when the provider does not accept
// the message: the caps count only accepted sends, and a failed send may be
// tried again after RetryAfter.
func (h *Handler) sendCode(r *http.Request, held *store.Held, to, purpose string) (string, int) {
	return h.sendText(r, held.User, to, purpose, func(ctx context.Context, code string, now time.Time) bool {
		return h.opt.Ephemeral.SetHeldSMS(ctx, held.ID, to, h.smsHash(held.ID, code, nil), now, now.Add(h.opt.SMS.CodeTTL)) == nil
	})
}

// SendConfirmation sends a code to a number a signed-in user wants to use
// (the security page's phone change), under the same checks and limits as
// the sign-in codes. It returns the code, which the caller keeps (as a
// MAC) to check; or, when nothing was sent, a message for the user and a
// status.
func (h *Handler) SendConfirmation(r *http.Request, user, to string) (code, refusal string, status int) {
	if !h.smsOn() {
		return "", "Text messages are not used here.", http.StatusNotFound
	}
	refusal, status = h.sendText(r, user, to, "change", func(_ context.Context, c string, _ time.Time) bool {
		code = c
		return true
	})
	return code, refusal, status
}

// sendText is sendCode for any user: keep stores the code sent (false:
// the sign-in it was for is gone).
func (h *Handler) sendText(r *http.Request, user, to, purpose string, keep func(ctx context.Context, code string, now time.Time) bool) (string, int) {
	o := h.opt.SMS
	ctx := r.Context()
	now := h.opt.Now()
	ip := h.ip(r)
	masked := phone.Mask(to)
	const unavailable = "Sign-in is temporarily unavailable. Please try again in a moment."
	if !phone.Allowed(to, o.AllowedCountries) {
		h.log.WarnContext(ctx, "text message to a country not allowed", "event", audit.SMSRefused, "reason", "country",
			"user", user, "phone", masked, "region", phone.Region(to), "remote_ip", ip)
		return "Text messages can't be sent to numbers in this country. Please use another way to sign in.", http.StatusForbidden
	}
	if kind := phone.CostlyKind(to); kind != "" && !slices.Contains(o.AllowNumberTypes, kind) {
		h.log.WarnContext(ctx, "text message to a number type not allowed", "event", audit.SMSRefused, "reason", "number_type",
			"number_type", kind, "user", user, "phone", masked, "remote_ip", ip)
		return "Text messages can't be sent to this kind of number (satellite, international or premium-rate). Please use another way to sign in.", http.StatusForbidden
	}
	cool := smsCooldownKey(user)
	// The reservation covers the send itself, however long it takes.
	hold := max(o.Cooldown, o.Timeout+time.Second)
	until, ok, err := h.opt.Ephemeral.Reserve(ctx, cool, now, now.Add(hold))
	if err != nil {
		return unavailable, http.StatusServiceUnavailable
	}
	if !ok {
		return fmt.Sprintf(h.tr(r, "A code was sent just now. You can ask for another in %d seconds."), int((until.Sub(now)+time.Second-1)/time.Second)), http.StatusTooManyRequests
	}
	var counted []string
	// giveBack undoes the reservation and the counts of a send that did
	// not happen; after a failed one the user may retry after retryAfter.
	giveBack := func(retryAfter time.Duration) {
		bg := context.WithoutCancel(ctx)
		for _, k := range counted {
			if err := h.opt.Ephemeral.Unhit(bg, k, now); err != nil {
				h.log.WarnContext(ctx, "taking back a text-message count", "event", "store_error", "err", err)
			}
		}
		h.opt.Ephemeral.Unban(bg, cool)
		if retryAfter > 0 {
			h.opt.Ephemeral.Ban(bg, cool, h.opt.Now().Add(retryAfter))
		}
	}
	for _, c := range []struct {
		key   string
		limit int
		what  string
	}{{smsUserKey(user), o.PerUser, "user"}, {smsPhoneKey(o.CodeKeys[0], to), o.PerPhone, "phone"}, {smsIPKey(ip), o.PerIP, "ip"}} {
		n, err := h.opt.Ephemeral.Hit(ctx, c.key, now, time.Hour)
		if err != nil {
			giveBack(0)
			return unavailable, http.StatusServiceUnavailable
		}
		counted = append(counted, c.key)
		if n > c.limit {
			giveBack(0)
			h.log.WarnContext(ctx, "text message cap reached", "event", audit.SMSRefused, "reason", "cap_"+c.what,
				"user", user, "phone", masked, "remote_ip", ip)
			return "Too many text messages were sent for this sign-in recently. Please wait an hour or use another way to sign in.", http.StatusTooManyRequests
		}
	}
	code, err := factor.NumericCode(h.opt.Random, o.CodeLength)
	if err != nil {
		giveBack(0)
		return unavailable, http.StatusServiceUnavailable
	}
	var text strings.Builder
	o.Template.Execute(&text, map[string]string{"Code": code, "App": h.opt.AppName})
	if o.WebOTPHost != "" {
		fmt.Fprintf(&text, "\n\n@%s #%s", o.WebOTPHost, code)
	}
	// The sender is guarded (New): bounded by sms.timeout, a panic in a
	// provider SDK recovered, errors typed and redacted. A browser that
	// goes away does not cut a send short: the text may be on its way, and
	// the code it carries must be stored and the cooldown kept.
	ctx = context.WithoutCancel(ctx)
	if err := o.Sender.Send(ctx, sms.Message{To: to, Text: text.String(), Purpose: purpose}); err != nil {
		giveBack(o.RetryAfter)
		se := &sms.Error{Provider: o.Sender.Name(), Code: sms.CodeTransport, Detail: sms.Redact(err.Error())}
		errors.As(err, &se)
		h.log.WarnContext(ctx, "text message not sent", "event", audit.SMSFailed, "reason", se.Reason(), "provider", se.Provider,
			"provider_code", se.Code, "permanent", se.Permanent, "detail", se.Detail, "user", user, "phone", masked, "remote_ip", ip)
		return se.UserMessage(), http.StatusBadGateway
	}
	sent := h.opt.Now()
	if !keep(ctx, code, now) {
		return "Your sign-in has expired. Please sign in again.", http.StatusGone
	}
	if hold > o.Cooldown {
		// The reservation outlasts the configured cooldown: from now the
		// cooldown runs as configured.
		h.opt.Ephemeral.Unban(ctx, cool)
		if o.Cooldown > 0 {
			h.opt.Ephemeral.Ban(ctx, cool, sent.Add(o.Cooldown))
		}
	}
	h.log.InfoContext(ctx, "text message code sent", "event", audit.ChallengeSent, "factor", "sms", "purpose", purpose,
		"provider", o.Sender.Name(), "user", user, "phone", masked, "remote_ip", ip, "user_agent", r.UserAgent())
	return "", 0
}

// postSMS checks a text-message code. The first code of a user with no
// enrollment enrolls its number (finishPhoneEnrollment).
func (h *Handler) postSMS(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok || !h.checkForm(w, r, st) {
		return
	}
	if !h.smsOn() {
		h.ErrorPage(w, r, http.StatusNotFound)
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	var codes []string
	c := h.enrollConfirm(w, r)
	a := h.attempt(r, held, h.sms, r.PostForm.Get("code"))
	if h.enrollingPhone(ctx, held) {
		a.Confirm = func(ctx context.Context, _ Proof) error {
			var err error
			codes, err = h.finishPhoneEnrollment(ctx, c, held)
			return err
		}
	}
	res := h.checker.Check(ctx, a)
	switch {
	case res.Kind == Accepted && a.Confirm != nil:
		h.render(w, r, http.StatusOK, "codes", pageData{Title: "Save your recovery codes", CSRF: st.CSRF, User: accountName(held), Codes: codes})
	case res.Kind == Accepted:
		h.verified(w, r, held, res.Factor)
	case res.Kind == Wrong:
		fresh, err := h.opt.Ephemeral.Held(r.Context(), held.ID)
		if err == nil {
			held = fresh
		}
		// Two budgets: tries with this code, and attempts on this sign-in.
		msg := h.tr(r, genericFailure) + " " + fmt.Sprintf(h.tr(r, "%d attempts left with this code, %d for this sign-in."),
			max(0, h.opt.SMS.MaxAttempts-held.SMSAttempts), res.Left)
		switch res.Proof.SMS {
		case store.SMSExpired:
			msg = "That code has expired. Send a new one."
		case store.SMSExhausted:
			msg = "Too many attempts with this code. Send a new one."
		}
		to, _ := h.smsPhone(r.Context(), held)
		if held.Phone != "" && to == "" {
			to = held.Phone
		}
		h.smsPage(w, r, http.StatusUnauthorized, st, held, to, msg, "")
	case c.answered(res):
	default:
		h.checkFailed(w, r, res)
	}
}

// enrollingPhone reports whether the user has no enrollment yet: a first
// confirmed code then enrolls its number (trust on first use, as with an
// authenticator), so later codes go to that number even if the app's
// record of the phone changes.
func (h *Handler) enrollingPhone(ctx context.Context, held *store.Held) bool {
	_, err := h.opt.Durable.Enrollment(ctx, held.User)
	return errors.Is(err, store.ErrNotFound)
}

// finishPhoneEnrollment is the Confirm of a first text-message code: it
// stores the confirmed number with fresh recovery codes, and returns the
// codes to show once.
func (h *Handler) finishPhoneEnrollment(ctx context.Context, c *enrollConfirmation, held *store.Held) ([]string, error) {
	w, r := c.w, c.r
	fresh, err := h.opt.Ephemeral.Held(ctx, held.ID)
	if err == nil && fresh.Phone == "" {
		err = store.ErrNotFound
	}
	if err != nil {
		c.answer = func() { h.restart(w, r, "Your sign-in has expired. Please sign in again.") }
		return nil, err
	}
	to, err := phone.Parse(fresh.Phone, h.opt.SMS.DefaultRegion)
	if err != nil {
		c.answer = func() { h.restart(w, r, "Please sign in again.") }
		return nil, err
	}
	codes, hashes, err := c.recoveryCodes()
	if err != nil {
		return nil, err
	}
	now := h.opt.Now()
	return codes, c.save(ctx, held, store.Enrollment{User: held.User, Phone: to, RecoveryHashes: hashes, CreatedAt: now, LastUsed: now}, h.inviteFromCookie(r))
}

// mayEnrollPhone reports whether this held login may set up text messages
// as its first factor; if not, it has answered.
func (h *Handler) mayEnrollPhone(w http.ResponseWriter, r *http.Request, held *store.Held) bool {
	if !h.smsOn() || !h.opt.SMS.SelfEnroll {
		h.ErrorPage(w, r, http.StatusNotFound)
		return false
	}
	return !h.enrolled(w, r, held) && h.mayEnroll(w, r, held)
}

func (h *Handler) getEnrollPhone(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok {
		return
	}
	if !h.mayEnrollPhone(w, r, held) {
		return
	}
	h.render(w, r, http.StatusOK, "phone", pageData{Title: "Sign in with text messages", CSRF: st.CSRF, User: accountName(held), TOTP: h.totpOn()})
}

// postEnrollPhone takes a number the user typed, validates it and sends a
// confirmation code to it.
func (h *Handler) postEnrollPhone(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok || !h.checkForm(w, r, st) {
		return
	}
	if !h.mayEnrollPhone(w, r, held) {
		return
	}
	// After an error the form keeps what the user typed.
	typed := strings.TrimSpace(r.PostForm.Get("phone"))
	if len(typed) > 40 {
		typed = typed[:40]
	}
	to, err := phone.Parse(typed, h.opt.SMS.DefaultRegion)
	if err != nil || !phone.Mobile(to) {
		h.render(w, r, http.StatusBadRequest, "phone", pageData{Title: "Sign in with text messages", CSRF: st.CSRF, User: accountName(held), TOTP: h.totpOn(),
			Number: typed, Error: "That is not a mobile number we can send text messages to. Include the country code, e.g. +44 7400 123456."})
		return
	}
	if msg, status := h.sendCode(r, held, to, "enroll"); msg != "" {
		h.render(w, r, status, "phone", pageData{Title: "Sign in with text messages", CSRF: st.CSRF, User: accountName(held), TOTP: h.totpOn(), Number: typed, Error: msg})
		return
	}
	h.log.InfoContext(r.Context(), "phone enrollment started", "event", "enrollment_started", "factor", "sms", "user", held.User, "phone", phone.Mask(to))
	http.Redirect(w, r, h.opt.Prefix+"sms", http.StatusSeeOther)
}
