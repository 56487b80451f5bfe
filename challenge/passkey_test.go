package challenge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/passkey"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/store"
)

// fakeRP is a relying party whose browser answers are plain text, so the
// checker and the pages can be tested without an authenticator (e2e
// drives the real one in Chromium): "sign <credential id hex> <counter>"
// answers a sign-in, "register <credential id hex>" a registration;
// anything else is refused. Like passkey.RP it refuses another user's
// session or credential, and a counting counter that did not grow.
type fakeRP struct {
	fail error // every call fails with it (unavailable)
}

var _ PasskeyRP = (*fakeRP)(nil)

func (f *fakeRP) session(kind, user string) []byte {
	b := make([]byte, 8)
	rand.Read(b)
	return []byte(kind + "|" + user + "|" + hex.EncodeToString(b))
}

func (f *fakeRP) BeginRegistration(user string, _ []store.Passkey) ([]byte, []byte, error) {
	if f.fail != nil {
		return nil, nil, f.fail
	}
	return []byte(`{"challenge":"reg"}`), f.session("create", user), nil
}

func (f *fakeRP) FinishRegistration(session []byte, user string, response []byte) (store.Passkey, error) {
	if f.fail != nil {
		return store.Passkey{}, f.fail
	}
	if !bytes.HasPrefix(session, []byte("create|"+user+"|")) {
		return store.Passkey{}, passkey.ErrChallenge
	}
	id, ok := strings.CutPrefix(string(response), "register ")
	raw, err := hex.DecodeString(id)
	if !ok || err != nil {
		return store.Passkey{}, passkey.ErrMalformed
	}
	return store.Passkey{User: user, ID: raw, PublicKey: []byte("key"), UserHandle: []byte(user)}, nil
}

func (f *fakeRP) BeginLogin(user string, creds []store.Passkey) ([]byte, []byte, error) {
	if f.fail != nil {
		return nil, nil, f.fail
	}
	if len(creds) == 0 {
		return nil, nil, passkey.ErrNoCredentials
	}
	return []byte(`{"challenge":"get"}`), f.session("get", user), nil
}

func (f *fakeRP) FinishLogin(session []byte, user string, creds []store.Passkey, response []byte) (passkey.Assertion, error) {
	if f.fail != nil {
		return passkey.Assertion{}, f.fail
	}
	if !bytes.HasPrefix(session, []byte("get|"+user+"|")) {
		return passkey.Assertion{}, passkey.ErrChallenge
	}
	var id string
	var n uint32
	if _, err := fmt.Sscanf(string(response), "sign %s %d", &id, &n); err != nil {
		return passkey.Assertion{}, fmt.Errorf("%w: %v", passkey.ErrSignature, err)
	}
	for _, c := range creds {
		if c.User == user && hex.EncodeToString(c.ID) == id {
			if (n != 0 || c.SignCount != 0) && n <= c.SignCount {
				return passkey.Assertion{}, passkey.ErrSignCount
			}
			return passkey.Assertion{CredentialID: c.ID, SignCount: n}, nil
		}
	}
	return passkey.Assertion{}, passkey.ErrUnknownCredential
}

