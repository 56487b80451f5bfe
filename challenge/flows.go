package challenge

import (
	"context"
	"github.com/vestibule-gw/vestibule/audit"
	"maps"
	"net/url"
	"slices"
	"time"

	"encoding/base64"
	"errors"
	"fmt"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/regulate"
	"html/template"
	"net/http"
	"strings"

	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/templates"
)

// genericFailure is all a user learns about a rejected code.
const genericFailure = "That code is not valid."

func (h *Handler) getVerify(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok {
		return
	}
	enr, err := h.opt.Durable.Enrollment(r.Context(), held.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	to, perr := h.smsPhone(r.Context(), held)
	if perr != nil {
		h.storeFailed(w, r, "reading enrollment", perr)
		return
	}
	if err != nil && !h.mayEnroll(w, r, held) {
		return
	}
	switch {
	case err != nil && h.onlySMS() && to == "":
		http.Redirect(w, r, h.opt.Prefix+"enroll-phone", http.StatusSeeOther)
		return
	case err != nil && h.onlySMS():
		http.Redirect(w, r, h.opt.Prefix+"sms", http.StatusSeeOther)
		return
	case err != nil:
		http.Redirect(w, r, h.opt.Prefix+"enroll", http.StatusSeeOther)
		return
	case len(enr.TOTPSecret) == 0 || !h.totpOn():
		if to == "" {
			h.restartStatus(w, r, http.StatusConflict, "Your account has no way to receive a code. Ask your administrator to set your phone number.")
			return
		}
		http.Redirect(w, r, h.opt.Prefix+"sms", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "verify", pageData{Title: "Two-factor sign-in", CSRF: st.CSRF, User: accountName(held), SMS: to != "", Phone: phone.Mask(to)})
}

func (h *Handler) postVerify(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok || !h.checkForm(w, r, st) {
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	enr, err := h.opt.Durable.Enrollment(ctx, held.User)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			http.Redirect(w, r, h.opt.Prefix+"enroll", http.StatusSeeOther)
			return
		}
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	if len(enr.TOTPSecret) == 0 || !h.totpOn() {
		http.Redirect(w, r, h.opt.Prefix+"sms", http.StatusSeeOther)
		return
	}
	secret, err := h.opt.Sealer.Open(enr.TOTPSecret, []byte(held.User))
	if err != nil {
		h.log.ErrorContext(r.Context(), "opening TOTP secret failed (wrong encryption key?)", "event", "secret_unreadable", "user", held.User)
		h.ErrorPage(w, r, http.StatusServiceUnavailable)
		return
	}
	// The code of a step already used is no guess: say so, count nothing.
	if h.replayedTOTP(enr, string(secret), r.PostForm.Get("code")) {
		h.replayed(w, r, held, st, nil)
		return
	}
	n, reg, ok := h.attempt(w, r, held)
	if !ok {
		return
	}
	valid, replay, err := h.checkTOTP(ctx, r, held.User, string(secret), r.PostForm.Get("code"))
	if err != nil {
		h.storeFailed(w, r, "recording TOTP step", err)
		return
	}
	if replay { // another request used this step a moment ago
		h.replayed(w, r, held, st, reg)
		return
	}
	if !valid {
		h.rejected(w, r, held, n, reg, "verify", st, "totp")
		return
	}
	h.log.InfoContext(r.Context(), "second factor accepted", "event", audit.CodeAccepted, "factor", "totp", "user", held.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	h.verifiedRelease(w, r, held, reg, "totp")
}

// useTOTP checks a TOTP code against the user's secret and consumes its
// time step (a code, or an earlier one, never works twice).
func (h *Handler) useTOTP(ctx context.Context, r *http.Request, user, secret, code string) (bool, error) {
	valid, _, err := h.checkTOTP(ctx, r, user, secret, code)
	return valid, err
}

// checkTOTP is useTOTP that also tells a replay (the code of a step
// already used) from a wrong code.
func (h *Handler) checkTOTP(ctx context.Context, r *http.Request, user, secret, code string) (valid, replayed bool, err error) {
	now := h.opt.Now()
	step, ok := h.opt.TOTP.Verify(secret, code, now)
	if !ok {
		return false, false, nil
	}
	err = h.opt.Durable.UseTOTPStep(ctx, user, step, now)
	if errors.Is(err, store.ErrReplay) {
		h.log.WarnContext(ctx, "TOTP code replayed", "event", audit.CodeReplayed, "user", user, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
		return false, true, nil
	}
	return err == nil, false, err
}

func (h *Handler) getRecovery(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "recovery", pageData{Title: "Use a recovery code", CSRF: st.CSRF, User: accountName(held)})
}

func (h *Handler) postRecovery(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok || !h.checkForm(w, r, st) {
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	n, reg, ok := h.attempt(w, r, held)
	if !ok {
		return
	}
	code, valid := factor.NormalizeRecoveryCode(r.PostForm.Get("code"))
	remaining := 0
	if valid {
		var err error
		remaining, err = h.opt.Durable.UseRecoveryCode(ctx, held.User, factor.HashRecoveryCode(code), h.opt.Now())
		switch {
		case errors.Is(err, store.ErrNotFound):
			valid = false
		case err != nil:
			h.storeFailed(w, r, "using recovery code", err)
			return
		}
	}
	if !valid {
		h.rejected(w, r, held, n, reg, "recovery", st, "recovery")
		return
	}
	h.log.InfoContext(r.Context(), "recovery code used", "event", audit.RecoveryCodeUsed, "user", held.User, "remaining", remaining, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	h.verifiedRelease(w, r, held, reg, "recovery")
}

func (h *Handler) getEnroll(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok {
		return
	}
	if h.enrolled(w, r, held) || !h.mayEnroll(w, r, held) {
		return
	}
	to, err := h.smsPhone(r.Context(), held)
	if err != nil {
		h.storeFailed(w, r, "reading enrollment", err)
		return
	}
	if !h.totpOn() {
		if to != "" {
			http.Redirect(w, r, h.opt.Prefix+"sms", http.StatusSeeOther)
		} else {
			http.Redirect(w, r, h.opt.Prefix+"enroll-phone", http.StatusSeeOther)
		}
		return
	}
	var secret string
	if len(held.EnrollSecret) > 0 {
		b, err := h.opt.Sealer.Open(held.EnrollSecret, []byte(held.User))
		if err != nil {
			h.log.ErrorContext(r.Context(), "opening enrollment secret", "event", "secret_unreadable", "user", held.User)
			h.ErrorPage(w, r, http.StatusServiceUnavailable)
			return
		}
		secret = string(b)
	} else {
		var err error
		if secret, err = factor.NewTOTPSecret(h.opt.Random); err != nil {
			h.log.ErrorContext(r.Context(), "making TOTP secret", "err", err)
			h.ErrorPage(w, r, http.StatusServiceUnavailable)
			return
		}
		sealed, err := h.opt.Sealer.Seal([]byte(secret), []byte(held.User))
		if err != nil {
			h.log.ErrorContext(r.Context(), "sealing TOTP secret", "err", err)
			h.ErrorPage(w, r, http.StatusServiceUnavailable)
			return
		}
		if err := h.opt.Ephemeral.SetHeldEnrollment(r.Context(), held.ID, sealed); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				h.restart(w, r, "Your sign-in has expired. Please sign in again.")
				return
			}
			h.storeFailed(w, r, "storing enrollment secret", err)
			return
		}
	}
	uri := factor.KeyURI(h.opt.AppName, accountName(held), secret)
	png, err := factor.QRCodePNG(uri, 200)
	if err != nil {
		h.log.ErrorContext(r.Context(), "making QR code", "err", err)
		h.ErrorPage(w, r, http.StatusInternalServerError)
		return
	}
	h.render(w, r, http.StatusOK, "enroll", pageData{
		Title:  "Set up two-factor sign-in",
		CSRF:   st.CSRF,
		User:   accountName(held),
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		Secret: factor.GroupKey(secret),
		SMS:    h.smsOn() && (to != "" || h.opt.SMS.SelfEnroll),
		Phone:  phone.Mask(to),
	})
}

func (h *Handler) postEnroll(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok || !h.checkForm(w, r, st) {
		return
	}
	if h.enrolled(w, r, held) || !h.mayEnroll(w, r, held) {
		return
	}
	if len(held.EnrollSecret) == 0 {
		http.Redirect(w, r, h.opt.Prefix+"enroll", http.StatusSeeOther)
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	n, reg, ok := h.attempt(w, r, held)
	if !ok {
		return
	}
	secret, err := h.opt.Sealer.Open(held.EnrollSecret, []byte(held.User))
	if err != nil {
		h.log.ErrorContext(r.Context(), "opening enrollment secret", "event", "secret_unreadable", "user", held.User)
		h.ErrorPage(w, r, http.StatusServiceUnavailable)
		return
	}
	now := h.opt.Now()
	step, valid := h.opt.TOTP.Verify(string(secret), r.PostForm.Get("code"), now)
	if !valid {
		h.rejected(w, r, held, n, reg, "enroll", st, "totp")
		return
	}
	if reg != nil {
		reg.Succeed(ctx)
	}
	codes, hashes, err := h.newRecoveryCodes()
	if err != nil {
		h.log.ErrorContext(r.Context(), "making recovery codes", "err", err)
		h.ErrorPage(w, r, http.StatusServiceUnavailable)
		return
	}
	refusal, err := h.enrollFirst(ctx, w, r, held, store.Enrollment{
		User:           held.User,
		TOTPSecret:     held.EnrollSecret,
		LastStep:       step,
		RecoveryHashes: hashes,
		CreatedAt:      now,
		LastUsed:       now,
	}, h.inviteFromCookie(r))
	if errors.Is(err, errRefused) {
		h.refusedPage(w, r, refusal)
		return
	}
	if errors.Is(err, store.ErrExists) {
		// Another sign-in of this user enrolled first: use that factor.
		http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther)
		return
	}
	if err != nil {
		h.storeFailed(w, r, "storing enrollment", err)
		return
	}
	if err := h.opt.Ephemeral.MarkHeldVerified(ctx, held.ID, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.restart(w, r, "You are enrolled, but this sign-in has expired. Please sign in again.")
			return
		}
		h.storeFailed(w, r, "marking login verified", err)
		return
	}
	h.render(w, r, http.StatusOK, "codes", pageData{Title: "Save your recovery codes", CSRF: st.CSRF, User: accountName(held), Codes: codes})
}

func (h *Handler) postRelease(w http.ResponseWriter, r *http.Request) {
	st, held, ok := h.load(w, r)
	if !ok || !h.checkForm(w, r, st) {
		return
	}
	if held.Verified.IsZero() {
		http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther)
		return
	}
	if held.Kind == store.KindParse {
		h.parseDone(w, r, held)
		return
	}
	// Verified by a first enrollment: its factor.
	by := "sms"
	if enr, err := h.opt.Durable.Enrollment(r.Context(), held.User); err == nil && len(enr.TOTPSecret) > 0 {
		by = "totp"
	}
	h.release(w, r, held.ID, by)
}

// enrolled redirects to the code page when the user already has a factor:
// a held login never replaces an existing enrollment.
func (h *Handler) enrolled(w http.ResponseWriter, r *http.Request, held *store.Held) bool {
	_, err := h.opt.Durable.Enrollment(r.Context(), held.User)
	switch {
	case err == nil:
		http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther)
		return true
	case errors.Is(err, store.ErrNotFound):
		return false
	default:
		h.storeFailed(w, r, "reading enrollment", err)
		return true
	}
}

