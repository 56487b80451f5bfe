package server

import (
	"context"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/store"
)

// The security page (package account) through a whole gateway in front of
// the demo app: sessions, step-up, the store, the webhook.

const accountPath = "/.vestibule/account"

// accountPage loads the security page and returns it with its form token.
func (b *browser) accountPage() (page, string) {
	b.t.Helper()
	p := b.get(accountPath)
	must(b.t, p, http.StatusOK)
	return p, csrf(b.t, p)
}

// accountPost posts one of the page's forms with the page's token.
func (b *browser) accountPost(path string, form url.Values) page {
	b.t.Helper()
	_, tok := b.accountPage()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", tok)
	return b.post(accountPath+path, form)
}

// signedIn enrolls user with an authenticator app and returns the browser
// with its released session, the secret and the recovery codes.
func (e *env) signedIn(user, pass string) (*browser, string, []string) {
	e.t.Helper()
	b := e.browser()
	b.login(user, pass)
	secret, codes := b.enroll()
	return b, secret, codes
}

func TestAccountNeedsASession(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	stranger := e.browser()
	p := stranger.get(accountPath)
	must(t, p, http.StatusUnauthorized)
	if !strings.Contains(p.body, "This page needs a signed-in session.") || !strings.Contains(p.body, `href="/login"`) {
		t.Errorf("no session: %.400s", p.body)
	}
	must(t, stranger.post(accountPath+"/recovery-codes", url.Values{"csrf": {"x"}}), http.StatusForbidden)
	// A held login that has not passed its second factor is no session.
	stranger.login("alice", "wonderland")
	must(t, stranger.get(accountPath), http.StatusUnauthorized)
	// Unknown paths under the page are its own 404.
	b, _, _ := e.signedIn("bob", "builder")
	must(t, b.get(accountPath+"/nothing"), http.StatusNotFound)
}

