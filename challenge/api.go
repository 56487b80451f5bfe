package challenge

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/parseguard"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/store"
)

// Parse Server logins: the JSON challenge protocol for API clients, Parse's
// mfa-adapter protocol, and the browser page a Parse web app can send its
// user to. A held Parse login is never released to a browser page: the app
// completes it with POST <prefix>api/verify, so the session token never
// travels through a URL or a page.

var _ parseguard.Challenger = (*Handler)(nil)

// ticketName names the encrypted page ticket (a held login id in a URL).
const ticketName = "vestibule-parse-ticket"

// apiError is a Parse-shaped error answer of the JSON protocol.
type apiError struct {
	status int
	code   int
	msg    string
	reason string
	extra  map[string]any
}

func (e *apiError) reply() forward.Reply {
	body := map[string]any{"code": e.code, "error": e.msg}
	if e.reason != "" {
		body["reason"] = e.reason
	}
	for k, v := range e.extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	return forward.Reply{Status: e.status, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Cache-Control": {"no-store"}}, Body: b}
}

var (
	errExpired  = &apiError{status: http.StatusBadRequest, code: -1, msg: "This sign-in has expired or was already completed. Sign in again.", reason: "challenge_expired"}
	errTooMany  = &apiError{status: http.StatusTooManyRequests, code: 155, msg: "Too many wrong codes. For your security this sign-in was cancelled. Sign in again.", reason: "too_many_attempts"}
	errStore    = &apiError{status: http.StatusServiceUnavailable, code: 1, msg: "Sign-in is temporarily unavailable. Please try again in a moment.", reason: "unavailable"}
	errEnrolled = &apiError{status: http.StatusConflict, code: -1, msg: "A second factor is already set up for this user.", reason: "already_enrolled"}
)

// writeJSON answers a JSON protocol call with v (200).
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func writeReply(w http.ResponseWriter, rep forward.Reply) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	for k, v := range rep.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(rep.Status)
	w.Write(rep.Body)
}

// challengeBody describes a held Parse login to the client.
func (h *Handler) challengeBody(r *http.Request, held *store.Held) (map[string]any, error) {
	enr, err := h.opt.Durable.Enrollment(r.Context(), held.User)
	enrolled := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	methods := []string{} // [] rather than null in the answer
	if enrolled && len(enr.TOTPSecret) > 0 && h.totpOn() {
		methods = append(methods, "totp")
	}
	to, err := h.smsPhone(r.Context(), held)
	if err != nil {
		return nil, err
	}
	if enrolled && to != "" {
		methods = append(methods, "sms")
	}
	if enrolled && enr.Passkeys > 0 && h.passkeysOn() {
		methods = append(methods, factorWebAuthn) // in the browser page (url)
	}
	if enrolled && len(enr.RecoveryHashes) > 0 {
		methods = append(methods, "recovery")
	}
	ticket, err := securecookie.EncodeMulti(ticketName, held.ID, h.pending.Codecs...)
	if err != nil {
		return nil, err
	}
	body := map[string]any{
		"challenge": held.ID,
		"methods":   methods,
		"enroll":    !enrolled,
		"url":       h.opt.Origin + h.opt.Prefix + "parse?t=" + url.QueryEscape(ticket),
		"expiresAt": held.Expires.UTC().Format(time.RFC3339),
		"verifyUrl": h.opt.Origin + h.opt.Prefix + "api/verify",
	}
	if !enrolled {
		ways := []string{}
		if h.totpOn() {
			ways = append(ways, "totp")
		}
		if h.smsOn() && (to != "" || h.opt.SMS.SelfEnroll) {
			ways = append(ways, "sms")
		}
		if h.passkeysOn() {
			ways = append(ways, factorWebAuthn) // in the browser page (url)
		}
		body["enrollMethods"] = ways
		// Say up front when enrolling needs an invitation (or another
		// network), so the app can ask for it before calling api/enroll.
		if v := h.decide(r, held, ""); !v.Allowed {
			body["enrollRefusal"] = v.Reason
			if c := h.contact(); c != "" {
				body["contact"] = c
			}
		}
	}
	if to != "" {
		body["phone"] = phone.Mask(to)
	}
	return body, nil
}