// attempt counts one code attempt against the held login before the code is
// looked at. It returns the attempt number, or false (page written) when the
// login is gone or its budget is spent.
func (h *Handler) attempt(w http.ResponseWriter, r *http.Request, held *store.Held) (int, *regulate.Attempt, bool) {
	n, err := h.opt.Ephemeral.HeldAttempt(r.Context(), held.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.restart(w, r, "Your sign-in has expired. Please sign in again.")
			return 0, nil, false
		}
		h.storeFailed(w, r, "counting attempt", err)
		return 0, nil, false
	}
	if n > h.opt.MaxAttempts {
		h.discard(w, r, held)
		return n, nil, false
	}
	if h.opt.Regulator == nil {
		return n, nil, true
	}
	reg, err := h.opt.Regulator.Begin(r.Context(), held.User, h.ip(r))
	if err != nil {
		if until, ok := regulate.IsBanned(err); ok {
			h.banned(w, r, held, until)
		} else {
			h.storeFailed(w, r, "counting attempt", err)
		}
		return n, nil, false
	}
	return n, reg, true
}

// banned ends the held login of a banned user or address.
func (h *Handler) banned(w http.ResponseWriter, r *http.Request, held *store.Held, until time.Time) {
	if err := h.opt.Ephemeral.DeleteHeld(r.Context(), held.ID); err != nil {
		h.log.ErrorContext(r.Context(), "discarding held login", "event", "store_error", "err", err)
	}
	h.abandon(r, held, "banned")
	http.SetCookie(w, h.clearPending())
	h.BannedPage(w, r, until)
}