// TestAccountPageShowsFactorsAndSignIns: after enrolling, the page lists
// the authenticator app, ten recovery codes and the sign-in just made.
func TestAccountPageShowsFactorsAndSignIns(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b, _, _ := e.signedIn("alice", "wonderland")
	p, _ := b.accountPage()
	body := html.UnescapeString(p.body)
	for _, want := range []string{`id="user">alice<`, "Authenticator app", "Added 24 Nov 2026 12:00 UTC", "10 left",
		"24 Nov 2026 12:00 UTC", "127.0.0.1 · Authenticator app", `id="no-devices"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if h := p.header.Get("Content-Security-Policy"); !strings.Contains(h, "frame-ancestors 'none'") || p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("page headers: %v", p.header)
	}
	ins, err := e.srv.Durable().(accountDurable).SignIns(context.Background(), "alice", 10)
	if err != nil || len(ins) != 1 || ins[0].Factor != "totp" || ins[0].IP != "127.0.0.1" || !ins[0].At.Equal(e.clock.Now()) {
		t.Fatalf("sign-ins recorded: %+v %v", ins, err)
	}
}

// accountDurable is the durable store with what the security page reads.
type accountDurable interface {
	store.Durable
	SignIns(ctx context.Context, user string, limit int) ([]store.SignIn, error)
	AddPasskey(ctx context.Context, p store.Passkey) error
	Passkeys(ctx context.Context, user string) ([]store.Passkey, error)
}

// TestAccountRefusals: a form without its token, from another origin, or
// from a session whose second factor is too old changes nothing; the old
// one goes through step-up and back.
func TestAccountRefusals(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b, secret, _ := e.signedIn("alice", "wonderland")
	before, _ := e.srv.Durable().Enrollment(context.Background(), "alice")
	_, tok := b.accountPage()
	must(t, b.post(accountPath+"/recovery-codes", url.Values{}), http.StatusForbidden)
	must(t, b.post(accountPath+"/recovery-codes", url.Values{"csrf": {"forged"}}), http.StatusForbidden)
	must(t, b.do("POST", accountPath+"/recovery-codes", url.Values{"csrf": {tok}}, "Origin", "https://evil.example"), http.StatusForbidden)
	// Another user's token is useless.
	bob, _, _ := e.signedIn("bob", "builder")
	must(t, bob.post(accountPath+"/recovery-codes", url.Values{"csrf": {tok}}), http.StatusForbidden)

	e.clock.Advance(6 * time.Minute)
	p := b.post(accountPath+"/recovery-codes", url.Values{"csrf": {tok}})
	must(t, p, http.StatusSeeOther)
	if location(p) != "/.vestibule/step-up?next=%2F.vestibule%2Faccount&resend=1" {
		t.Fatalf("stale factor: %q", location(p))
	}
	if after, _ := e.srv.Durable().Enrollment(context.Background(), "alice"); len(after.RecoveryHashes) != len(before.RecoveryHashes) ||
		string(after.RecoveryHashes[0]) != string(before.RecoveryHashes[0]) {
		t.Fatal("a refused post replaced the recovery codes")
	}
	// The step-up page says the form was not sent, takes a fresh code and
	// comes back; the change then goes through.
	su := b.get(location(p))
	must(t, su, http.StatusOK)
	if !strings.Contains(su.body, "what you submitted was not sent") {
		t.Errorf("step-up page does not say the form was not sent")
	}
	p = b.post("/.vestibule/step-up", url.Values{"csrf": {csrf(t, su)}, "code": {b.code(secret, 0)}, "next": {accountPath}})
	must(t, p, http.StatusSeeOther)
	if location(p) != accountPath {
		t.Fatalf("step-up returns to %q", location(p))
	}
	must(t, b.accountPost("/recovery-codes", nil), http.StatusOK)
}

// TestAccountRecoveryCodes: new codes are shown once, the old ones stop
// working and the new ones sign in.
func TestAccountRecoveryCodes(t *testing.T) {
	hook := newHookReceiver(t)
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.Enrollment.Webhook.URL, c.Enrollment.Webhook.Secret = hook.srv.URL+"/enrolled", hook.secret
	}})
	b, _, old := e.signedIn("alice", "wonderland")
	hook.next(t) // the enrollment
	p := b.accountPost("/recovery-codes", nil)
	must(t, p, http.StatusOK)
	var fresh []string
	for _, m := range reCodes.FindAllStringSubmatch(p.body, -1) {
		fresh = append(fresh, m[1])
	}
	if len(fresh) != 10 {
		t.Fatalf("%d new codes shown", len(fresh))
	}
	if ev := hook.next(t); ev.Event != "recovery_codes_replaced" || ev.User != "alice" || ev.By != "user" || ev.RemoteIP != "127.0.0.1" {
		t.Errorf("webhook event %+v", ev)
	}
	if !strings.Contains(e.logs.String(), "event=recovery_codes_replaced user=alice") {
		t.Error("no audit event")
	}
	b.get("/logout")
	b.login("alice", "wonderland")
	p = b.get("/.vestibule/recovery")
	must(t, b.post("/.vestibule/recovery", url.Values{"csrf": {csrf(t, p)}, "code": {old[0]}}), http.StatusUnauthorized)
	p = b.get("/.vestibule/recovery")
	b.expectReleased(b.post("/.vestibule/recovery", url.Values{"csrf": {csrf(t, p)}, "code": {fresh[0]}}))
}

// TestAccountReplaceAuthenticator: the new app's first code confirms it;
// then the old app's codes no longer sign in and the new one's do.
func TestAccountReplaceAuthenticator(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b, oldSecret, _ := e.signedIn("alice", "wonderland")
	p := b.accountPost("/totp", nil)
	must(t, p, http.StatusOK)
	secret := strings.ReplaceAll(reSecret.FindStringSubmatch(p.body)[1], " ", "")
	if secret == oldSecret {
		t.Fatal("the new secret is the old one")
	}
	tok := csrf(t, p)
	must(t, b.post(accountPath+"/totp/confirm", url.Values{"csrf": {tok}, "code": {b.code(oldSecret, 1)}}), http.StatusUnauthorized)
	p = b.post(accountPath+"/totp/confirm", url.Values{"csrf": {tok}, "code": {b.code(secret, 0)}})
	must(t, p, http.StatusSeeOther)
	if p := b.get(location(p)); !strings.Contains(p.body, "Your new authenticator app is set up.") {
		t.Errorf("no note after the change: %.300s", p.body)
	}
	b.get("/logout")
	e.clock.Advance(time.Minute)
	b.login("alice", "wonderland")
	must(t, b.verify(b.code(oldSecret, 0)), http.StatusUnauthorized)
	b.expectReleased(b.verify(b.code(secret, 0)))
}

// TestAccountPasskeys: a passkey is renamed, then removed while the
// authenticator app remains; the app, now the last factor, stays.
func TestAccountPasskeys(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b, _, _ := e.signedIn("alice", "wonderland")
	db := e.srv.Durable().(accountDurable)
	pk := store.Passkey{User: "alice", ID: []byte("credential-1"), PublicKey: []byte{1}, UserHandle: []byte("h"), Name: "YubiKey",
		CreatedAt: e.clock.Now(), BackupEligible: true}
	if err := db.AddPasskey(context.Background(), pk); err != nil {
		t.Fatal(err)
	}
	id := base64.RawURLEncoding.EncodeToString(pk.ID)
	p, _ := b.accountPage()
	if !strings.Contains(p.body, "YubiKey") || !strings.Contains(p.body, "this device only") {
		t.Fatalf("passkey not listed: %.2000s", p.body)
	}
	must(t, b.accountPost("/passkey/rename", url.Values{"id": {id}, "name": {"Desk key"}}), http.StatusSeeOther)
	if pks, _ := db.Passkeys(context.Background(), "alice"); len(pks) != 1 || pks[0].Name != "Desk key" {
		t.Fatalf("after rename: %+v", pks)
	}
	must(t, b.accountPost("/passkey/remove", url.Values{"id": {id}}), http.StatusSeeOther)
	if pks, _ := db.Passkeys(context.Background(), "alice"); len(pks) != 0 {
		t.Fatalf("after remove: %+v", pks)
	}
	p = b.accountPost("/totp/remove", nil)
	must(t, p, http.StatusConflict)
	if enr, _ := db.Enrollment(context.Background(), "alice"); len(enr.TOTPSecret) == 0 {
		t.Fatal("the last factor was removed")
	}
	for _, ev := range []string{"event=passkey_renamed user=alice", "event=factor_removed user=alice", "event=factor_removal_refused user=alice"} {
		if !strings.Contains(e.logs.String(), ev) {
			t.Errorf("log lacks %s", ev)
		}
	}
}

// TestAccountForgetDevice: a remembered browser is listed, skips the code
// (a sign-in "by remembered device"), and once forgotten on the page is
// asked for a code again.
func TestAccountForgetDevice(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) { c.RememberDevice.Enabled = true }})
	b := e.browser()
	b.login("alice", "wonderland")
	p := b.get("/.vestibule/enroll")
	secret := strings.ReplaceAll(reSecret.FindStringSubmatch(p.body)[1], " ", "")
	p = b.post("/.vestibule/enroll", url.Values{"csrf": {csrf(t, p)}, "code": {b.code(secret, 0)}})
	b.expectReleased(b.post("/.vestibule/release", url.Values{"csrf": {csrf(t, p)}, "remember": {"on"}}))
	b.get("/logout")
	e.clock.Advance(time.Minute)
	p = b.post("/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
	if location(p) != "/account" {
		t.Fatalf("remembered device asked for a code: %q", location(p))
	}
	page, _ := b.accountPage()
	id := regexp.MustCompile(`name="id" value="([0-9a-f]+)"`).FindStringSubmatch(page.body)
	if id == nil || !strings.Contains(html.UnescapeString(page.body), "127.0.0.1 · last used 24 Nov 2026 12:01 UTC") {
		t.Fatalf("device not listed: %.3000s", page.body)
	}
	if !strings.Contains(html.UnescapeString(page.body), "127.0.0.1 · Remembered device") {
		t.Error("the sign-in by remembered device is not listed")
	}
	must(t, b.accountPost("/device/revoke", url.Values{"id": {id[1]}}), http.StatusSeeOther)
	if page, _ := b.accountPage(); strings.Contains(page.body, `name="id" value="`+id[1]) {
		t.Error("the forgotten device is still listed")
	}
	b.get("/logout")
	e.clock.Advance(time.Minute)
	b.login("alice", "wonderland") // asks for a code again
}