// addPasskey gives user a passkey with id and counter.
func (e *checkEnv) addPasskey(user string, id byte, count uint32) []byte {
	e.t.Helper()
	p := store.Passkey{User: user, ID: []byte{id, id, id, id}, PublicKey: []byte("key"), SignCount: count, CreatedAt: e.clock.Now()}
	if err := e.dur.AddPasskey(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

func sign(id []byte, n uint32) string { return fmt.Sprintf("sign %x %d", id, n) }

// passkeyLogin is the sign-in method over the env's stores for a new
// session of user's.
func (e *checkEnv) passkeyLogin(rp *fakeRP, user string) passkeyMethod {
	_, session, err := rp.BeginLogin(user, []store.Passkey{{User: user}})
	if err != nil {
		e.t.Fatal(err)
	}
	return passkeyMethod{rp: rp, store: e.dur, marks: e.eph, session: session, until: e.clock.Now().Add(5 * time.Minute),
		now: e.clock.Now, log: e.checker.Log}
}

// TestPasskeyCheck: a passkey assertion through the checker. carol has
// only a passkey that counts (at 4); alice a TOTP and a passkey that does
// not count; dave a passkey too; bob nothing.
func TestPasskeyCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		user     string
		response func(ids map[string][]byte) string
		rp       *fakeRP
		want     Kind
		wantLeft int
		event    string // an audit event the check writes
		count    uint32 // carol's stored counter after
	}{
		{name: "carol's passkey, counter grown", user: "carol", response: func(ids map[string][]byte) string { return sign(ids["carol"], 5) },
			want: Accepted, event: "code_accepted", count: 5},
		{name: "alice's passkey that does not count", user: "alice", response: func(ids map[string][]byte) string { return sign(ids["alice"], 0) },
			want: Accepted, event: "code_accepted", count: 4},
		{name: "bad signature", user: "carol", response: func(map[string][]byte) string { return "garbage" },
			want: Wrong, wantLeft: testMaxAttempts - 1, event: "code_rejected", count: 4},
		{name: "clone: counter set back", user: "carol", response: func(ids map[string][]byte) string { return sign(ids["carol"], 2) },
			want: Wrong, wantLeft: testMaxAttempts - 1, event: audit.PasskeySignCount, count: 4},
		{name: "clone: counter not grown", user: "carol", response: func(ids map[string][]byte) string { return sign(ids["carol"], 4) },
			want: Wrong, wantLeft: testMaxAttempts - 1, event: audit.PasskeySignCount, count: 4},
		{name: "another user's passkey", user: "carol", response: func(ids map[string][]byte) string { return sign(ids["dave"], 9) },
			want: Wrong, wantLeft: testMaxAttempts - 1, event: "code_rejected", count: 4},
		{name: "user without passkeys", user: "bob", response: func(ids map[string][]byte) string { return sign(ids["carol"], 9) },
			want: NotEnrolled, count: 4},
		{name: "relying party unavailable", user: "carol", rp: &fakeRP{fail: errors.New("no randomness")},
			response: func(ids map[string][]byte) string { return sign(ids["carol"], 5) }, want: Unavailable, count: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCheckEnv(t, regulate.Limit{MaxFailures: 10, Window: 15 * time.Minute, Ban: 15 * time.Minute}, regulate.Limit{})
			ids := map[string][]byte{"carol": e.addPasskey("carol", 1, 4), "alice": e.addPasskey("alice", 2, 0), "dave": e.addPasskey("dave", 3, 0)}
			rp := tc.rp
			if rp == nil {
				rp = &fakeRP{}
			}
			m := e.passkeyLogin(&fakeRP{}, tc.user)
			m.rp = rp
			held := e.hold("h", tc.user)
			res := e.checker.Check(context.Background(), Attempt{Held: held, Method: m, Code: tc.response(ids), ClientIP: "192.0.2.1"})
			if res.Kind != tc.want || (tc.want == Wrong && res.Left != tc.wantLeft) {
				t.Fatalf("Check = %v (left %d, err %v), want %v (left %d)", res.Kind, res.Left, res.Err, tc.want, tc.wantLeft)
			}
			if tc.event != "" {
				evs := e.events.named(tc.event)
				if len(evs) != 1 || (tc.event != audit.PasskeySignCount && evs[0]["factor"] != factorWebAuthn) {
					t.Errorf("audit %s: %v, want one naming factor webauthn", tc.event, evs)
				}
			}
			ps, _ := e.dur.Passkeys(context.Background(), "carol")
			if ps[0].SignCount != tc.count {
				t.Errorf("carol's counter %d, want %d", ps[0].SignCount, tc.count)
			}
			got, err := e.eph.Held(context.Background(), held.ID)
			if err != nil {
				t.Fatal(err)
			}
			if verified := !got.Verified.IsZero(); verified != (tc.want == Accepted) {
				t.Errorf("held login verified = %v after %v", verified, res.Kind)
			}
		})
	}
}