func (h *Handler) abandon(r *http.Request, held *store.Held, reason string) {
	if h.opt.OnAbandon != nil {
		h.opt.OnAbandon(r.Context(), held, reason)
	}
}

// rejected answers a wrong code: the page again with a generic message, or,
// when that was the last attempt, the held login is discarded.
func (h *Handler) rejected(w http.ResponseWriter, r *http.Request, held *store.Held, n int, reg *regulate.Attempt, page string, st pendingState, factorName string) {
	h.log.WarnContext(r.Context(), "second factor rejected", "event", audit.CodeRejected, "factor", factorName, "user", held.User,
		"attempt", n, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	if reg != nil {
		if err := reg.Fail(r.Context()); err != nil {
			if until, ok := regulate.IsBanned(err); ok {
				h.banned(w, r, held, until)
				return
			}
			h.log.ErrorContext(r.Context(), "recording failed attempt", "event", "store_error", "err", err)
		}
	}
	if n >= h.opt.MaxAttempts {
		h.discard(w, r, held)
		return
	}
	d := pageData{CSRF: st.CSRF, User: accountName(held),
		Error: h.tr(r, genericFailure) + " " + fmt.Sprintf(h.tr(r, "%d attempts left."), h.opt.MaxAttempts-n)}
	switch page {
	case "verify":
		d.Title = "Two-factor sign-in"
	case "recovery":
		d.Title = "Use a recovery code"
	case "enroll":
		// Show the same key again so the user can retry.
		http.Redirect(w, r, h.opt.Prefix+"enroll?retry=1", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusUnauthorized, page, d)
}

func (h *Handler) discard(w http.ResponseWriter, r *http.Request, held *store.Held) {
	if err := h.opt.Ephemeral.DeleteHeld(r.Context(), held.ID); err != nil {
		h.log.ErrorContext(r.Context(), "discarding held login", "event", "store_error", "err", err)
	}
	h.log.WarnContext(r.Context(), "held login discarded after too many attempts", "event", audit.AttemptsExhausted, "user", held.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	h.abandon(r, held, "attempts_exhausted")
	http.SetCookie(w, h.clearPending())
	h.render(w, r, http.StatusTooManyRequests, "message", pageData{
		Title:    "Too many attempts",
		Message:  "Too many wrong codes. For your security this sign-in was cancelled. Please sign in again.",
		LoginURL: h.opt.LoginURL,
	})
}

// verifiedRelease marks the held login verified and releases it; by is the
// factor that passed (for the sign-in record).
func (h *Handler) verifiedRelease(w http.ResponseWriter, r *http.Request, held *store.Held, reg *regulate.Attempt, by string) {
	if reg != nil {
		if err := reg.Succeed(r.Context()); err != nil {
			h.log.ErrorContext(r.Context(), "clearing failed attempts", "event", "store_error", "err", err)
		}
	}
	if err := h.opt.Ephemeral.MarkHeldVerified(r.Context(), held.ID, h.opt.Now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.restart(w, r, "Your sign-in has expired. Please sign in again.")
			return
		}
		h.storeFailed(w, r, "marking login verified", err)
		return
	}
	if held.Kind == store.KindParse {
		h.parseDone(w, r, held)
		return
	}
	h.release(w, r, held.ID, by)
}

// release hands the held login answer to the browser, exactly once, with a
// gate cookie bound to its app session. The held login is taken from the
// store atomically first, behind a release journal (see take): a crash
// before the answer is out ends that app session at the app.
func (h *Handler) release(w http.ResponseWriter, r *http.Request, id, by string) {
	held, done, err := h.take(r.Context(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.restart(w, r, "Your sign-in has expired or was already completed. Please sign in again.")
			return
		}
		h.storeFailed(w, r, "releasing held login", err)
		return
	}
	if held.Verified.IsZero() {
		done()
		h.log.WarnContext(r.Context(), "release of an unverified login refused", "event", "release_refused", "user", held.User)
		h.restart(w, r, "Please sign in again.")
		return
	}
	remember := h.opt.Device != nil && r.PostFormValue("remember") != ""
	hd := w.Header()
	// The held answer is the app's page, not a gate page.
	for _, k := range []string{"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"} {
		hd.Del(k)
	}
	if err := h.released(r, held, held.Verified, remember, hd, by); err != nil {
		// Taken but not handed over: the journal copy stays, and the
		// janitor ends the session at the app when it expires.
		h.log.ErrorContext(r.Context(), "issuing gate cookie", "err", err)
		h.ErrorPage(w, r, http.StatusInternalServerError)
		return
	}
	w.WriteHeader(held.Response.Status)
	if r.Method != http.MethodHead {
		w.Write(held.Response.Body)
	}
	http.NewResponseController(w).Flush()
	done()
}

// released writes into hd the headers of a released login: the held
// answer's (its redirect kept on this site), the held app session cookies,
// the gate cookie bound to them, optionally a remembered-device cookie, and
// the pending cookie cleared. The sign-in is recorded, by factor by.
func (h *Handler) released(r *http.Request, held *store.Held, verified time.Time, remember bool, hd http.Header, by string) error {
	c, err := h.opt.Cookies.Cookie(held.User, gate.BindingMap(held.Session), verified)
	if err != nil {
		return err
	}
	for k, v := range held.Response.Header {
		hd[k] = append([]string(nil), v...)
	}
	if loc := hd.Get("Location"); loc != "" {
		if safe := h.safeLocation(loc); safe != loc {
			h.log.WarnContext(r.Context(), "held answer redirects off this site; sending the user to / instead",
				"event", "redirect_refused", "user", held.User)
			hd.Set("Location", safe)
		}
	}
	hd.Set("Cache-Control", "no-store")
	// The browser must end up with exactly the app session the gate cookie
	// is bound to. An app that kept its pre-login id (PHP) sets no cookie
	// on login, and anonymous requests made while the login was held may
	// have been given a fresh id since: hand the held one back.
	setByApp := map[string]bool{}
	for _, sc := range held.Response.Header["Set-Cookie"] {
		if ck, err := http.ParseSetCookie(sc); err == nil {
			setByApp[ck.Name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(held.Session)) {
		// ":authorization" is the HTTP Basic credential the browser
		// already sends; it is no cookie.
		if !setByApp[name] && !strings.HasPrefix(name, ":") {
			hd.Add("Set-Cookie", (&http.Cookie{Name: name, Value: held.Session[name], Path: "/", HttpOnly: true,
				Secure: h.opt.Secure, SameSite: http.SameSiteLaxMode}).String())
		}
	}
	hd.Add("Set-Cookie", c.String())
	if remember {
		dc, err := h.deviceCookie(r, held.User, verified)
		if err != nil {
			return err
		}
		hd.Add("Set-Cookie", dc.String())
		h.log.InfoContext(r.Context(), "device remembered", "event", "device_remembered", "user", held.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	}
	hd.Add("Set-Cookie", h.clearPending().String())
	h.log.InfoContext(r.Context(), "login released", "event", audit.LoginReleased, "user", held.User, "remote_ip", h.ip(r), "user_agent", r.UserAgent())
	h.signedIn(r, held.User, by)
	return nil
}

// safeLocation keeps a redirect on this site: a path, or an absolute URL of
// the gateway's own origin. Anything else (another host, a scheme-relative
// "//host", backslashes browsers read as slashes) becomes "/".
func (h *Handler) safeLocation(loc string) string {
	if strings.ContainsAny(loc, "\\\x00\r\n\t") {
		return "/"
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "/"
	}
	if u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		if h.opt.Origin != "" && u.Scheme+"://"+u.Host == h.opt.Origin && u.User == nil && u.Opaque == "" {
			return loc
		}
		return "/"
	}
	if strings.HasPrefix(loc, "//") {
		return "/"
	}
	if !strings.HasPrefix(loc, "/") {
		// Relative to the app's login page, not to the gate page the
		// browser is on now.
		return "/" + loc
	}
	return loc
}

// tr translates a message into the request's language.
func (h *Handler) tr(r *http.Request, msg string) string {
	return templates.T(templates.Negotiate(r.Header.Get("Accept-Language")), msg)
}

// newRecoveryCodes makes a fresh set and their hashes.
func (h *Handler) newRecoveryCodes() ([]string, [][]byte, error) {
	codes, err := factor.NewRecoveryCodes(h.opt.Random, h.opt.RecoveryCodes)
	if err != nil {
		return nil, nil, err
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		norm, _ := factor.NormalizeRecoveryCode(c)
		hashes[i] = factor.HashRecoveryCode(norm)
	}
	return codes, hashes, nil
}
