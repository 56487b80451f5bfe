package challenge

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/templates"
)

// genericFailure is all a user learns about a rejected code.
const genericFailure = "That code is not valid."

// replayedCode is what a user who sent a code twice learns: it was right,
// but its time step is used up. Not a guess, so not counted.
const replayedCode = "This code was already used. Wait for the next one from your app."

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
	case err != nil && h.onlySMS():
		http.Redirect(w, r, h.opt.Prefix+"sms", http.StatusSeeOther)
	case err != nil && h.onlyPasskeys():
		http.Redirect(w, r, h.opt.Prefix+"enroll-passkey", http.StatusSeeOther)
	case err != nil:
		http.Redirect(w, r, h.opt.Prefix+"enroll", http.StatusSeeOther)
	default:
		h.verifyPage(w, r, st, held, enr, to, http.StatusOK, "")
	}
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
		http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther)
		return
	}
	res := h.checker.Check(ctx, h.attempt(r, held, h.totp, r.PostForm.Get("code")))
	// Not enrolled: reset a moment ago.
	h.verifyResult(w, r, st, held, res, genericFailure, replayedCode, "enroll")
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
	res := h.checker.Check(ctx, h.attempt(r, held, h.recovery, r.PostForm.Get("code")))
	switch res.Kind {
	case Accepted:
		h.verified(w, r, held, res.Factor)
	case Wrong:
		h.wrongCode(w, r, held, st, "recovery", "Use a recovery code", res)
	default:
		h.checkFailed(w, r, res)
	}
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
	if h.onlyPasskeys() {
		http.Redirect(w, r, h.opt.Prefix+"enroll-passkey", http.StatusSeeOther)
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
		Title:    "Set up two-factor sign-in",
		CSRF:     st.CSRF,
		User:     accountName(held),
		QR:       template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		Secret:   factor.GroupKey(secret),
		SMS:      h.smsOn() && (to != "" || h.opt.SMS.SelfEnroll),
		Phone:    phone.Mask(to),
		Passkeys: h.passkeysOn(),
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
	first := firstFactor{
		enrollment: func(p Proof) store.Enrollment {
			return store.Enrollment{User: held.User, TOTPSecret: held.EnrollSecret, LastStep: p.Step}
		},
		again: func(Result) {
			// Show the same key again so the user can retry.
			http.Redirect(w, r, h.opt.Prefix+"enroll?retry=1", http.StatusSeeOther)
		},
	}
	h.enrollFirstFactor(w, r, st, held, h.attempt(r, held, h.enrollTOTP, r.PostForm.Get("code")), first)
}

// firstFactor is how a page confirms a user's first factor.
type firstFactor struct {
	// enrollment is the enrollment to store for what the method found
	// (the recovery codes and the time are added).
	enrollment func(p Proof) store.Enrollment
	// then, if set, runs once the enrollment is stored (a passkey is
	// added); its error ends the check as Unavailable.
	then func(ctx context.Context, c *enrollConfirmation, p Proof) error
	// again answers a wrong or replayed confirmation.
	again func(res Result)
}

