package challenge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/store"
)

// The passkey pages: the sign-in form on the code page (POST passkey), the
// enrollment choice (GET/POST enroll-passkey) and step-up (POST
// step-up/passkey). The browser's answer comes in the form field
// passkeyField; an empty one is no attempt (a browser without scripts can't
// send one), so it costs nothing and shows the page again.

// passkeyField is the form field static/passkey.js writes the answer into.
const passkeyField = "passkey_response"

// passkeyFailure is all a user learns about a refused passkey.
const passkeyFailure = "That passkey did not work."

// passkeyUsed: the answer came for a ceremony already used (sent twice).
const passkeyUsed = "That passkey answer was already used. Try again."

// passkeysOn reports whether passkeys are offered.
func (h *Handler) passkeysOn() bool { return h.passkeys != nil }

// passkeyLogin is the sign-in method for one ceremony session, kept until
// until.
func (h *Handler) passkeyLogin(session []byte, until time.Time) Method {
	return passkeyMethod{rp: h.opt.Passkeys, store: h.opt.Durable, marks: h.opt.Ephemeral, session: session, until: until,
		now: h.opt.Now, log: h.log}
}

// passkeySignIn begins a passkey sign-in of user with all their passkeys:
// its options and session; none when the user has no passkey.
func (h *Handler) passkeySignIn(ctx context.Context, user string) (options, session []byte, err error) {
	creds, err := h.opt.Durable.Passkeys(ctx, user)
	if err != nil || len(creds) == 0 {
		return nil, nil, err
	}
	return h.opt.Passkeys.BeginLogin(user, creds)
}

// beginPasskeyLogin begins a passkey sign-in for user and keeps its session
// in the pending cookie st; "" when the user has no passkey.
func (h *Handler) beginPasskeyLogin(w http.ResponseWriter, r *http.Request, st pendingState, user string) (string, error) {
	options, session, err := h.passkeySignIn(r.Context(), user)
	if err != nil || session == nil {
		return "", err
	}
	st.Passkey = session
	c, err := h.pendingCookieOf(st)
	if err != nil {
		// The session lists every passkey of the user: dozens of them
		// outgrow a cookie. The page goes on without the passkey.
		h.log.WarnContext(r.Context(), "passkey sign-in not offered: its session does not fit the pending cookie", "event", "passkey_session_too_large",
			"user", user, "err", err)
		return "", nil
	}
	http.SetCookie(w, c)
	return string(options), nil
}

// verifyPage renders the code page of an enrolled user: their passkey
// first, then the authenticator code, with text messages and recovery
// codes as the alternatives. A user with neither a passkey nor an
// authenticator goes to the text-message page (or learns there is no way).
func (h *Handler) verifyPage(w http.ResponseWriter, r *http.Request, st pendingState, held *store.Held, enr store.Enrollment, to string, status int, msg string) {
	totp := len(enr.TOTPSecret) > 0 && h.totpOn()
	var options string
	if h.passkeysOn() && enr.Passkeys > 0 {
		var err error
		if options, err = h.beginPasskeyLogin(w, r, st, held.User); err != nil {
			h.storeFailed(w, r, "beginning passkey sign-in", err)
			return
		}
	}
	if !totp && options == "" {
		if to == "" {
			h.restartStatus(w, r, http.StatusConflict, "Your account has no way to receive a code. Ask your administrator to set your phone number.")
			return
		}
		http.Redirect(w, r, h.opt.Prefix+"sms", http.StatusSeeOther)
		return
	}
	h.render(w, r, status, "verify", pageData{Title: "Two-factor sign-in", CSRF: st.CSRF, User: accountName(held), SMS: to != "",
		Phone: phone.Mask(to), TOTP: totp, Passkey: options, PasskeyAction: "passkey", Error: msg})
}

// verifyAgain shows the code page again after an attempt, with msg.
func (h *Handler) verifyAgain(w http.ResponseWriter, r *http.Request, st pendingState, held *store.Held, status int, msg string) {
	enr, err := h.opt.Durable.Enrollment(r.Context(), held.User)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther)
			return
		}
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	to, err := h.smsPhone(r.Context(), held)
	if err != nil {
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	h.verifyPage(w, r, st, held, enr, to, status, msg)
}