// TestPasskeySessionSingleUse: the ceremony session passes once; sent
// again (the same answer, or another) it is Replayed, not looked at and
// not a failure for the regulator.
func TestPasskeySessionSingleUse(t *testing.T) {
	e := newCheckEnv(t, regulate.Limit{MaxFailures: 1, Window: 15 * time.Minute, Ban: 15 * time.Minute}, regulate.Limit{})
	id := e.addPasskey("carol", 1, 0)
	m := e.passkeyLogin(&fakeRP{}, "carol")
	ctx := context.Background()
	if res := e.checker.Check(ctx, Attempt{Held: e.hold("h1", "carol"), Method: m, Code: sign(id, 0)}); res.Kind != Accepted {
		t.Fatalf("first use: %v (%v)", res.Kind, res.Err)
	}
	for _, answer := range []string{sign(id, 0), "garbage"} {
		if res := e.checker.Check(ctx, Attempt{Held: e.hold("h2", "carol"), Method: m, Code: answer}); res.Kind != Replayed {
			t.Fatalf("session used again with %q: %v, want Replayed", answer, res.Kind)
		}
	}
	if len(e.events.named("code_replayed")) != 2 {
		t.Errorf("replays logged: %v", e.events.named("code_replayed"))
	}
	// Not a failure: the one failure the regulator allows is still there.
	if res := e.checker.Check(ctx, Attempt{Held: e.hold("h3", "carol"), Method: e.passkeyLogin(&fakeRP{}, "carol"), Code: sign(id, 0)}); res.Kind != Accepted {
		t.Fatalf("a new session after the replays: %v", res.Kind)
	}
}

// TestPasskeyRace: two requests racing with one ceremony session: exactly
// one passes, the other is Replayed. And two sessions racing with the same
// counter of a passkey that counts (a clone beside the original): the
// store's conditional update lets one pass, the other is refused.
func TestPasskeyRace(t *testing.T) {
	race := func(t *testing.T, e *checkEnv, attempts [2]Attempt) map[Kind]int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[Kind]int{}
		for _, a := range attempts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := e.checker.Check(context.Background(), a)
				mu.Lock()
				got[res.Kind]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return got
	}
	t.Run("one session", func(t *testing.T) {
		e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
		id := e.addPasskey("carol", 1, 0)
		for i := range 20 {
			held := e.hold(fmt.Sprint("h", i), "carol")
			m := e.passkeyLogin(&fakeRP{}, "carol")
			a := Attempt{Held: held, Method: m, Code: sign(id, 0)}
			if got := race(t, e, [2]Attempt{a, a}); got[Accepted] != 1 || got[Replayed] != 1 {
				t.Fatalf("round %d: %v, want one Accepted and one Replayed", i, got)
			}
		}
	})
	t.Run("one counter", func(t *testing.T) {
		e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
		id := e.addPasskey("carol", 1, 0)
		for i := range 20 {
			n := uint32(i + 1)
			a := Attempt{Held: e.hold(fmt.Sprint("a", i), "carol"), Method: e.passkeyLogin(&fakeRP{}, "carol"), Code: sign(id, n)}
			b := Attempt{Held: e.hold(fmt.Sprint("b", i), "carol"), Method: e.passkeyLogin(&fakeRP{}, "carol"), Code: sign(id, n)}
			if got := race(t, e, [2]Attempt{a, b}); got[Accepted] != 1 || got[Wrong] != 1 {
				t.Fatalf("round %d: %v, want one Accepted and one Wrong", i, got)
			}
		}
		if evs := e.events.named(audit.PasskeySignCount); len(evs) != 20 {
			t.Errorf("%d sign-count events, want 20", len(evs))
		}
	})
}

// withPasskeys turns passkeys on in h with rp, over e's stores.
func withPasskeys(e *checkEnv, h *Handler, rp PasskeyRP) {
	h.opt.Passkeys = rp
	h.passkeys = &Registration{RP: rp, Store: e.dur, Marker: e.eph, Now: e.clock.Now}
}

// passkeyPages is the pages over e's stores with passkeys on (rp).
func (e *checkEnv) passkeyPages(t *testing.T, rp PasskeyRP) *Handler {
	h := newPages(t, e, e.dur)
	withPasskeys(e, h, rp)
	return h
}

