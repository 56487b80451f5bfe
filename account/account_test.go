package account

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/templates"
)

// tenv is one security page on fakes: a settable clock, an in-memory
// store, the memory ephemeral store for counters and revocations, a real
// gate cookie issuer and sealer.
type tenv struct {
	t      *testing.T
	h      *Handler
	st     *fakeStore
	eph    *memory.Store
	issuer *gate.Issuer
	sealer *seal.Sealer
	notes  *fakeNotifier
	texter *fakeTexter
	mu     sync.Mutex
	now    time.Time
	logs   *bytes.Buffer
}

func (e *tenv) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }
func (e *tenv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func randKey() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func newTenv(t *testing.T, mutate ...func(*Options)) *tenv {
	t.Helper()
	e := &tenv{t: t, st: newFakeStore(), notes: &fakeNotifier{}, texter: &fakeTexter{sent: map[string]string{}},
		now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), logs: &bytes.Buffer{}}
	e.eph = memory.New(e.clock)
	t.Cleanup(func() { e.eph.Close() })
	key := randKey()
	codec, err := gate.NewCodec("vestibule_gate", [][]byte{key}, e.clock)
	if err != nil {
		t.Fatal(err)
	}
	e.issuer = &gate.Issuer{Codec: codec, MaxAge: 12 * time.Hour, Now: e.clock}
	if e.sealer, err = seal.New([][]byte{randKey()}, nil); err != nil {
		t.Fatal(err)
	}
	o := Options{
		Prefix: "/.vestibule/", AppName: "Test App", Origin: "https://app.example", Keys: [][]byte{key},
		Claims: func(r *http.Request) (gate.Claims, bool) {
			// As the proxy does: the cookie decodes and its user's
			// sessions were not revoked after it was issued.
			c, err := r.Cookie("vestibule_gate")
			if err != nil {
				return gate.Claims{}, false
			}
			cl, err := codec.Decode(c.Value)
			if err != nil {
				return cl, false
			}
			if at, ok := e.eph.RevokedAt(gate.UserKey(cl.User)); ok && cl.Issued.Before(at) {
				return cl, false
			}
			return cl, true
		},
		Store: e.st, Sessions: e.eph, Counters: e.eph, Cookies: e.issuer, Sealer: e.sealer,
		Notifier: e.notes, Texter: e.texter, Passkeys: &fakeRegistrar{}, Refused: func(err error) bool { return errors.Is(err, errRefused) },
		ReauthMaxAge: 5 * time.Minute, SessionMaxAge: 12 * time.Hour, DefaultRegion: "GB", DeviceMaxAge: 24 * time.Hour,
		Templates: templates.FS, Now: e.clock,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	for _, m := range mutate {
		m(&o)
	}
	if e.h, err = New(o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", e.logs)
		}
	})
	return e
}

// user enrolls name with an authenticator app (the given secret), a phone,
// two recovery codes and the passkeys named.
func (e *tenv) user(name, secret string, passkeys ...string) {
	sealed, err := e.sealer.Seal([]byte(secret), []byte(name))
	if err != nil {
		e.t.Fatal(err)
	}
	e.st.enr[name] = store.Enrollment{User: name, TOTPSecret: sealed, Phone: "+447400123456",
		RecoveryHashes: [][]byte{{1}, {2}}, CreatedAt: e.clock().Add(-48 * time.Hour)}
	for i, pk := range passkeys {
		e.st.passkeys[name] = append(e.st.passkeys[name], store.Passkey{User: name, ID: []byte{byte(i + 1), 0xfe}, Name: pk,
			CreatedAt: e.clock().Add(-time.Hour), BackupEligible: true, BackupState: i == 0})
	}
}

// browser is a cookie jar in front of the handler.
type browser struct {
	e   *tenv
	jar map[string]string
}

// session is a browser with a gate session of user whose second factor
// passed age ago.
func (e *tenv) session(user string, age time.Duration) *browser {
	c, err := e.issuer.Cookie(user, [32]byte{1, 2, 3}, e.clock().Add(-age))
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, jar: map[string]string{c.Name: c.Value}}
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) resp {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "https://app.example"+path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	for k, v := range b.jar {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	w := httptest.NewRecorder()
	b.e.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.jar, c.Name)
		} else {
			b.jar[c.Name] = c.Value
		}
	}
	return resp{w.Code, w.Header(), html.UnescapeString(w.Body.String())}
}

var reCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// page loads the security page and returns its form token.
func (b *browser) page() (resp, string) {
	b.e.t.Helper()
	p := b.do("GET", "/.vestibule/account", nil)
	if p.status != http.StatusOK {
		b.e.t.Fatalf("security page: %d %.300s", p.status, p.body)
	}
	m := reCSRF.FindStringSubmatch(p.body)
	if m == nil {
		b.e.t.Fatalf("no form token on the page: %.500s", p.body)
	}
	return p, m[1]
}

// post posts a form of the page with its token.
func (b *browser) post(path string, form url.Values) resp {
	b.e.t.Helper()
	_, tok := b.page()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", tok)
	return b.do("POST", path, form)
}

func want(t *testing.T, r resp, status int, contains ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; Location %q\n%.800s", r.status, status, r.header.Get("Location"), r.body)
	}
	for _, s := range contains {
		if !strings.Contains(r.body, s) {
			t.Errorf("answer lacks %q:\n%.1500s", s, r.body)
		}
	}
}

func TestPageListsFactorsDevicesAndSignIns(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP", "YubiKey", "Laptop")
	e.st.devices["alice"] = []store.Device{
		{User: "alice", ID: "a1b2c3", Created: e.clock().Add(-time.Hour), LastSeen: e.clock(), LastIP: "192.0.2.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
		{User: "alice", ID: "dead01", Created: e.clock().Add(-time.Hour), LastSeen: e.clock(), LastIP: "192.0.2.8", Revoked: e.clock()},
		// From an earlier enrollment, revoked with all devices, expired:
		// none of them skips the code any more.
		{User: "alice", ID: "dead02", Created: e.clock().Add(-72 * time.Hour), LastSeen: e.clock(), LastIP: "192.0.2.9"},
		{User: "alice", ID: "dead03", Created: e.clock().Add(-35 * time.Hour), LastSeen: e.clock(), LastIP: "192.0.2.10"},
		{User: "alice", ID: "dead04", Created: e.clock().Add(-25 * time.Hour), LastSeen: e.clock(), LastIP: "192.0.2.11"},
	}
	enr := e.st.enr["alice"]
	enr.DevicesRevoked = e.clock().Add(-30 * time.Hour)
	e.st.enr["alice"] = enr
	e.st.signIns["alice"] = []store.SignIn{{User: "alice", At: e.clock().Add(-time.Minute), IP: "198.51.100.4",
		UserAgent: "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", Factor: "sms"}}
	p, _ := e.session("alice", time.Minute).page()
	want(t, p, http.StatusOK, "YubiKey", "Laptop", "synced", "this device only", "+44 •••• ••3456", "2 left",
		"Firefox · Linux", "192.0.2.7", "Chrome · Android", "198.51.100.4", "Text message", `id="totp-remove"`, `id="pk-remove-1"`)
	for _, ip := range []string{"192.0.2.8", "192.0.2.9", "192.0.2.10", "192.0.2.11"} {
		if strings.Contains(p.body, ip+" ") {
			t.Errorf("a device that no longer skips the code (%s) is listed", ip)
		}
	}
	if strings.Contains(p.body, `id="reauth"`) {
		t.Error("a fresh session is told it must confirm first")
	}
	// In German, with an old second factor: the page says a confirmation
	// comes before changes.
	p = e.session("alice", time.Hour).do("GET", "/.vestibule/account", nil, "Accept-Language", "de")
	want(t, p, http.StatusOK, `<html lang="de">`, "Anmeldemethoden", "Vor einer Änderung", `href="/.vestibule/step-up?next=%2f.vestibule%2faccount"`)
}

func TestRefusals(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP", "YubiKey")
	b := e.session("alice", time.Minute)
	_, tok := b.page()
	stranger := &browser{e: e, jar: map[string]string{}}
	cases := []struct {
		name     string
		b        *browser
		form     url.Values
		hdr      []string
		status   int
		location string
	}{
		{"no session", stranger, url.Values{"csrf": {tok}}, nil, http.StatusForbidden, ""},
		{"no token", b, url.Values{}, nil, http.StatusForbidden, ""},
		{"another session's token", e.session("bob", time.Minute), url.Values{"csrf": {tok}}, nil, http.StatusForbidden, ""},
		{"other origin", b, url.Values{"csrf": {tok}}, []string{"Origin", "https://evil.example"}, http.StatusForbidden, ""},
		{"stale second factor", e.session("alice", 6*time.Minute), nil, nil, http.StatusSeeOther,
			"/.vestibule/step-up?next=%2F.vestibule%2Faccount&resend=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"account/recovery-codes", "account/sessions/end", "account/totp/remove", "account/passkey/remove",
				"account/device/revoke", "account/phone/remove", "account/totp", "account/phone", "account/passkey/rename"} {
				form := tc.form
				if form == nil { // a valid token of that session
					_, t2 := tc.b.page()
					form = url.Values{"csrf": {t2}}
				}
				r := tc.b.do("POST", "/.vestibule/"+path, form, tc.hdr...)
				if r.status != tc.status || r.header.Get("Location") != tc.location {
					t.Errorf("%s: %d %q, want %d %q", path, r.status, r.header.Get("Location"), tc.status, tc.location)
				}
			}
		})
	}
	// Nothing changed.
	if enr := e.st.enr["alice"]; len(enr.TOTPSecret) == 0 || enr.Phone == "" || len(enr.RecoveryHashes) != 2 || len(e.st.passkeys["alice"]) != 1 {
		t.Errorf("a refused post changed something: %+v, %d passkeys", enr, len(e.st.passkeys["alice"]))
	}
	if _, ok := e.eph.RevokedAt(gate.UserKey("alice")); ok {
		t.Error("a refused post ended sessions")
	}
	if n := e.notes.names(); len(n) != 0 {
		t.Errorf("refused posts notified %v", n)
	}
	// The page itself needs a session.
	want(t, stranger.do("GET", "/.vestibule/account", nil), http.StatusUnauthorized, "This page needs a signed-in session.")
}