// attemptsLeft is the message of a wrong attempt with attempts left.
func (h *Handler) attemptsLeft(r *http.Request, failure string, res Result) string {
	return h.tr(r, failure) + " " + fmt.Sprintf(h.tr(r, "%d attempts left."), res.Left)
}

// postPasskey checks a passkey sign-in on a held login.
func (h *Handler) postPasskey(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok || !h.checkForm(w, r, st) {
		return
	}
	response := r.PostForm.Get(passkeyField)
	if !h.passkeysOn() || strings.TrimSpace(response) == "" {
		http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther)
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	res := h.checker.Check(ctx, h.attempt(r, held, h.passkeyLogin(st.Passkey, held.Expires), response))
	// Not enrolled: the passkey was removed a moment ago.
	h.verifyResult(w, r, st, held, res, passkeyFailure, passkeyUsed, "verify")
}

// verifyResult answers a sign-in check on the code page: the release, or
// the page again with failure (and the attempts left) or replayed, or
// notEnrolled's page, or why not.
func (h *Handler) verifyResult(w http.ResponseWriter, r *http.Request, st pendingState, held *store.Held, res Result, failure, replayed, notEnrolled string) {
	switch res.Kind {
	case Accepted:
		h.verified(w, r, held, res.Factor)
	case Wrong:
		h.verifyAgain(w, r, st, held, http.StatusUnauthorized, h.attemptsLeft(r, failure, res))
	case Replayed:
		h.verifyAgain(w, r, st, held, http.StatusUnauthorized, h.tr(r, replayed))
	case NotEnrolled:
		http.Redirect(w, r, h.opt.Prefix+notEnrolled, http.StatusSeeOther)
	default:
		h.checkFailed(w, r, res)
	}
}

// getEnrollPasskey offers a first passkey instead of an authenticator app.
func (h *Handler) getEnrollPasskey(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok || !h.mayEnrollPasskey(w, r, held) {
		return
	}
	h.enrollPasskeyPage(w, r, st, held, http.StatusOK, "")
}

// mayEnrollPasskey: passkeys are on, the user has no factor yet and the
// policy allows a first one; otherwise it answers and returns false.
func (h *Handler) mayEnrollPasskey(w http.ResponseWriter, r *http.Request, held *store.Held) bool {
	if !h.passkeysOn() {
		http.Redirect(w, r, h.opt.Prefix+"enroll", http.StatusSeeOther)
		return false
	}
	return !h.enrolled(w, r, held) && h.mayEnroll(w, r, held)
}