// BeginParse implements parseguard.Challenger.
func (h *Handler) BeginParse(r *http.Request, held *store.Held, mfa parseguard.MFA) (forward.Reply, error) {
	if h.opt.Regulator != nil {
		if err := h.opt.Regulator.Banned(r.Context(), held.User, h.ip(r)); err != nil {
			if until, ok := regulate.IsBanned(err); ok {
				h.dropHeld(r, held, "banned")
				return (&apiError{status: http.StatusTooManyRequests, code: 155, reason: "too_many_attempts",
					msg: "Too many failed attempts. Try again later.", extra: map[string]any{"retryAt": until.UTC().Format(time.RFC3339)}}).reply(), nil
			}
			return errStore.reply(), nil
		}
	}
	body, err := h.challengeBody(r, held)
	if err != nil {
		return forward.Reply{}, err
	}
	if !mfa.Sent {
		e := &apiError{status: http.StatusBadRequest, code: -1, msg: "Missing additional authData mfa", reason: "second_factor_required", extra: body}
		return e.reply(), nil
	}
	if body["enroll"] == true {
		e := &apiError{status: http.StatusBadRequest, code: -1, msg: "Set up a second factor to finish signing in.", reason: "enrollment_required", extra: body}
		return e.reply(), nil
	}
	if mfa.Token == "request" {
		to, _ := h.smsPhone(r.Context(), held)
		if to == "" {
			return (&apiError{status: http.StatusBadRequest, code: -1, msg: "No phone number is set up for text-message codes.", reason: "no_phone", extra: body}).reply(), nil
		}
		if msg, status := h.sendCode(r, held, to, "login"); msg != "" {
			return (&apiError{status: status, code: -1, msg: h.tr(r, msg), reason: "sms_not_sent", extra: body}).reply(), nil
		}
		// The adapter's client logs in again with the code: that login
		// finds this one's code through the user.
		if err := h.opt.Ephemeral.PutToken(r.Context(), smsAlias(held.User), held.ID, held.Expires); err != nil {
			return errStore.reply(), nil
		}
		return (&apiError{status: http.StatusBadRequest, code: -1, msg: "Please enter the token", reason: "sms_sent", extra: body}).reply(), nil
	}
	rep, done := h.apiCheck(r, held, mfa.Token)
	if !done {
		return rep, nil
	}
	if rep.Status == 0 {
		// Accepted: a login held for an earlier "request" is done with.
		if prev, err := h.opt.Ephemeral.Token(r.Context(), smsAlias(held.User), h.opt.Now()); err == nil && prev != held.ID {
			if old, err := h.opt.Ephemeral.TakeHeld(r.Context(), prev); err == nil {
				h.abandon(r, old, "superseded")
			}
			h.opt.Ephemeral.DeleteToken(r.Context(), smsAlias(held.User))
		}
		return h.apiRelease(r, held.ID), nil
	}
	// A wrong code ends this login (the adapter's client signs in again).
	h.dropHeld(r, held, "code_rejected")
	return rep, nil
}

// smsAlias keys the held login whose text-message code a user's next
// mfa-adapter login may bring.
func smsAlias(user string) [32]byte {
	return sha256.Sum256([]byte("vestibule-parse-sms:" + user))
}

// dropHeld discards a held Parse login and logs it out at the app.
func (h *Handler) dropHeld(r *http.Request, held *store.Held, reason string) {
	if err := h.opt.Ephemeral.DeleteHeld(r.Context(), held.ID); err != nil {
		h.log.ErrorContext(r.Context(), "discarding held login", "event", "store_error", "err", err)
	}
	h.abandon(r, held, reason)
}

// apiCheck checks a code of an enrolled user (apiCodes: TOTP, a
// text-message code, or a recovery code). On success the held login is
// verified and the reply's Status is 0. A wrong code with attempts left
// answers invalid_code with done=true: the held login stays. done=false:
// the reply is final (expired, spent, banned, store down).
func (h *Handler) apiCheck(r *http.Request, held *store.Held, code string) (rep forward.Reply, done bool) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	res := h.checker.Check(ctx, h.attempt(r, held, apiCodes{h}, code))
	switch res.Kind {
	case Accepted:
		return forward.Reply{}, true
	case Wrong, Replayed:
		return apiWrong(res), true
	default:
		return apiFailed(res).reply(), false
	}
}