func TestRenamePasskey(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP", "YubiKey")
	e.user("bob", "JBSWY3DPEHPK3PXP", "Bob's key")
	b := e.session("alice", time.Minute)
	id := base64.RawURLEncoding.EncodeToString(e.st.passkeys["alice"][0].ID)
	for _, tc := range []struct {
		name, id, newName string
		status            int
	}{
		{"empty", id, "  ", http.StatusBadRequest},
		{"control character", id, "Key\x07", http.StatusBadRequest},
		{"too long", id, strings.Repeat("é", 65), http.StatusBadRequest},
		{"not base64", "***", "Work key", http.StatusBadRequest},
		{"unknown id", "AQI", "Work key", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, b.post("/.vestibule/account/passkey/rename", url.Values{"id": {tc.id}, "name": {tc.newName}}), tc.status)
		})
	}
	// Bob's passkey has the same id bytes: renaming as alice touches alice's only.
	r := b.post("/.vestibule/account/passkey/rename", url.Values{"id": {id}, "name": {" Work key "}})
	want(t, r, http.StatusSeeOther)
	if got := e.st.passkeys["alice"][0].Name; got != "Work key" || e.st.passkeys["bob"][0].Name != "Bob's key" {
		t.Errorf("names after rename: alice %q, bob %q", got, e.st.passkeys["bob"][0].Name)
	}
	want(t, b.do("GET", r.header.Get("Location"), nil), http.StatusOK, "The passkey was renamed.", "Work key")
	if got := e.notes.names(); len(got) != 1 || got[0] != audit.PasskeyRenamed {
		t.Errorf("notified %v", got)
	}
	if !strings.Contains(e.logs.String(), "event="+audit.PasskeyRenamed+" user=alice") {
		t.Errorf("no audit event in the log")
	}
}