func (h *Handler) enrollPasskeyPage(w http.ResponseWriter, r *http.Request, st pendingState, held *store.Held, status int, msg string) {
	options, session, err := h.passkeys.Begin(r.Context(), held.User)
	if err != nil {
		h.storeFailed(w, r, "beginning passkey registration", err)
		return
	}
	st.Passkey = session
	c, err := h.pendingCookieOf(st)
	if err != nil {
		h.ErrorPage(w, r, http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, c)
	to, err := h.smsPhone(r.Context(), held)
	if err != nil {
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	h.render(w, r, status, "passkey", pageData{Title: "Set up a passkey", CSRF: st.CSRF, User: accountName(held), Passkey: string(options),
		PasskeyAction: "enroll-passkey", TOTP: h.totpOn(), SMS: h.smsOn() && (to != "" || h.opt.SMS.SelfEnroll), Phone: phone.Mask(to), Error: msg})
}

// postEnrollPasskey stores a first passkey, with recovery codes, as the
// user's enrollment (the same checks and policy as an authenticator's
// first code).
func (h *Handler) postEnrollPasskey(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok || !h.checkForm(w, r, st) || !h.mayEnrollPasskey(w, r, held) {
		return
	}
	response := r.PostForm.Get(passkeyField)
	if strings.TrimSpace(response) == "" {
		http.Redirect(w, r, h.opt.Prefix+"enroll-passkey", http.StatusSeeOther)
		return
	}
	m := enrollPasskeyMethod{reg: h.passkeys, session: st.Passkey, until: held.Expires, name: r.PostForm.Get("name")}
	h.enrollFirstFactor(w, r, st, held, h.attempt(r, held, m, response), firstFactor{
		enrollment: func(Proof) store.Enrollment { return store.Enrollment{User: held.User} },
		then: func(ctx context.Context, c *enrollConfirmation, p Proof) error {
			return h.addFirstPasskey(ctx, c, held, *p.Passkey)
		},
		again: func(res Result) {
			if res.Kind == Replayed {
				h.enrollPasskeyPage(w, r, st, held, http.StatusConflict, h.tr(r, passkeyUsed))
				return
			}
			h.enrollPasskeyPage(w, r, st, held, http.StatusUnauthorized, h.attemptsLeft(r, "The passkey could not be set up.", res))
		},
	})
}

// addFirstPasskey stores the passkey of a first enrollment just stored.
// When that fails the enrollment is taken back, so the user is not left
// enrolled with recovery codes they were never shown.
func (h *Handler) addFirstPasskey(ctx context.Context, c *enrollConfirmation, held *store.Held, p store.Passkey) error {
	err := h.opt.Durable.AddPasskey(ctx, p)
	if err == nil {
		return nil
	}
	c.stored = false
	if rerr := h.opt.Durable.Reset(context.WithoutCancel(ctx), held.User); rerr != nil {
		h.log.ErrorContext(ctx, "taking back an enrollment whose passkey was not stored", "event", "store_error", "user", held.User, "err", rerr)
	}
	c.answer = func() { h.storeFailed(c.w, c.r, "storing passkey", err) }
	return err
}

// stepUpPasskeyCookie carries the session of a step-up passkey ceremony
// (no held login, so no pending cookie), under the prefix.
const stepUpPasskeyCookie = "vestibule_step_up_passkey"

func (h *Handler) stepUpPasskeyCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: stepUpPasskeyCookie, Value: value, Path: h.opt.Prefix, MaxAge: maxAge, HttpOnly: true,
		Secure: h.opt.Secure, SameSite: http.SameSiteStrictMode}
}

// beginStepUpPasskey begins a passkey step-up for user and keeps the
// session in the step-up passkey cookie; "" when the user has no passkey.
func (h *Handler) beginStepUpPasskey(w http.ResponseWriter, r *http.Request, user string) (string, error) {
	options, session, err := h.passkeySignIn(r.Context(), user)
	if err != nil || session == nil {
		return "", err
	}
	encoded, err := securecookie.EncodeMulti(stepUpPasskeyCookie, session, h.pending.Codecs...)
	if err != nil {
		return "", fmt.Errorf("encoding step-up cookie: %w", err)
	}
	http.SetCookie(w, h.stepUpPasskeyCookie(encoded, int(h.opt.HoldTTL/time.Second)))
	return string(options), nil
}

// postStepUpPasskey checks a passkey for a signed-in session whose second
// factor is too old, as postStepUp checks a code.
func (h *Handler) postStepUpPasskey(w http.ResponseWriter, r *http.Request) {
	cl, next, ok := h.stepUpForm(w, r)
	if !ok {
		return
	}
	response := r.PostForm.Get(passkeyField)
	var session []byte
	if c, err := r.Cookie(stepUpPasskeyCookie); err == nil {
		if securecookie.DecodeMulti(stepUpPasskeyCookie, c.Value, &session, h.pending.Codecs...) != nil {
			session = nil
		}
	}
	if !h.passkeysOn() || strings.TrimSpace(response) == "" {
		http.Redirect(w, r, h.opt.Prefix+"step-up?next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	http.SetCookie(w, h.stepUpPasskeyCookie("", -1))
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	res := h.checker.Check(ctx, Attempt{User: cl.User, Budget: stepUpBudget(cl), Method: h.passkeyLogin(session, h.opt.Now().Add(h.opt.HoldTTL)),
		Code: response, ClientIP: h.ip(r), UserAgent: r.UserAgent()})
	h.stepUpResult(w, r, cl, "", next, res, passkeyFailure, passkeyUsed)
}