// apiWrong answers a wrong code with the attempts left.
func apiWrong(res Result) forward.Reply {
	return (&apiError{status: http.StatusBadRequest, code: -1, msg: "Invalid MFA token", reason: "invalid_code",
		extra: map[string]any{"attemptsLeft": res.Left}}).reply()
}

// apiFailed is the answer to a check that ended the sign-in or could not
// decide.
func apiFailed(res Result) *apiError {
	switch res.Kind {
	case Exhausted, Banned:
		return errTooMany
	case Expired:
		return errExpired
	case NotEnrolled:
		return &apiError{status: http.StatusBadRequest, code: -1, msg: "Set up a second factor first.", reason: "enrollment_required"}
	default:
		return errStore
	}
}

// apiCodes is the Method of the JSON protocol and the mfa adapter: the code
// says which factor it is. Digits are a TOTP code (when the user has an
// authenticator), else a text-message code (this login's, or the one an
// earlier adapter login asked for); anything else is a recovery code. A
// TOTP code of a used step is logged as a replay and then counts as wrong.
type apiCodes struct{ h *Handler }

// Factor names a rejected code of the JSON protocol in the audit log.
func (apiCodes) Factor() string { return "parse" }

// Verify: a user with no enrollment has nothing to check (errNotEnrolled,
// after the attempt was counted: a client sending codes for such a login
// earns a ban like any other guesser).
func (m apiCodes) Verify(ctx context.Context, a Attempt) (Proof, error) {
	h, held := m.h, a.Held
	if _, err := h.opt.Durable.Enrollment(ctx, held.User); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Proof{}, errNotEnrolled
		}
		return Proof{}, err
	}
	code := strings.TrimSpace(a.Code)
	digits := code != "" && strings.Trim(code, "0123456789 ") == ""
	a.Code = code
	if !digits {
		p, err := h.recovery.Verify(ctx, a)
		p.Factor = factorRecovery
		return p, err
	}
	a.Code = strings.ReplaceAll(code, " ", "")
	if h.totpOn() {
		switch p, err := h.totp.Verify(ctx, a); {
		case errors.Is(err, errNotEnrolled): // text messages only
		case err != nil:
			return Proof{}, err
		case p.Valid:
			p.Factor = factorTOTP
			return p, nil
		case p.Replayed:
			h.log.WarnContext(ctx, "TOTP code replayed", "event", audit.CodeReplayed, "user", held.User, "remote_ip", a.ClientIP, "user_agent", a.UserAgent)
		}
	}
	if h.smsOn() {
		ids := []string{held.ID}
		if prev, err := h.opt.Ephemeral.Token(ctx, smsAlias(held.User), h.opt.Now()); err == nil && prev != held.ID {
			ids = append(ids, prev)
		}
		for _, id := range ids {
			hd, err := h.opt.Ephemeral.Held(ctx, id)
			if err != nil || len(hd.SMSHash) == 0 {
				continue
			}
			if p, err := h.sms.Verify(ctx, Attempt{Held: hd, Code: a.Code}); err == nil && p.Valid {
				p.Factor = factorSMS
				return p, nil
			}
		}
	}
	return Proof{}, nil
}

// apiRelease registers the held login's session token as released and
// hands over the held answer, exactly once (TakeHeld).
func (h *Handler) apiRelease(r *http.Request, id string) forward.Reply {
	ctx := r.Context()
	held, err := h.opt.Ephemeral.Held(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errExpired.reply()
		}
		return errStore.reply()
	}
	if held.Verified.IsZero() || !held.IsAPI() {
		return (&apiError{status: http.StatusBadRequest, code: -1, msg: "Enter a code first.", reason: "code_required"}).reply()
	}
	// Registered before it is handed over: a crash in between leaves a
	// registered token nobody holds, never a token handed over unregistered.
	if err := h.opt.ParseTokens.Register(ctx, held.Session[parseguard.TokenKey], held.User); err != nil {
		h.log.ErrorContext(ctx, "registering released token", "event", "store_error", "err", err)
		return errStore.reply()
	}
	taken, done, err := h.take(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errExpired.reply()
		}
		return errStore.reply()
	}
	// The answer is complete in memory: the proxy writes it next.
	defer done()
	hd := taken.Response.Header.Clone()
	if hd == nil {
		hd = http.Header{}
	}
	hd.Set("Cache-Control", "no-store")
	h.log.InfoContext(ctx, "login released", "event", audit.LoginReleased, "user", taken.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent(), "kind", "parse")
	return forward.Reply{Status: taken.Response.Status, Header: hd, Body: taken.Response.Body}
}