// TestLastFactorStays: a factor is removed only while another remains,
// unless the policy allows none.
func TestLastFactorStays(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP", "YubiKey")
	b := e.session("alice", time.Minute)
	want(t, b.post("/.vestibule/account/phone/remove", nil), http.StatusSeeOther)
	want(t, b.post("/.vestibule/account/totp/remove", nil), http.StatusSeeOther)
	if enr := e.st.enr["alice"]; enr.Phone != "" || len(enr.TOTPSecret) != 0 {
		t.Fatalf("factors not removed: %+v", enr)
	}
	// The passkey is the last one now.
	p, _ := b.page()
	if strings.Contains(p.body, `id="pk-remove-0"`) {
		t.Error("the page offers to remove the last factor")
	}
	id := base64.RawURLEncoding.EncodeToString(e.st.passkeys["alice"][0].ID)
	want(t, b.post("/.vestibule/account/passkey/remove", url.Values{"id": {id}}), http.StatusConflict, "This is your only way to confirm it's you.")
	if len(e.st.passkeys["alice"]) != 1 {
		t.Fatal("the last factor was removed")
	}
	// The same for a last authenticator app.
	e.user("carol", "JBSWY3DPEHPK3PXP")
	e.st.enr["carol"] = store.Enrollment{User: "carol", TOTPSecret: e.st.enr["carol"].TOTPSecret}
	want(t, e.session("carol", time.Minute).post("/.vestibule/account/totp/remove", nil), http.StatusConflict)
	if len(e.st.enr["carol"].TOTPSecret) == 0 {
		t.Fatal("the last authenticator was removed")
	}
	got := e.notes.names()
	if len(got) != 2 || got[0] != audit.FactorRemoved || got[1] != audit.FactorRemoved {
		t.Errorf("notified %v", got)
	}

	// A policy without a required second factor lets the last one go.
	e2 := newTenv(t, func(o *Options) { o.AllowNoFactor = true })
	e2.user("dave", "JBSWY3DPEHPK3PXP", "Key")
	e2.st.enr["dave"] = store.Enrollment{User: "dave"}
	id = base64.RawURLEncoding.EncodeToString(e2.st.passkeys["dave"][0].ID)
	want(t, e2.session("dave", time.Minute).post("/.vestibule/account/passkey/remove", url.Values{"id": {id}}), http.StatusSeeOther)
	if len(e2.st.passkeys["dave"]) != 0 {
		t.Error("AllowNoFactor: the passkey stayed")
	}
}

func TestNewRecoveryCodes(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP")
	r := e.session("alice", time.Minute).post("/.vestibule/account/recovery-codes", nil)
	want(t, r, http.StatusOK, "Your old recovery codes no longer work")
	codes := regexp.MustCompile(`<li><code>([a-z0-9-]+)</code></li>`).FindAllStringSubmatch(r.body, -1)
	hashes := e.st.enr["alice"].RecoveryHashes
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatalf("%d codes shown, %d stored", len(codes), len(hashes))
	}
	for i, c := range codes {
		norm, ok := factor.NormalizeRecoveryCode(c[1])
		if !ok || !bytes.Equal(factor.HashRecoveryCode(norm), hashes[i]) {
			t.Errorf("code %d (%s) is not the one stored", i, c[1])
		}
	}
	if got := e.notes.names(); len(got) != 1 || got[0] != audit.RecoveryCodesReplaced {
		t.Errorf("notified %v", got)
	}
}

func TestForgetDevice(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP")
	e.st.devices["alice"] = []store.Device{{User: "alice", ID: "a1b2c3", Created: e.clock(), LastIP: "192.0.2.7"}}
	e.st.devices["bob"] = []store.Device{{User: "bob", ID: "b0b0b0", LastIP: "192.0.2.9"}}
	b := e.session("alice", time.Minute)
	want(t, b.post("/.vestibule/account/device/revoke", url.Values{"id": {"b0b0b0"}}), http.StatusNotFound)
	want(t, b.post("/.vestibule/account/device/revoke", url.Values{"id": {"a1b2c3"}}), http.StatusSeeOther)
	if e.st.devices["alice"][0].Revoked.IsZero() || !e.st.devices["bob"][0].Revoked.IsZero() {
		t.Errorf("devices after revoke: %+v %+v", e.st.devices["alice"], e.st.devices["bob"])
	}
	p, _ := b.page()
	if strings.Contains(p.body, "192.0.2.7") || !strings.Contains(p.body, `id="no-devices"`) {
		t.Error("the forgotten device is still listed")
	}
}

