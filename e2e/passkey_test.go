package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/vestibule-gw/vestibule/passkey"
	"github.com/vestibule-gw/vestibule/static"
	"github.com/vestibule-gw/vestibule/store"
)

// passkeyApp is a minimal page pair around the passkey package and
// static/passkey.js, under the CSP the gate pages use (scripts from 'self'
// only): /register and /login show a passkey form for ?user=, and their
// POST finishes the ceremony. Sessions are single use; passkeys are kept in
// memory; the last error is kept for the test to match. The button ships
// hidden and is named "submit" (shadowing form.submit): the script must
// show it, and submit the form all the same.
type passkeyApp struct {
	rp *passkey.RP

	mu       sync.Mutex
	creds    map[string][]store.Passkey
	sessions map[string][]byte // by mode and user
	lastErr  error
}

var passkeyPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>passkey</title><script src="/static/passkey.js" defer></script></head>
<body>{{if .Result}}<p id="result">{{.Result}}</p>{{else}}
<form method="post" action="/{{.Path}}?user={{.User}}" data-passkey="{{.Mode}}" data-passkey-options="{{.Options}}"
 data-passkey-unsupported="unsupported" data-passkey-cancelled="cancelled" data-passkey-exists="exists" data-passkey-failed="failed">
<input type="hidden" name="csrf" value="token">
<input type="hidden" name="passkey_response" data-passkey-response>
<p id="message" data-passkey-message role="alert" hidden></p>
<button type="submit" id="go" name="submit" data-passkey-button hidden>{{.Path}} as {{.User}}</button>
</form>{{end}}</body></html>`))

func (a *passkeyApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; form-action 'self'; base-uri 'none'")
	user := r.URL.Query().Get("user")
	path := strings.Trim(r.URL.Path, "/")
	mode := map[string]string{"register": "create", "login": "get"}[path]
	if mode == "" || user == "" {
		http.NotFound(w, r)
		return
	}
	page := map[string]string{"Path": path, "User": user, "Mode": mode}
	a.mu.Lock()
	defer a.mu.Unlock()
	key := mode + " " + user
	switch r.Method {
	case http.MethodGet:
		var options, session []byte
		var err error
		if mode == "create" {
			options, session, err = a.rp.BeginRegistration(user, a.creds[user])
		} else {
			options, session, err = a.rp.BeginLogin(user, a.creds[user])
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.sessions[key] = session
		page["Options"] = string(options)
	case http.MethodPost:
		session := a.sessions[key]
		delete(a.sessions, key) // single use
		if r.FormValue("csrf") != "token" {
			http.Error(w, "csrf", http.StatusForbidden)
			return
		}
		response := []byte(r.FormValue("passkey_response"))
		if mode == "create" {
			p, err := a.rp.FinishRegistration(session, user, response)
			if a.lastErr = err; err == nil {
				a.creds[user] = append(a.creds[user], p)
				page["Result"] = "registered"
			}
		} else {
			got, err := a.rp.FinishLogin(session, user, a.creds[user], response)
			if a.lastErr = err; err == nil {
				for i, p := range a.creds[user] {
					if bytes.Equal(p.ID, got.CredentialID) {
						a.creds[user][i].SignCount, a.creds[user][i].BackupState = got.SignCount, got.BackupState
					}
				}
				page["Result"] = "signed in as " + user
			}
		}
		if a.lastErr != nil {
			page["Result"] = "refused"
		}
	}
	if err := passkeyPage.Execute(w, page); err != nil {
		panic(err)
	}
}

func (a *passkeyApp) state(user string) ([]store.Passkey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]store.Passkey(nil), a.creds[user]...), a.lastErr
}

// startPasskeyApp serves the app on loopback, reached as
// http://localhost:PORT: a secure context whose RP id is localhost.
func startPasskeyApp(t *testing.T) (*passkeyApp, string) {
	t.Helper()
	app := &passkeyApp{creds: map[string][]store.Passkey{}, sessions: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static.FS)))
	mux.Handle("/", app)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	rp, err := passkey.New(passkey.Config{PublicURL: base, RPName: "Vestibule test"}, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	app.rp = rp
	return app, base
}

func addAuthenticator(t *testing.T, ctx context.Context) webauthn.AuthenticatorID {
	t.Helper()
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
			// cdproto always sends generateCmtgKeyOnNextOperation with a
			// credential, which Chromium refuses unless the authenticator
			// supports CMTG keys.
			HasCmtgKey: true,
		}})
	if err != nil {
		t.Fatalf("adding a virtual authenticator: %v", err)
	}
	return res.AuthenticatorID
}

func credentialsOf(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		t.Fatalf("reading the authenticator's credentials: %v", err)
	}
	return res.Credentials
}

// passkeyCeremony opens path for user, optionally changes the form's
// options in the page (as a hostile client could), presses the button and
// returns the result page's text.
func passkeyCeremony(t *testing.T, ctx context.Context, base, path, user, script string) string {
	t.Helper()
	do(t, ctx, path+" as "+user,
		chromedp.Navigate(base+"/"+path+"?user="+user),
		chromedp.WaitVisible(`#go`),
	)
	if script != "" {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](script)); err != nil {
			t.Fatalf("changing the page: %v", err)
		}
	}
	do(t, ctx, "pressing "+path, chromedp.Click(`#go`), chromedp.WaitVisible(`#result`))
	text, err := chromedp.Run(ctx, chromedp.Text(`#result`))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(text)
}