// apiRequest is the body of a JSON protocol call.
type apiRequest struct {
	Challenge string `json:"challenge"`
	Code      string `json:"code"`
	Phone     string `json:"phone"`
	// Invite is an invitation token (enrollment.mode invite).
	Invite string `json:"invite"`
}

// apiLoad reads a JSON protocol call and its held Parse login.
func (h *Handler) apiLoad(w http.ResponseWriter, r *http.Request) (apiRequest, *store.Held, bool) {
	var q apiRequest
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil || q.Challenge == "" {
		writeReply(w, (&apiError{status: http.StatusBadRequest, code: 107, msg: `Send a JSON body with "challenge".`, reason: "bad_request"}).reply())
		return q, nil, false
	}
	held, err := h.opt.Ephemeral.Held(r.Context(), q.Challenge)
	if err != nil || !held.IsAPI() {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			writeReply(w, errStore.reply())
		} else {
			writeReply(w, errExpired.reply())
		}
		return q, nil, false
	}
	return q, held, true
}

// apiVerify: POST <prefix>api/verify {challenge, code}. A right code (or
// none, once the browser page or enrollment verified the login) answers
// with exactly the held login answer.
func (h *Handler) apiVerify(w http.ResponseWriter, r *http.Request) {
	q, held, ok := h.apiLoad(w, r)
	if !ok {
		return
	}
	if held.Verified.IsZero() {
		if strings.TrimSpace(q.Code) == "" {
			writeReply(w, (&apiError{status: http.StatusBadRequest, code: -1, msg: "Enter a code first.", reason: "code_required"}).reply())
			return
		}
		if rep, _ := h.apiCheck(r, held, q.Code); rep.Status != 0 {
			writeReply(w, rep)
			return
		}
	}
	writeReply(w, h.apiRelease(r, held.ID))
}

// apiSMS: POST <prefix>api/sms {challenge} sends a code to the user's phone.
func (h *Handler) apiSMS(w http.ResponseWriter, r *http.Request) {
	q, held, ok := h.apiLoad(w, r)
	if !ok || (h.enrollingPhone(r.Context(), held) && !h.apiMayEnroll(w, r, held, q.Invite)) {
		return
	}
	if !h.smsOn() {
		writeReply(w, (&apiError{status: http.StatusNotFound, code: -1, msg: "Text-message codes are not enabled.", reason: "sms_off"}).reply())
		return
	}
	to, err := h.smsPhone(r.Context(), held)
	if err != nil {
		writeReply(w, errStore.reply())
		return
	}
	if to == "" {
		writeReply(w, (&apiError{status: http.StatusBadRequest, code: -1, msg: "No phone number is set up for text-message codes.", reason: "no_phone"}).reply())
		return
	}
	h.apiSend(w, r, held, to, "login")
}

func (h *Handler) apiSend(w http.ResponseWriter, r *http.Request, held *store.Held, to, purpose string) {
	if msg, status := h.sendCode(r, held, to, purpose); msg != "" {
		writeReply(w, (&apiError{status: status, code: -1, msg: h.tr(r, msg), reason: "sms_not_sent"}).reply())
		return
	}
	writeJSON(w, map[string]any{"sent": true, "phone": phone.Mask(to), "expiresIn": int(h.opt.SMS.CodeTTL.Seconds())})
}