// TestSignOutEverywhereElse: every other gate session of the user ends; the
// browser that asked gets a cookie issued no earlier than the revocation,
// so it stays signed in, also when both happen in the same instant.
func TestSignOutEverywhereElse(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP")
	other := e.session("alice", time.Minute)
	e.advance(time.Second)
	b := e.session("alice", time.Minute)
	bob := e.session("bob", time.Minute)
	e.advance(time.Second)
	old := b.jar["vestibule_gate"]
	// The clock stands still: revocation and new cookie share the instant.
	r := b.post("/.vestibule/account/sessions/end", nil)
	want(t, r, http.StatusSeeOther)
	at, ok := e.eph.RevokedAt(gate.UserKey("alice"))
	if !ok || !at.Equal(e.clock()) {
		t.Fatalf("revocation of alice's sessions: %v %v", at, ok)
	}
	if b.jar["vestibule_gate"] == old {
		t.Fatal("the gate cookie was not issued again")
	}
	cl, err := e.issuer.Codec.Decode(b.jar["vestibule_gate"])
	if err != nil || cl.Issued.Before(at) || cl.Bind != [32]byte{1, 2, 3} {
		t.Fatalf("new cookie: %+v %v (revoked at %v)", cl, err, at)
	}
	want(t, b.do("GET", r.header.Get("Location"), nil), http.StatusOK, "Every other session was signed out.")
	want(t, other.do("GET", "/.vestibule/account", nil), http.StatusUnauthorized)
	want(t, bob.do("GET", "/.vestibule/account", nil), http.StatusOK)
	if got := e.notes.names(); len(got) != 1 || got[0] != audit.SessionsEnded {
		t.Errorf("notified %v", got)
	}
}

func TestReplaceAuthenticator(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP")
	oldSealed := e.st.enr["alice"].TOTPSecret
	b := e.session("alice", time.Minute)
	r := b.post("/.vestibule/account/totp", nil)
	want(t, r, http.StatusOK, `src="data:image/png;base64,`, "Until then your old app keeps working.")
	secret := strings.ReplaceAll(regexp.MustCompile(`id="secret">([A-Z2-7 ]+)<`).FindStringSubmatch(r.body)[1], " ", "")
	// Posting again shows the same secret (a reload does not start over).
	if r2 := b.post("/.vestibule/account/totp", nil); !strings.Contains(r2.body, factor.GroupKey(secret)) {
		t.Fatal("a second start made another secret")
	}
	tok := reCSRF.FindStringSubmatch(r.body)[1]
	totp := factor.DefaultTOTP()
	code, _ := totp.Code(secret, totp.Step(e.clock()))
	// Another session of the same user can't finish this one's change.
	want(t, e.session("alice", time.Minute).post("/.vestibule/account/totp/confirm", url.Values{"code": {code}}), http.StatusGone)
	want(t, b.do("POST", "/.vestibule/account/totp/confirm", url.Values{"csrf": {tok}, "code": {"000000"}}), http.StatusUnauthorized, "4 attempts left.")
	if !bytes.Equal(e.st.enr["alice"].TOTPSecret, oldSealed) {
		t.Fatal("a wrong code replaced the secret")
	}
	cookie := b.jar[pendingCookie]
	r = b.do("POST", "/.vestibule/account/totp/confirm", url.Values{"csrf": {tok}, "code": {code}})
	want(t, r, http.StatusSeeOther)
	got, err := e.sealer.Open(e.st.enr["alice"].TOTPSecret, []byte("alice"))
	if err != nil || string(got) != secret {
		t.Fatalf("stored secret %q %v, want %q", got, err, secret)
	}
	if e.st.enr["alice"].LastStep != totp.Step(e.clock()) {
		t.Errorf("the confirming code's step is not used up: %d", e.st.enr["alice"].LastStep)
	}
	if len(e.st.enr["alice"].RecoveryHashes) != 2 || e.st.enr["alice"].Phone == "" {
		t.Error("replacing the authenticator touched the other factors")
	}
	// The same change posted again (its cookie replayed) does nothing.
	b.jar[pendingCookie] = cookie
	want(t, b.do("POST", "/.vestibule/account/totp/confirm", url.Values{"csrf": {tok}, "code": {code}}), http.StatusGone)
	if got := e.notes.names(); len(got) != 1 || got[0] != audit.TOTPReplaced {
		t.Errorf("notified %v", got)
	}
}

func TestReplaceAuthenticatorAttemptsCapped(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP")
	b := e.session("alice", time.Minute)
	r := b.post("/.vestibule/account/totp", nil)
	secret := strings.ReplaceAll(regexp.MustCompile(`id="secret">([A-Z2-7 ]+)<`).FindStringSubmatch(r.body)[1], " ", "")
	tok := reCSRF.FindStringSubmatch(r.body)[1]
	for range 5 {
		want(t, b.do("POST", "/.vestibule/account/totp/confirm", url.Values{"csrf": {tok}, "code": {"000000"}}), http.StatusUnauthorized)
	}
	totp := factor.DefaultTOTP()
	code, _ := totp.Code(secret, totp.Step(e.clock()))
	want(t, b.do("POST", "/.vestibule/account/totp/confirm", url.Values{"csrf": {tok}, "code": {code}}), http.StatusTooManyRequests)
	if got, _ := e.sealer.Open(e.st.enr["alice"].TOTPSecret, []byte("alice")); string(got) != "JBSWY3DPEHPK3PXP" {
		t.Error("the secret changed after the attempts ran out")
	}
}

