package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/server"
)

// passkeyGateway is a gateway over the demo app at http://localhost:PORT
// (a secure context whose relying party id is localhost), with step-up on
// /whoami after 30 seconds, a clock the test can move forward, and its
// log. It returns the gateway's URL, the server, the encryption key (to
// seal a TOTP secret as the gateway does), the clock's offset and the log.
func passkeyGateway(t *testing.T) (string, *server.Server, []byte, *atomic.Int64, *syncBuffer) {
	t.Helper()
	app := demoapp.New(demoapp.Options{})
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	gw := httptest.NewUnstartedServer(nil)
	base := strings.Replace("http://"+gw.Listener.Addr().String(), "127.0.0.1", "localhost", 1)
	encKey := randomKey()
	yml := fmt.Sprintf(`
public_url: %q
app_name: Passkey Test
upstream: {url: %q}
session_cookies: [demo_session]
login: {success: {status: [303], headers: {Location: "/account"}}}
logout: {routes: [{path: /logout}]}
step_up: [{path: /whoami, max_age: 30s}]
gate: {keys: [%q]}
secrets: {encryption_keys: [%q]}
store: {sqlite: %q}
`, base, appSrv.URL, randomKey(), encKey, filepath.Join(t.TempDir(), "v.db"))
	cfg, err := config.ParseWith([]byte(yml), "passkey.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.PasskeysOn() {
		t.Fatal("passkeys are off for a localhost public_url")
	}
	offset := &atomic.Int64{}
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs)
		}
	})
	srv := serveGateway(t, gw, cfg, server.Deps{
		Now:    func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	key, _ := base64.StdEncoding.DecodeString(encKey)
	return base, srv, key, offset, logs
}

// pressPasskey waits for the page's passkey button (shown by passkey.js
// where WebAuthn works) and presses it.
func pressPasskey(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	do(t, ctx, what, chromedp.WaitVisible(`button#use-passkey`), chromedp.WaitEnabled(`button#use-passkey`),
		chromedp.ScrollIntoView(`button#use-passkey`), chromedp.Click(`button#use-passkey`))
}

// TestPasskeyGatewayInBrowser: the gate pages with passkeys, in Chromium
// with a virtual authenticator. alice chooses a passkey at her first
// sign-in (recovery codes too), signs in with it, and passes step-up with
// it (she has no other factor); bob enrolls a passkey on the same
// authenticator, and alice's passkey, asked for on bob's page, is refused;
// bob, given an authenticator app as well, signs in with a code instead; a
// clone of alice's passkey with its counter set back is refused and
// audited.
func TestPasskeyGatewayInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	base, srv, encKey, offset, logs := passkeyGateway(t)
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn domain: %v", err)
	}
	authA := addAuthenticator(t, ctx)
	bg := context.Background()
	at := func(suffix, want string) {
		t.Helper()
		if loc, body := page(t, ctx, suffix); !strings.HasSuffix(strings.SplitN(loc, "?", 2)[0], suffix) || !strings.Contains(body, want) {
			t.Fatalf("browser at %s showing %.400q; want %s with %q", loc, body, suffix, want)
		}
	}
	enrollPasskey := func(user, pass string) {
		t.Helper()
		demoSignIn(t, ctx, base, user, pass)
		at("/.vestibule/enroll", "Use a passkey or security key instead")
		do(t, ctx, "choosing a passkey", chromedp.Click(`a#use-passkey`))
		at("/.vestibule/enroll-passkey", "Set up a passkey")
		pressPasskey(t, ctx, "registering "+user+"'s passkey")
		do(t, ctx, "recovery codes", chromedp.WaitVisible(`#codes`))
		do(t, ctx, "continuing", chromedp.Click(`#continue`))
		at("/account", "Welcome, "+user)
		do(t, ctx, "logging out", chromedp.Navigate(base+"/logout"))
	}

	// alice: a passkey at her first sign-in, with recovery codes.
	enrollPasskey("alice", "wonderland")
	enr, err := srv.Durable().Enrollment(bg, "alice")
	alice, _ := srv.Durable().Passkeys(bg, "alice")
	if err != nil || enr.Passkeys != 1 || len(enr.TOTPSecret) != 0 || len(enr.RecoveryHashes) != 10 || len(alice) != 1 {
		t.Fatalf("alice's enrollment %+v (%v), %d passkeys; want one passkey, 10 recovery codes, no authenticator", enr, err, len(alice))
	}
	if held := credentialsOf(t, ctx, authA); len(held) != 1 || !bytes.Equal(held[0].CredentialID, alice[0].ID) || held[0].RpID != "localhost" {
		t.Fatalf("the authenticator holds %+v, want alice's passkey for localhost", held)
	}

	// alice signs in with it: the passkey is offered first.
	demoSignIn(t, ctx, base, "alice", "wonderland")
	at("/.vestibule/verify", "Use your passkey or security key")
	pressPasskey(t, ctx, "alice's passkey sign-in")
	at("/account", "Welcome, alice")
	alice, _ = srv.Durable().Passkeys(bg, "alice")
	if alice[0].SignCount == 0 || alice[0].LastUsed.IsZero() {
		t.Errorf("after the sign-in the stored passkey is %+v, want its counter and last use", alice[0])
	}

	// Step-up on /whoami after its max age: a passkey-only user passes it.
	offset.Store(int64(time.Minute))
	do(t, ctx, "opening /whoami", chromedp.Navigate(base+"/whoami"))
	at("/.vestibule/step-up", "Use your passkey or security key")
	pressPasskey(t, ctx, "alice's passkey step-up")
	at("/whoami", "alice")
	do(t, ctx, "logging out", chromedp.Navigate(base+"/logout"))

	// bob: a passkey on the same authenticator; alice's, asked for on
	// bob's page, is refused.
	enrollPasskey("bob", "builder")
	demoSignIn(t, ctx, base, "bob", "builder")
	at("/.vestibule/verify", "Use your passkey or security key")
	swap := fmt.Sprintf(`(() => { const f = document.querySelector("form[data-passkey]"); const o = JSON.parse(f.dataset.passkeyOptions);
		o.allowCredentials = [{type: "public-key", id: %q}]; f.dataset.passkeyOptions = JSON.stringify(o); })()`,
		base64.RawURLEncoding.EncodeToString(alice[0].ID))
	do(t, ctx, "bob's page asks for alice's passkey", chromedp.WaitVisible(`button#use-passkey`))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](swap)); err != nil {
		t.Fatal(err)
	}
	pressPasskey(t, ctx, "alice's passkey for bob")
	at("/.vestibule/passkey", "That passkey did not work. 4 attempts left.")

	// bob gets an authenticator app too (sealed as the gateway seals it):
	// the code page offers it beside the passkey, and a code signs in.
	sealer, err := seal.New([][]byte{encKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := factor.NewTOTPSecret(rand.Reader)
	sealed, _ := sealer.Seal([]byte(secret), []byte("bob"))
	if err := srv.Durable().SetTOTP(bg, "bob", sealed, time.Now()); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "the code page again", chromedp.Navigate(base+"/.vestibule/verify"))
	at("/.vestibule/verify", "Or use your authenticator app")
	totp := factor.DefaultTOTP()
	code, _ := totp.Code(secret, totp.Step(time.Now().Add(time.Duration(offset.Load()))))
	do(t, ctx, "bob's code", chromedp.WaitVisible(`#code`), chromedp.SendKeys(`#code`, code), chromedp.Click(`#submit`))
	at("/account", "Welcome, bob")
	do(t, ctx, "logging out", chromedp.Navigate(base+"/logout"))

	// A clone of alice's passkey whose counter starts again from 0, in
	// another authenticator.
	var clone *webauthn.Credential
	for _, c := range credentialsOf(t, ctx, authA) {
		if bytes.Equal(c.CredentialID, alice[0].ID) {
			clone = c
		}
	}
	if clone == nil || len(clone.PrivateKey) == 0 {
		t.Fatal("alice's credential is not in the authenticator")
	}
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: authA}); err != nil {
		t.Fatal(err)
	}
	authB := addAuthenticator(t, ctx)
	copied := &webauthn.Credential{CredentialID: clone.CredentialID, IsResidentCredential: clone.IsResidentCredential, RpID: clone.RpID,
		PrivateKey: clone.PrivateKey, UserHandle: clone.UserHandle, UserName: clone.UserName, SignCount: 0}
	if _, err := chromedp.Call(ctx, webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: authB, Credential: copied}); err != nil {
		t.Fatalf("adding the clone: %v", err)
	}
	before, _ := srv.Durable().Passkeys(bg, "alice")
	demoSignIn(t, ctx, base, "alice", "wonderland")
	at("/.vestibule/verify", "Use your passkey or security key")
	pressPasskey(t, ctx, "the clone")
	at("/.vestibule/passkey", "That passkey did not work.")
	if !strings.Contains(logs.String(), "event=passkey_sign_count") {
		t.Error("the clone's counter was not audited (passkey_sign_count)")
	}
	if after, _ := srv.Durable().Passkeys(bg, "alice"); after[0].SignCount != before[0].SignCount || before[0].SignCount <= alice[0].SignCount {
		t.Errorf("alice's stored counter: %d after sign-in, %d after step-up, %d after the clone; want it grown by the step-up and kept",
			alice[0].SignCount, before[0].SignCount, after[0].SignCount)
	}
}