// enrollFirstFactor checks the confirmation of a first factor through the
// checker; confirmed, it stores the enrollment with new recovery codes
// (under the enrollment policy) and shows the codes once.
func (h *Handler) enrollFirstFactor(w http.ResponseWriter, r *http.Request, st pendingState, held *store.Held, a Attempt, f firstFactor) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	var codes []string
	c := h.enrollConfirm(w, r)
	a.Confirm = func(ctx context.Context, p Proof) error {
		var hashes [][]byte
		var err error
		if codes, hashes, err = c.recoveryCodes(); err != nil {
			return err
		}
		e := f.enrollment(p)
		now := h.opt.Now()
		e.RecoveryHashes, e.CreatedAt, e.LastUsed = hashes, now, now
		if err := c.save(ctx, held, e, h.inviteFromCookie(r)); err != nil || f.then == nil {
			return err
		}
		return f.then(ctx, c, p)
	}
	res := h.checker.Check(ctx, a)
	switch {
	case res.Kind == Accepted:
		h.render(w, r, http.StatusOK, "codes", pageData{Title: "Save your recovery codes", CSRF: st.CSRF, User: accountName(held), Codes: codes})
	case res.Kind == Wrong || res.Kind == Replayed:
		f.again(res)
	case c.answered(res):
	default:
		h.checkFailed(w, r, res)
	}
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
	if held.IsAPI() {
		h.verifiedInBrowser(w, r, held)
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

func (h *Handler) abandon(r *http.Request, held *store.Held, reason string) {
	if h.opt.OnAbandon != nil {
		h.opt.OnAbandon(r.Context(), held, reason)
	}
}

// attempt is a submitted code of this request for the held login.
func (h *Handler) attempt(r *http.Request, held *store.Held, m Method, code string) Attempt {
	return Attempt{Held: held, Method: m, Code: code, ClientIP: h.ip(r), UserAgent: r.UserAgent()}
}

// verified ends the page flow of a held login the checker accepted: a
// cookie login is released (by is the factor that passed, for the sign-in
// record); a Parse login waits for the app (api/verify).
func (h *Handler) verified(w http.ResponseWriter, r *http.Request, held *store.Held, by string) {
	if held.IsAPI() {
		h.verifiedInBrowser(w, r, held)
		return
	}
	h.release(w, r, held.ID, by)
}

// onlyPasskeys: passkeys are the one factor a new user can set up.
func (h *Handler) onlyPasskeys() bool { return h.passkeysOn() && !h.totpOn() && !h.smsOn() }

// wrongCode shows a code page again after a wrong code, with a generic
// message and the attempts left.
func (h *Handler) wrongCode(w http.ResponseWriter, r *http.Request, held *store.Held, st pendingState, page, title string, res Result) {
	h.render(w, r, http.StatusUnauthorized, page, pageData{Title: title, CSRF: st.CSRF, User: accountName(held),
		Error: h.attemptsLeft(r, genericFailure, res)})
}

// checkFailed answers, on a page, a check that ended the sign-in or could
// not decide: the same for every code page.
func (h *Handler) checkFailed(w http.ResponseWriter, r *http.Request, res Result) {
	switch res.Kind {
	case Exhausted:
		http.SetCookie(w, h.clearPending())
		h.render(w, r, http.StatusTooManyRequests, "message", pageData{
			Title:    "Too many attempts",
			Message:  "Too many wrong codes. For your security this sign-in was cancelled. Please sign in again.",
			LoginURL: h.opt.LoginURL,
		})
	case Banned:
		http.SetCookie(w, h.clearPending())
		h.BannedPage(w, r, res.Until)
	case Expired:
		h.restart(w, r, "Your sign-in has expired. Please sign in again.")
	case Wrong, Replayed, NotEnrolled:
		// A page that does not expect these: the user starts again.
		h.restart(w, r, "Please sign in again.")
	default:
		h.unavailable(w, r, res)
	}
}

// unavailable answers a check that could not decide (503).
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, res Result) {
	if errors.Is(res.Err, errSecretUnreadable) { // logged by the checker
		h.ErrorPage(w, r, http.StatusServiceUnavailable)
		return
	}
	h.storeFailed(w, r, "checking code", res.Err)
}

// enrollConfirmation is the Confirm of a first enrollment on a page: it
// makes the recovery codes and stores the enrollment, and remembers how
// to answer when that fails.
type enrollConfirmation struct {
	h      *Handler
	w      http.ResponseWriter
	r      *http.Request
	stored bool   // the enrollment is stored
	answer func() // the answer to a failed Confirm
}

func (h *Handler) enrollConfirm(w http.ResponseWriter, r *http.Request) *enrollConfirmation {
	return &enrollConfirmation{h: h, w: w, r: r}
}

func (c *enrollConfirmation) recoveryCodes() ([]string, [][]byte, error) {
	codes, hashes, err := c.h.newRecoveryCodes()
	if err != nil {
		c.h.log.ErrorContext(c.r.Context(), "making recovery codes", "err", err)
		c.answer = func() { c.h.ErrorPage(c.w, c.r, http.StatusServiceUnavailable) }
	}
	return codes, hashes, err
}

// save stores the first enrollment through enrollFirst.
func (c *enrollConfirmation) save(ctx context.Context, held *store.Held, e store.Enrollment, invite string) error {
	h, w, r := c.h, c.w, c.r
	refusal, err := h.enrollFirst(ctx, w, r, held, e, invite)
	switch {
	case err == nil:
		c.stored = true
	case errors.Is(err, errRefused):
		c.answer = func() { h.refusedPage(w, r, refusal) }
	case errors.Is(err, store.ErrExists):
		// Another sign-in of this user enrolled first: use that factor.
		c.answer = func() { http.Redirect(w, r, h.opt.Prefix+"verify", http.StatusSeeOther) }
	default:
		c.answer = func() { h.storeFailed(w, r, "storing enrollment", err) }
	}
	return err
}

// answered writes the answer of a check whose enrollment was not stored,
// or stored on a sign-in that expired meanwhile; false for other results.
func (c *enrollConfirmation) answered(res Result) bool {
	switch {
	case res.Kind == Unavailable && c.answer != nil:
		c.answer()
	case res.Kind == Expired && c.stored:
		c.h.restart(c.w, c.r, "You are enrolled, but this sign-in has expired. Please sign in again.")
	default:
		return false
	}
	return true
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