func TestChangePhone(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP")
	b := e.session("alice", time.Minute)
	// A stale session is sent to step-up before it can start.
	r := e.session("alice", time.Hour).do("GET", "/.vestibule/account/phone", nil)
	want(t, r, http.StatusSeeOther)
	if r.header.Get("Location") != "/.vestibule/step-up?next=%2F.vestibule%2Faccount%2Fphone" {
		t.Errorf("stale: %q", r.header.Get("Location"))
	}
	want(t, b.do("GET", "/.vestibule/account/phone", nil), http.StatusOK, `id="phone-number"`)
	want(t, b.post("/.vestibule/account/phone", url.Values{"phone": {"+44 20 7946 0000"}}), http.StatusBadRequest, "That is not a mobile number")
	e.texter.refusal = "A code was sent just now."
	want(t, b.post("/.vestibule/account/phone", url.Values{"phone": {"07400 123457"}}), http.StatusTooManyRequests, "A code was sent just now.")
	e.texter.refusal = ""
	r = b.post("/.vestibule/account/phone", url.Values{"phone": {"07400 123457"}})
	want(t, r, http.StatusSeeOther)
	code := e.texter.sent["+447400123457"]
	if code == "" {
		t.Fatalf("no code sent to the national number read in GB: %v", e.texter.sent)
	}
	p := b.do("GET", "/.vestibule/account/phone", nil)
	want(t, p, http.StatusOK, "+44 •••• ••3457", `action="/.vestibule/account/phone/confirm"`)
	tok := reCSRF.FindStringSubmatch(p.body)[1]
	want(t, b.do("POST", "/.vestibule/account/phone/confirm", url.Values{"csrf": {tok}, "code": {"999999"}}), http.StatusUnauthorized, "4 attempts left.")
	if e.st.enr["alice"].Phone != "+447400123456" {
		t.Fatal("a wrong code changed the number")
	}
	want(t, b.do("POST", "/.vestibule/account/phone/confirm", url.Values{"csrf": {tok}, "code": {code[:3] + " " + code[3:]}}), http.StatusSeeOther)
	if e.st.enr["alice"].Phone != "+447400123457" {
		t.Fatalf("number after confirming: %q", e.st.enr["alice"].Phone)
	}
	if _, ok := b.jar[pendingCookie]; ok {
		t.Error("the pending change outlived its confirmation")
	}
	ev := e.notes.events
	if len(ev) != 1 || ev[0].Event != audit.PhoneChanged || ev[0].Phone != "+44 •••• ••3457" || ev[0].By != "user" || ev[0].User != "alice" {
		t.Errorf("notified %+v", ev)
	}
	// An expired change can't be confirmed.
	b.post("/.vestibule/account/phone", url.Values{"phone": {"07400 654321"}})
	e.advance(6 * time.Minute)
	b2 := &browser{e: e, jar: b.jar}
	fresh := e.session("alice", 0)
	b2.jar["vestibule_gate"] = fresh.jar["vestibule_gate"]
	want(t, b2.post("/.vestibule/account/phone/confirm", url.Values{"code": {e.texter.sent["+447400654321"]}}), http.StatusGone)
}

func TestStoreFailure(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP")
	b := e.session("alice", time.Minute)
	_, tok := b.page()
	e.st.fail = errors.New("database is locked")
	want(t, b.do("GET", "/.vestibule/account", nil), http.StatusServiceUnavailable)
	want(t, b.do("POST", "/.vestibule/account/recovery-codes", url.Values{"csrf": {tok}}), http.StatusServiceUnavailable)
	if strings.Contains(b.do("GET", "/.vestibule/account", nil).body, "database is locked") {
		t.Error("the store's error reached the page")
	}
}

func TestBrowserName(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0":           "Edge · Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1": "Safari · iPhone",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36":                          "Chrome · macOS",
		"curl/8.5.0": "curl",
		"":           "Unknown browser",
	} {
		if got := browserName(ua); got != want {
			t.Errorf("browserName(%q) = %q, want %q", ua, got, want)
		}
	}
}