// apiEnrollTOTP: POST <prefix>api/enroll/totp {challenge} starts an
// authenticator enrollment: the secret, its otpauth URL and QR code.
func (h *Handler) apiEnrollTOTP(w http.ResponseWriter, r *http.Request) {
	q, held, ok := h.apiLoad(w, r)
	if !ok || !h.apiUnenrolled(w, r, held) || !h.apiMayEnroll(w, r, held, q.Invite) {
		return
	}
	if !h.totpOn() {
		writeReply(w, (&apiError{status: http.StatusNotFound, code: -1, msg: "Authenticator apps are not enabled.", reason: "totp_off"}).reply())
		return
	}
	var secret string
	if len(held.EnrollSecret) > 0 {
		b, err := h.opt.Sealer.Open(held.EnrollSecret, []byte(held.User))
		if err != nil {
			writeReply(w, errStore.reply())
			return
		}
		secret = string(b)
	} else {
		var err error
		if secret, err = factor.NewTOTPSecret(h.opt.Random); err != nil {
			writeReply(w, errStore.reply())
			return
		}
		sealed, err := h.opt.Sealer.Seal([]byte(secret), []byte(held.User))
		if err != nil {
			writeReply(w, errStore.reply())
			return
		}
		if err := h.opt.Ephemeral.SetHeldEnrollment(r.Context(), held.ID, sealed); err != nil {
			writeReply(w, errExpired.reply())
			return
		}
	}
	uri := factor.KeyURI(h.opt.AppName, accountName(held), secret)
	png, err := factor.QRCodePNG(uri, 200)
	if err != nil {
		writeReply(w, errStore.reply())
		return
	}
	writeJSON(w, map[string]any{"secret": secret, "otpauthUrl": uri, "qrPng": "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)})
}

// accountName names the user on the pages and in an authenticator app:
// the Parse username when Parse gave it (the login answer, or the guard
// asked), else the user id.
func accountName(held *store.Held) string {
	if held.Kind == store.KindParse {
		if n := held.Session[parseguard.UsernameKey]; n != "" {
			return n
		}
		var u struct {
			Username string `json:"username"`
		}
		if json.Unmarshal(held.Response.Body, &u) == nil && u.Username != "" {
			return u.Username
		}
	}
	return held.User
}

// apiEnrollSMS: POST <prefix>api/enroll/sms {challenge, phone} sends a
// confirmation code to the number (the one the app's user record gives
// when phone is empty; a typed one needs sms.self_enroll).
func (h *Handler) apiEnrollSMS(w http.ResponseWriter, r *http.Request) {
	q, held, ok := h.apiLoad(w, r)
	if !ok || !h.apiUnenrolled(w, r, held) || !h.apiMayEnroll(w, r, held, q.Invite) {
		return
	}
	if !h.smsOn() {
		writeReply(w, (&apiError{status: http.StatusNotFound, code: -1, msg: "Text-message codes are not enabled.", reason: "sms_off"}).reply())
		return
	}
	number := held.Phone
	if q.Phone != "" {
		if !h.opt.SMS.SelfEnroll {
			writeReply(w, (&apiError{status: http.StatusForbidden, code: -1, msg: "Your phone number comes from your account; it can't be typed here.", reason: "self_enroll_off"}).reply())
			return
		}
		number = q.Phone
	}
	to, err := phone.Parse(number, h.opt.SMS.DefaultRegion)
	if err != nil || !phone.Mobile(to) {
		writeReply(w, (&apiError{status: http.StatusBadRequest, code: -1, msg: "That is not a mobile number we can send text messages to. Include the country code.", reason: "bad_phone"}).reply())
		return
	}
	h.apiSend(w, r, held, to, "enroll")
}

// apiEnrollConfirm: POST <prefix>api/enroll/confirm {challenge, code}
// finishes an enrollment with its first code: the factor and fresh
// recovery codes are stored, the login is verified, and the recovery codes
// are answered once. POST api/verify {challenge} then releases the login.
func (h *Handler) apiEnrollConfirm(w http.ResponseWriter, r *http.Request) {
	q, held, ok := h.apiLoad(w, r)
	if !ok || !h.apiUnenrolled(w, r, held) || !h.apiMayEnroll(w, r, held, q.Invite) {
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	var codes []string
	var refused *apiError // the answer to an enrollment not stored
	a := h.attempt(r, held, apiEnrollCodes{h}, q.Code)
	a.Confirm = func(ctx context.Context, p Proof) error {
		now := h.opt.Now()
		e := store.Enrollment{User: held.User, CreatedAt: now, LastUsed: now, Phone: p.Phone}
		if p.Factor == factorTOTP {
			e.TOTPSecret, e.LastStep = held.EnrollSecret, p.Step
		}
		var err error
		if codes, e.RecoveryHashes, err = h.newRecoveryCodes(); err != nil {
			refused = errStore
			return err
		}
		refusal, err := h.enrollFirst(ctx, w, r, held, e, q.Invite)
		switch {
		case errors.Is(err, errRefused):
			refused = h.apiRefusal(r, refusal)
		case errors.Is(err, store.ErrExists):
			refused = errEnrolled
		case err != nil:
			refused = errStore
		}
		return err
	}
	res := h.checker.Check(ctx, a)
	switch {
	case res.Kind == Accepted:
	case res.Kind == Wrong:
		writeReply(w, apiWrong(res))
		return
	case res.Kind == Unavailable && refused != nil:
		writeReply(w, refused.reply())
		return
	default:
		writeReply(w, apiFailed(res).reply())
		return
	}
	writeJSON(w, map[string]any{"verified": true, "factor": res.Factor, "recoveryCodes": codes})
}

// apiEnrollCodes is the Method of api/enroll/confirm: the first code of
// the authenticator being set up (the secret sealed into the held login),
// else the text-message code sent to the number being enrolled.
type apiEnrollCodes struct{ h *Handler }

// Factor names a rejected enrollment code in the audit log.
func (apiEnrollCodes) Factor() string { return "enroll" }

func (m apiEnrollCodes) Verify(ctx context.Context, a Attempt) (Proof, error) {
	h, held := m.h, a.Held
	a.Code = strings.ReplaceAll(strings.TrimSpace(a.Code), " ", "")
	if len(held.EnrollSecret) > 0 {
		// A secret that does not open confirms nothing: wrong.
		if p, err := h.enrollTOTP.Verify(ctx, a); err == nil && p.Valid {
			p.Factor = factorTOTP
			return p, nil
		}
	}
	if len(held.SMSHash) > 0 && h.smsOn() {
		if p, err := h.sms.Verify(ctx, a); err == nil && p.Valid {
			if fresh, err := h.opt.Ephemeral.Held(ctx, held.ID); err == nil {
				if to, err := phone.Parse(fresh.Phone, h.opt.SMS.DefaultRegion); err == nil {
					return Proof{Valid: true, Factor: factorSMS, Phone: to}, nil
				}
			}
		}
	}
	return Proof{}, nil
}

// apiUnenrolled answers 409 for a user who already has a second factor: a
// held login never replaces an enrollment.
func (h *Handler) apiUnenrolled(w http.ResponseWriter, r *http.Request, held *store.Held) bool {
	_, err := h.opt.Durable.Enrollment(r.Context(), held.User)
	switch {
	case err == nil:
		writeReply(w, errEnrolled.reply())
		return false
	case !errors.Is(err, store.ErrNotFound):
		writeReply(w, errStore.reply())
		return false
	}
	return true
}

// apiPreflight answers CORS preflights of the JSON protocol: a Parse web
// app on another origin calls it with fetch. No cookies are involved; the
// challenge id in the body is the only credential.
func (h *Handler) apiPreflight(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	w.Header().Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// getTicketPage: GET <prefix>parse?t=TICKET, the browser page of a held
// Parse login. The ticket (encrypted, short-lived) becomes the pending
// cookie and the browser goes on to the usual code or enrollment page,
// without the ticket in its address bar.
func (h *Handler) getTicketPage(w http.ResponseWriter, r *http.Request) {
	var id string
	if err := securecookie.DecodeMulti(ticketName, r.URL.Query().Get("t"), &id, h.pending.Codecs...); err != nil || id == "" {
		h.restart(w, r, "This link has expired. Please sign in again in the app.")
		return
	}
	held, err := h.opt.Ephemeral.Held(r.Context(), id)
	if err != nil || !held.IsAPI() || !held.Verified.IsZero() {
		h.restart(w, r, "This link has expired. Please sign in again in the app.")
		return
	}
	pc, err := h.pendingCookie(held.ID)
	if err != nil {
		h.ErrorPage(w, r, http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, pc)
	http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther)
}

// verifiedInBrowser ends the page flow of a verified Parse login: the app, not the
// browser, takes the session (POST api/verify).
func (h *Handler) verifiedInBrowser(w http.ResponseWriter, r *http.Request, held *store.Held) {
	http.SetCookie(w, h.clearPending())
	h.log.InfoContext(r.Context(), "Parse login verified in the browser; waiting for the app to complete it", "event", "parse_page_verified", "user", held.User, "remote_ip", h.ip(r))
	h.render(w, r, http.StatusOK, "message", pageData{Title: "You're verified", Message: "You're verified. Go back to the app to finish signing in."})
}