// TestAccountSignOutEverywhereElse: the other browser's session ends; this
// one stays signed in although its new cookie is issued in the same
// instant as the revocation (the test clock stands still).
func TestAccountSignOutEverywhereElse(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	other, secret, _ := e.signedIn("alice", "wonderland")
	bob, _, _ := e.signedIn("bob", "builder")
	e.clock.Advance(time.Minute)
	b := e.browser()
	b.login("alice", "wonderland")
	b.expectReleased(b.verify(b.code(secret, 0)))
	e.clock.Advance(time.Second)
	if other.whoami() != "alice" || b.whoami() != "alice" {
		t.Fatal("both sessions should be signed in before")
	}
	must(t, b.accountPost("/sessions/end", nil), http.StatusSeeOther)
	if got := b.whoami(); got != "alice" {
		t.Fatalf("this browser was signed out too: %q", got)
	}
	if got := other.whoami(); got == "alice" {
		t.Fatal("the other session survived")
	}
	if got := bob.whoami(); got != "bob" {
		t.Fatalf("another user's session ended: %q", got)
	}
	if !strings.Contains(e.logs.String(), "event=sessions_ended user=alice") {
		t.Error("no audit event")
	}
}

// TestAccountChangePhone: a code goes to the new number through the
// configured sender; once confirmed the number replaces the old one, and
// the next text-message sign-in goes there.
func TestAccountChangePhone(t *testing.T) {
	f := newFakeTwilio(t)
	hook := newHookReceiver(t)
	e := smsEnv(t, f, func(c *config.Config) {
		c.Enrollment.Webhook.URL, c.Enrollment.Webhook.Secret = hook.srv.URL+"/enrolled", hook.secret
	})
	b, _, _ := e.signedIn("alice", "wonderland")
	hook.next(t)
	p := b.get(accountPath + "/phone")
	must(t, p, http.StatusOK)
	must(t, b.post(accountPath+"/phone", url.Values{"csrf": {csrf(t, p)}, "phone": {"+44 20 7946 0000"}}), http.StatusBadRequest)
	p = b.post(accountPath+"/phone", url.Values{"csrf": {csrf(t, p)}, "phone": {"+44 7400 654321"}})
	must(t, p, http.StatusSeeOther)
	code := f.lastCode(t, "+447400654321")
	p = b.get(location(p))
	must(t, p, http.StatusOK)
	if !strings.Contains(html.UnescapeString(p.body), "+44 •••• ••4321") {
		t.Errorf("confirmation page: %.500s", p.body)
	}
	// A second number within the resend cooldown is refused.
	p2 := b.post(accountPath+"/phone", url.Values{"csrf": {csrf(t, p)}, "phone": {"+44 7400 111222"}})
	must(t, p2, http.StatusTooManyRequests)
	p = b.post(accountPath+"/phone/confirm", url.Values{"csrf": {csrf(t, p)}, "code": {code}})
	must(t, p, http.StatusSeeOther)
	if enr, _ := e.srv.Durable().Enrollment(context.Background(), "alice"); enr.Phone != "+447400654321" {
		t.Fatalf("phone after the change: %q", enr.Phone)
	}
	want := notify.Event{Event: "phone_changed", User: "alice", Factor: "sms", Phone: "+44 •••• ••4321", By: "user", RemoteIP: "127.0.0.1", Time: e.clock.Now()}
	if ev := hook.next(t); ev != want {
		t.Errorf("webhook %+v, want %+v", ev, want)
	}
	b.get("/logout")
	e.clock.Advance(time.Minute)
	b.login("alice", "wonderland")
	b.sendSMS()
	f.lastCode(t, "+447400654321")
}

// TestAccountWithoutTOTP: with factors.totp forbidden the page offers no
// authenticator app, and the phone, the only factor, stays.
func TestAccountWithoutTOTP(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, func(c *config.Config) { c.Factors.TOTP = "forbidden" })
	b := e.smsSignedIn(f, "alice", "wonderland")
	page, _ := b.accountPage()
	if strings.Contains(page.body, `id="totp"`) || !strings.Contains(html.UnescapeString(page.body), "+44 •••• ••3456") {
		t.Errorf("page with TOTP forbidden: %.2000s", page.body)
	}
	must(t, b.accountPost("/totp", nil), http.StatusNotFound)
	// The phone is the last factor.
	must(t, b.accountPost("/phone/remove", nil), http.StatusConflict)
}