// TestPasskeyPages: the code page offers a passkey first (with its script
// allowed by the CSP); an empty answer is no attempt; a passkey signs in;
// a first passkey enrolls with recovery codes.
func TestPasskeyPages(t *testing.T) {
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	h := e.passkeyPages(t, &fakeRP{})
	id := e.addPasskey("alice", 1, 0)
	ctx := context.Background()

	held := &store.Held{ID: "h", User: "alice", Created: e.clock.Now(), Expires: e.clock.Now().Add(5 * time.Minute),
		Response: store.HeldResponse{Status: http.StatusSeeOther, Header: http.Header{"Location": {"/home"}}}}
	if err := e.eph.CreateHeld(ctx, held); err != nil {
		t.Fatal(err)
	}
	pc, _ := h.pendingCookie(held.ID)
	get := func(path string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/.vestibule/"+path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	w := get("verify", pc)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `data-passkey="get"`) || !strings.Contains(body, `action="/.vestibule/passkey"`) ||
		!strings.Contains(body, `name="code"`) || strings.Index(body, `data-passkey="get"`) > strings.Index(body, `name="code"`) {
		t.Fatalf("code page: %d, want the passkey form before the code form: %s", w.Code, body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("code page with a passkey: CSP %q", csp)
	}
	if !strings.Contains(body, `<script src="/.vestibule/static/passkey.js" defer></script>`) || strings.Count(body, "<script") != 1 {
		t.Errorf("code page: want exactly the passkey script: %s", body)
	}
	var withSession *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == h.opt.PendingCookie {
			withSession = c
		}
	}
	if withSession == nil {
		t.Fatal("the code page did not keep the ceremony's session")
	}

	postWith := func(path string, c *http.Cookie, form url.Values) *httptest.ResponseRecorder {
		return postCookie(t, h, c, path, form)
	}
	// No answer (no script): no attempt.
	if w := postWith("passkey", withSession, url.Values{passkeyField: {""}}); w.Code != http.StatusSeeOther {
		t.Fatalf("empty answer: %d", w.Code)
	}
	if got, _ := e.eph.Held(ctx, held.ID); got.Attempts != 0 {
		t.Errorf("an empty answer counted %d attempts", got.Attempts)
	}
	// A wrong answer: the page again, with a new ceremony.
	w = postWith("passkey", withSession, url.Values{passkeyField: {"garbage"}})
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "That passkey did not work.") || !strings.Contains(w.Body.String(), `data-passkey="get"`) {
		t.Fatalf("wrong answer: %d %s", w.Code, w.Body.String())
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == h.opt.PendingCookie {
			withSession = c
		}
	}
	w = postWith("passkey", withSession, url.Values{passkeyField: {sign(id, 0)}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/home" {
		t.Fatalf("right answer: %d %s, want the held answer", w.Code, w.Body.String())
	}
	if _, err := e.eph.Held(ctx, held.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after the passkey the held login is still there (%v): not released", err)
	}

	// bob enrolls a passkey: recovery codes, a passkey-only enrollment.
	bob := e.hold("b", "bob")
	pc, _ = h.pendingCookie(bob.ID)
	if w := get("enroll", pc); !strings.Contains(w.Body.String(), `href="/.vestibule/enroll-passkey"`) || strings.Contains(w.Body.String(), "<script") {
		t.Errorf("enrollment page: want a link to a passkey, no script: %s", w.Body.String())
	}
	w = get("enroll-passkey", pc)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `data-passkey="create"`) {
		t.Fatalf("passkey enrollment page: %d %s", w.Code, w.Body.String())
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == h.opt.PendingCookie {
			pc = c
		}
	}
	w = postWith("enroll-passkey", pc, url.Values{passkeyField: {"register 0909"}, "name": {"  My   key "}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="codes"`) {
		t.Fatalf("passkey enrollment: %d %v", w.Code, e.events.named("store_error"))
	}
	enr, err := e.dur.Enrollment(ctx, "bob")
	ps, _ := e.dur.Passkeys(ctx, "bob")
	if err != nil || enr.Passkeys != 1 || len(enr.RecoveryHashes) != 10 || len(enr.TOTPSecret) != 0 || len(ps) != 1 || ps[0].Name != "My key" {
		t.Fatalf("bob's enrollment %+v (%v), passkeys %+v: want one passkey named \"My key\" and 10 recovery codes", enr, err, ps)
	}
	if got, _ := e.eph.Held(ctx, bob.ID); got == nil || got.Verified.IsZero() {
		t.Error("bob's login is not verified after enrolling a passkey")
	}
	// The same registration answer again: the session is used.
	if _, err := h.passkeys.Finish(ctx, []byte("create|bob|00"), "bob", "", []byte("register 0a0a"), e.clock.Now().Add(time.Minute)); err != nil {
		t.Fatalf("registration of another passkey: %v", err)
	}
	if _, err := h.passkeys.Finish(ctx, []byte("create|bob|00"), "bob", "", []byte("register 0b0b"), e.clock.Now().Add(time.Minute)); !errors.Is(err, ErrSessionUsed) {
		t.Fatalf("a registration session used twice: %v, want ErrSessionUsed", err)
	}
}

// TestPasskeyJSONMethods: the JSON challenge names webauthn among the
// user's methods (and, for a user not enrolled yet, the ways to enroll)
// when passkeys are on, and not when they are off.
func TestPasskeyJSONMethods(t *testing.T) {
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	h := newPages(t, e, e.dur)
	e.addPasskey("alice", 1, 0)
	r := httptest.NewRequest(http.MethodPost, "/parse/login", nil)
	body := func(user string) map[string]any {
		t.Helper()
		b, err := h.challengeBody(r, e.hold("h-"+user, user))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := fmt.Sprint(body("alice")["methods"]); got != "[totp recovery]" {
		t.Errorf("passkeys off: alice's methods %s, want [totp recovery]", got)
	}
	withPasskeys(e, h, &fakeRP{})
	if got := fmt.Sprint(body("alice")["methods"]); got != "[totp webauthn recovery]" {
		t.Errorf("alice's methods %s, want [totp webauthn recovery]", got)
	}
	if b := body("bob"); fmt.Sprint(b["methods"]) != "[]" || fmt.Sprint(b["enrollMethods"]) != "[totp webauthn]" {
		t.Errorf("bob: methods %v, enrollMethods %v; want [] and [totp webauthn] (no number, no self-enrollment)", b["methods"], b["enrollMethods"])
	}
}

// TestPasskeyParsePage: the browser page of a held Parse login offers the
// user's passkey, and a passkey there verifies the login for the app to
// complete (api/verify), without releasing it to the browser.
func TestPasskeyParsePage(t *testing.T) {
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	h := e.passkeyPages(t, &fakeRP{})
	id := e.addPasskey("carol", 1, 0)
	ctx := context.Background()
	held := &store.Held{ID: "p", User: "carol", Kind: store.KindParse, Created: e.clock.Now(), Expires: e.clock.Now().Add(5 * time.Minute)}
	if err := e.eph.CreateHeld(ctx, held); err != nil {
		t.Fatal(err)
	}
	pc, _ := h.pendingCookie(held.ID)
	req := httptest.NewRequest(http.MethodGet, "/.vestibule/verify", nil)
	req.AddCookie(pc)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `data-passkey="get"`) || strings.Contains(w.Body.String(), `name="code"`) {
		t.Fatalf("Parse login's page for a passkey-only user: %d, want the passkey form alone: %s", w.Code, w.Body.String())
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == h.opt.PendingCookie {
			pc = c
		}
	}
	w = postCookie(t, h, pc, "passkey", url.Values{passkeyField: {sign(id, 0)}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Go back to the app") {
		t.Fatalf("passkey on the Parse page: %d %s", w.Code, w.Body.String())
	}
	if got, err := e.eph.Held(ctx, held.ID); err != nil || got.Verified.IsZero() {
		t.Errorf("the Parse login after the passkey: %+v (%v), want it held and verified for api/verify", got, err)
	}
}

// TestPasskeySessionTooLarge: a user with more passkeys than a ceremony
// session in the pending cookie can list still gets the code page, with
// the authenticator code and without the passkey (logged), not an error.
func TestPasskeySessionTooLarge(t *testing.T) {
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	h := newPages(t, e, e.dur)
	rp, err := passkey.New(passkey.Config{PublicURL: "https://gw.example", RPName: "Test"}, bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	withPasskeys(e, h, rp)
	for i := range 60 {
		id := bytes.Repeat([]byte{byte(i)}, 64)
		if err := e.dur.AddPasskey(context.Background(), store.Passkey{User: "alice", ID: id, PublicKey: []byte("k"), CreatedAt: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	held := e.hold("h", "alice")
	pc, _ := h.pendingCookie(held.ID)
	req := httptest.NewRequest(http.MethodGet, "/.vestibule/verify", nil)
	req.AddCookie(pc)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "data-passkey") || !strings.Contains(w.Body.String(), `name="code"`) {
		t.Fatalf("code page of a user with 60 passkeys: %d, want the code form without a passkey: %s", w.Code, w.Body.String())
	}
	if len(e.events.named("passkey_session_too_large")) != 1 {
		t.Error("the passkey left out was not logged")
	}
}