// TestPasskeyInBrowser: static/passkey.js and the passkey package in
// Chromium with a virtual authenticator (CTAP2, internal, resident keys,
// user verification): alice registers and signs in; bob registers on the
// same authenticator and signs in; so does carol in a browser without the
// WebAuthn JSON helpers; alice's passkey is refused for bob even when the
// page is altered to ask for it; a zeroed signature is refused; a clone of
// alice's passkey with its counter set back is refused; a sign-in nobody
// answers shows the page's message.
func TestPasskeyInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	app, base := startPasskeyApp(t)
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn domain: %v", err)
	}
	authA := addAuthenticator(t, ctx)

	if got := passkeyCeremony(t, ctx, base, "register", "alice", ""); got != "registered" {
		_, err := app.state("alice")
		t.Fatalf("registering alice: page says %q (%v)", got, err)
	}
	alice, _ := app.state("alice")
	held := credentialsOf(t, ctx, authA)
	if len(alice) != 1 || len(held) != 1 || !bytes.Equal(held[0].CredentialID, alice[0].ID) {
		t.Fatalf("after registering: stored %d passkeys, the authenticator %d, want the same one", len(alice), len(held))
	}
	if c := held[0]; c.RpID != "localhost" || !c.IsResidentCredential || !bytes.Equal(c.UserHandle, app.rp.UserHandle("alice", nil)) || c.UserName != "alice" {
		t.Errorf("authenticator holds rpId %q resident %v handle %x name %q; want localhost, resident, alice's handle %x",
			c.RpID, c.IsResidentCredential, c.UserHandle, c.UserName, app.rp.UserHandle("alice", nil))
	}
	if alice[0].BackupEligible || len(alice[0].PublicKey) == 0 || !strings.Contains(strings.Join(alice[0].Transports, ","), "internal") {
		t.Errorf("stored passkey %+v: want a public key, internal transport, not backup eligible", alice[0])
	}

	if got := passkeyCeremony(t, ctx, base, "login", "alice", ""); got != "signed in as alice" {
		_, err := app.state("alice")
		t.Fatalf("alice's sign-in: page says %q (%v)", got, err)
	}
	alice, _ = app.state("alice")
	if alice[0].SignCount == 0 {
		t.Errorf("the virtual authenticator counts signatures, yet the stored counter is 0")
	}

	if got := passkeyCeremony(t, ctx, base, "register", "bob", ""); got != "registered" {
		_, err := app.state("bob")
		t.Fatalf("registering bob: page says %q (%v)", got, err)
	}
	if got := passkeyCeremony(t, ctx, base, "login", "bob", ""); got != "signed in as bob" {
		_, err := app.state("bob")
		t.Fatalf("bob's sign-in: page says %q (%v)", got, err)
	}

	// A browser without the WebAuthn JSON helpers (before Chromium 129,
	// Safari before 18.4): passkey.js converts by hand.
	legacy := `delete PublicKeyCredential.parseCreationOptionsFromJSON; delete PublicKeyCredential.parseRequestOptionsFromJSON;
		delete PublicKeyCredential.prototype.toJSON; if (PublicKeyCredential.prototype.toJSON) throw new Error("toJSON stays");`
	if got := passkeyCeremony(t, ctx, base, "register", "carol", legacy); got != "registered" {
		_, err := app.state("carol")
		t.Fatalf("registering carol without the JSON helpers: page says %q (%v)", got, err)
	}
	if got := passkeyCeremony(t, ctx, base, "login", "carol", legacy); got != "signed in as carol" {
		_, err := app.state("carol")
		t.Fatalf("carol's sign-in without the JSON helpers: page says %q (%v)", got, err)
	}

	// Alice, knowing bob's password, alters bob's sign-in page to ask the
	// authenticator for her own passkey.
	aliceID := base64.RawURLEncoding.EncodeToString(alice[0].ID)
	swap := fmt.Sprintf(`(() => { const f = document.querySelector("form"); const o = JSON.parse(f.dataset.passkeyOptions);
		o.allowCredentials = [{type: "public-key", id: %q}]; f.dataset.passkeyOptions = JSON.stringify(o); })()`, aliceID)
	if got := passkeyCeremony(t, ctx, base, "login", "bob", swap); got != "refused" {
		t.Fatalf("alice's passkey for bob: page says %q", got)
	}
	if _, err := app.state("bob"); !errors.Is(err, passkey.ErrUnknownCredential) {
		t.Fatalf("alice's passkey for bob: %v, want ErrUnknownCredential", err)
	}

	// An authenticator whose signature is zeroes (Chromium's override).
	overrides := func(bogus bool) {
		t.Helper()
		if _, err := chromedp.Call(ctx, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: authA, IsBogusSignature: &bogus}); err != nil {
			t.Fatal(err)
		}
	}
	overrides(true)
	if got := passkeyCeremony(t, ctx, base, "login", "alice", ""); got != "refused" {
		t.Fatalf("bogus signature: page says %q", got)
	}
	if _, err := app.state("alice"); !errors.Is(err, passkey.ErrSignature) {
		t.Fatalf("bogus signature: %v, want ErrSignature", err)
	}
	overrides(false)

	// A clone of alice's passkey (private key copied out) whose counter
	// starts again from 0, in another authenticator.
	var clone *webauthn.Credential
	for _, c := range credentialsOf(t, ctx, authA) {
		if bytes.Equal(c.CredentialID, alice[0].ID) {
			clone = c
		}
	}
	if clone == nil || len(clone.PrivateKey) == 0 || clone.SignCount < float64(alice[0].SignCount) {
		t.Fatalf("alice's credential in the authenticator: %+v, want it with its key and counter %d", clone, alice[0].SignCount)
	}
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: authA}); err != nil {
		t.Fatal(err)
	}
	authB := addAuthenticator(t, ctx)
	copied := &webauthn.Credential{ // the key material, the counter back at 0
		CredentialID: clone.CredentialID, IsResidentCredential: clone.IsResidentCredential, RpID: clone.RpID,
		PrivateKey: clone.PrivateKey, UserHandle: clone.UserHandle, UserName: clone.UserName, SignCount: 0,
	}
	if _, err := chromedp.Call(ctx, webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: authB, Credential: copied}); err != nil {
		t.Fatalf("adding the clone: %v", err)
	}
	if got := passkeyCeremony(t, ctx, base, "login", "alice", ""); got != "refused" {
		t.Fatalf("cloned passkey: page says %q", got)
	}
	if _, err := app.state("alice"); !errors.Is(err, passkey.ErrSignCount) || !errors.Is(err, store.ErrSignCount) {
		t.Fatalf("cloned passkey: %v, want ErrSignCount (store.ErrSignCount)", err)
	}

	// Bob's sign-in where no authenticator holds his passkey: the browser
	// gives up (a short timeout) and the page says so, without posting.
	do(t, ctx, "bob without his passkey",
		chromedp.Navigate(base+"/login?user=bob"),
		chromedp.WaitVisible(`#go`),
	)
	shorten := `(() => { const f = document.querySelector("form"); const o = JSON.parse(f.dataset.passkeyOptions);
		o.timeout = 1000; f.dataset.passkeyOptions = JSON.stringify(o); })()`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](shorten)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "pressing login", chromedp.Click(`#go`), chromedp.WaitVisible(`#message`))
	msg, err := chromedp.Run(ctx, chromedp.Text(`#message`))
	if err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); strings.TrimSpace(msg) != "cancelled" || !strings.Contains(loc, "/login?user=bob") {
		t.Fatalf("unanswered sign-in: message %q at %s, want the page's cancelled text on the same page", msg, loc)
	}
}