// TestAddPasskey: the page hands the browser the ceremony's options and
// the script's form; the answer to this session's ceremony is stored
// under the name given, once; a refused answer stores nothing.
func TestAddPasskey(t *testing.T) {
	e := newTenv(t)
	e.user("alice", "JBSWY3DPEHPK3PXP", "YubiKey")
	b := e.session("alice", time.Minute)
	p := b.post("/.vestibule/account/passkey", nil)
	want(t, p, http.StatusOK, `data-passkey="create"`, `data-passkey-options="{"challenge":"c1","excluded":1}"`,
		`src="/.vestibule/static/passkey.js"`, `name="passkey_response"`)
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q does not allow the passkey script", csp)
	}
	tok := reCSRF.FindStringSubmatch(p.body)[1]
	r := b.do("POST", "/.vestibule/account/passkey/finish", url.Values{"csrf": {tok}, "name": {"Laptop"}, "passkey_response": {"session-alice-2:new"}})
	want(t, r, http.StatusBadRequest, "The passkey was not added.")
	if len(e.st.passkeys["alice"]) != 1 {
		t.Fatal("a refused answer stored a passkey")
	}
	// The refused ceremony is over: start again.
	b.post("/.vestibule/account/passkey", nil)
	cookie := b.jar[pendingCookie]
	r = b.do("POST", "/.vestibule/account/passkey/finish", url.Values{"csrf": {tok}, "name": {"Laptop"}, "passkey_response": {"session-alice-2:cred-2"}})
	want(t, r, http.StatusSeeOther)
	pks := e.st.passkeys["alice"]
	if len(pks) != 2 || pks[1].Name != "Laptop" || string(pks[1].ID) != "cred-2" {
		t.Fatalf("passkeys after adding: %+v", pks)
	}
	b.jar[pendingCookie] = cookie
	want(t, b.do("POST", "/.vestibule/account/passkey/finish", url.Values{"csrf": {tok}, "name": {"Again"}, "passkey_response": {"session-alice-2:cred-3"}}), http.StatusGone)
	if got := e.notes.names(); len(got) != 1 || got[0] != audit.PasskeyAdded {
		t.Errorf("notified %v", got)
	}
	// Without a registrar the page offers no passkey to add.
	e2 := newTenv(t, func(o *Options) { o.Passkeys, o.Refused = nil, nil })
	e2.user("bob", "JBSWY3DPEHPK3PXP")
	p2, _ := e2.session("bob", time.Minute).page()
	if strings.Contains(p2.body, `id="passkey-add"`) {
		t.Error("passkey add offered without a registrar")
	}
}

// TestDeviceLive: the page lists only devices whose cookie still skips
// the second factor.
func TestDeviceLive(t *testing.T) {
	e := newTenv(t) // DeviceMaxAge 24h
	now := e.clock()
	enrolled := now.Add(-72 * time.Hour)
	for _, tc := range []struct {
		name           string
		d              store.Device
		devicesRevoked time.Time
		live           bool
		enrolled       time.Time // zero: enrolled
	}{
		{"live", store.Device{Created: now.Add(-time.Hour)}, now.Add(-10 * time.Hour), true, time.Time{}},
		{"forgotten", store.Device{Created: now.Add(-time.Hour), Revoked: now}, time.Time{}, false, time.Time{}},
		{"revoked with all", store.Device{Created: now.Add(-11 * time.Hour)}, now.Add(-10 * time.Hour), false, time.Time{}},
		{"revoked in the same instant", store.Device{Created: now.Add(-10 * time.Hour)}, now.Add(-10 * time.Hour), false, time.Time{}},
		{"earlier enrollment", store.Device{Created: now.Add(-2 * time.Hour)}, time.Time{}, false, now.Add(-time.Hour)},
		{"expired", store.Device{Created: now.Add(-24 * time.Hour)}, time.Time{}, false, time.Time{}},
	} {
		enr := store.Enrollment{CreatedAt: enrolled, DevicesRevoked: tc.devicesRevoked}
		if !tc.enrolled.IsZero() {
			enr.CreatedAt = tc.enrolled
		}
		if got := e.h.deviceLive(tc.d, enr); got != tc.live {
			t.Errorf("%s: live = %v, want %v", tc.name, got, tc.live)
		}
	}
}
