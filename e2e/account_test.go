package e2e

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/server"
	"github.com/vestibule-gw/vestibule/store"
)

// accountGateway runs the shipped config in process in front of the demo
// app, on http://localhost:PORT (a secure context, so passkeys work), with
// remembered devices on; it returns the gateway's URL and server.
func accountGateway(t *testing.T) (string, *server.Server) {
	t.Helper()
	appURL, stopApp, err := demoapp.Start(context.Background(), demoapp.Options{Name: "Vestibule Demo"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopApp)
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs)
		}
	})
	local := func(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) }
	gwURL, srv := gatewayServer(t, filepath.Join("..", "config.yaml"), func(cfg *config.Config, gwURL string) {
		cfg.PublicURL, cfg.Upstream.URL = local(gwURL), appURL
		cfg.RememberDevice.Enabled = true
	}, server.Deps{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return local(gwURL), srv
}

// colorScheme switches the page between light and dark.
func colorScheme(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
		t.Fatal(err)
	}
}

// checkAccessible fails the test when the page is wider than the screen,
// has a field or button without a label or accessible name, an image
// without alt text, or a heading level skipped.
func checkAccessible(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Errorf("%s: wider than a phone screen (%v)", what, err)
	}
	unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden]), button:not([hidden])')]
		.filter(el => el.tagName === 'BUTTON' ? !(el.getAttribute('aria-label') || el.textContent.trim()) : !(el.labels && el.labels.length)).length`))
	if err != nil || unlabelled != 0 {
		t.Errorf("%s: %d fields or buttons without a label (%v)", what, unlabelled, err)
	}
	alt, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.images].every(i => i.alt)`))
	if err != nil || !alt {
		t.Errorf("%s: an image without alt text (%v)", what, err)
	}
	skipped, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { let last = 0;
		for (const h of document.querySelectorAll('h1,h2,h3,h4')) { const n = +h.tagName[1]; if (n > last + 1) return true; last = n; }
		return false })()`))
	if err != nil || skipped {
		t.Errorf("%s: a heading level is skipped (%v)", what, err)
	}
}

// shots checks the page in light and dark, with a screenshot of each.
func shots(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	bg := map[string]string{}
	for _, scheme := range []string{"light", "dark"} {
		colorScheme(t, ctx, scheme)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('main')).backgroundColor`))
		if err != nil {
			t.Fatal(err)
		}
		bg[scheme] = v
		checkAccessible(t, ctx, name+" "+scheme)
		screenshot(t, ctx, name+"-"+scheme)
	}
	if bg["light"] == bg["dark"] {
		t.Errorf("%s: dark mode changes nothing (%v)", name, bg)
	}
	colorScheme(t, ctx, "light")
}

// textOf returns the visible text of sel.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// note waits (bounded) until the security page shows the note of the
// change just made: the page before it may still show the last one.
func note(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById('done') || {}).textContent || ""`))
		if err == nil && strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("waiting for the note %q: at %s the note is %q (%v)", want, loc, got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// accountPasskeys reads alice's passkeys from the gateway's store.
func accountPasskeys(t *testing.T, srv *server.Server, user string) []store.Passkey {
	t.Helper()
	db, ok := srv.Durable().(interface {
		Passkeys(ctx context.Context, user string) ([]store.Passkey, error)
	})
	if !ok {
		t.Fatalf("the durable store %T keeps no passkeys", srv.Durable())
	}
	pks, err := db.Passkeys(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return pks
}

// TestSecurityPageInBrowser: alice enrolls, remembering this browser; on
// the security page, at phone size and with the keyboard's focus order,
// she adds a passkey (a virtual authenticator answers), renames and
// removes it, makes new recovery codes, forgets the remembered device and
// signs out her other session, which another client holds. Each step is
// checked in light and dark, with screenshots under VESTIBULE_SCREENSHOTS.
func TestSecurityPageInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	base, srv := accountGateway(t)
	totp := factor.DefaultTOTP()
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 740))
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn domain: %v", err)
	}
	auth := addAuthenticator(t, ctx)

	demoSignIn(t, ctx, base, "alice", "wonderland")
	do(t, ctx, "enroll page", chromedp.WaitVisible(`#secret`))
	secret := strings.ReplaceAll(strings.TrimSpace(textOf(t, ctx, `#secret`)), " ", "")
	code, _ := totp.Code(secret, totp.Step(time.Now()))
	do(t, ctx, "confirming enrollment", chromedp.SendKeys(`#code`, code), chromedp.Click(`#submit`), chromedp.WaitVisible(`#codes`))
	if !strings.Contains(textOf(t, ctx, "main"), "/.vestibule/account") {
		t.Error("the recovery-codes page does not name the security page")
	}
	do(t, ctx, "remembering this browser", chromedp.Click(`#remember`), chromedp.Click(`#continue`))
	if loc, body := page(t, ctx, "/account"); !strings.Contains(body, "Welcome, alice") {
		t.Fatalf("after enrollment: %s %.200q", loc, body)
	}

	// Another session of alice's, elsewhere (a plain client, with the
	// next time step's code).
	other := newClient(t)
	other.mustHold(base, "alice", "wonderland")
	next, _ := totp.Code(secret, totp.Step(time.Now())+1)
	if p := other.verify(base, next); p.status != http.StatusSeeOther {
		t.Fatalf("other session: %d %s", p.status, p.loc)
	}
	if got := other.whoami(base); got != "alice" {
		t.Fatalf("other session is %q", got)
	}

	do(t, ctx, "security page", chromedp.Navigate(base+"/.vestibule/account"), chromedp.WaitVisible(`#passkey-add`))
	body := textOf(t, ctx, "main")
	for _, want := range []string{"alice", "Authenticator app", "10 left", "Remembered devices", "Recent sign-ins", "Authenticator app"} {
		if !strings.Contains(body, want) {
			t.Errorf("security page lacks %q: %.1500q", want, body)
		}
	}
	shots(t, ctx, "account")
	// The keyboard reaches the page's controls, and the focused one shows
	// a focus ring.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.activeElement.blur()`)); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "tabbing", chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"))
	focus, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.activeElement;
		return e && e !== document.body ? e.tagName + " " + getComputedStyle(e).outlineStyle : "" })()`))
	if err != nil || focus == "" || strings.HasSuffix(focus, " none") {
		t.Errorf("after Tab the focus is %q, want a control with a visible focus ring (%v)", focus, err)
	}

	// Add a passkey: the virtual authenticator answers.
	do(t, ctx, "starting a passkey", chromedp.Click(`#passkey-add`), chromedp.WaitVisible(`#passkey-create`))
	shots(t, ctx, "account-passkey")
	do(t, ctx, "creating the passkey", chromedp.SendKeys(`#passkey-name`, "Laptop"), chromedp.Click(`#passkey-create`))
	note(t, ctx, "The passkey was added.")
	pks := accountPasskeys(t, srv, "alice")
	if len(pks) != 1 || pks[0].Name != "Laptop" || len(credentialsOf(t, ctx, auth)) != 1 {
		t.Fatalf("after adding: stored %+v", pks)
	}
	if got := textOf(t, ctx, `#passkey-0 .name`); got != "Laptop" {
		t.Fatalf("listed passkey: %q", got)
	}

	do(t, ctx, "renaming the passkey",
		chromedp.Clear(`#pk-name-0`), chromedp.SendKeys(`#pk-name-0`, "Desk key"), chromedp.Click(`#pk-rename-0`))
	note(t, ctx, "The passkey was renamed.")
	if got := textOf(t, ctx, `#passkey-0 .name`); got != "Desk key" {
		t.Fatalf("passkey name after rename: %q", got)
	}
	shots(t, ctx, "account-renamed")

	do(t, ctx, "removing the passkey", chromedp.Click(`#pk-remove-0`))
	note(t, ctx, "The passkey was removed.")
	if strings.Contains(textOf(t, ctx, "main"), "Desk key") || len(accountPasskeys(t, srv, "alice")) != 0 {
		t.Fatal("the removed passkey is still there")
	}

	do(t, ctx, "new recovery codes", chromedp.Click(`#codes-new`), chromedp.WaitVisible(`#codes`))
	if n := strings.Count(textOf(t, ctx, `#codes`), "-"); n != 30 {
		t.Fatalf("new codes page shows %d dashes, want 10 codes", n)
	}
	shots(t, ctx, "account-codes")
	do(t, ctx, "back to the page", chromedp.Click(`#back`), chromedp.WaitVisible(`#device-forget-0`))

	do(t, ctx, "forgetting the device", chromedp.Click(`#device-forget-0`))
	note(t, ctx, "The device was forgotten")
	do(t, ctx, "no device listed", chromedp.WaitVisible(`#no-devices`))

	do(t, ctx, "signing out elsewhere", chromedp.Click(`#sessions-end`))
	note(t, ctx, "Every other session was signed out.")
	shots(t, ctx, "account-signed-out-others")
	if got := other.whoami(base); got == "alice" {
		t.Fatal("the other session survived")
	}
	do(t, ctx, "the app, still signed in", chromedp.Navigate(base+"/account"))
	if _, body := page(t, ctx, "/account"); !strings.Contains(body, "Welcome, alice") {
		t.Fatalf("this browser was signed out too: %.200q", body)
	}
	// The forgotten device is asked for a code again.
	do(t, ctx, "logging out", chromedp.Click(`#logout`))
	page(t, ctx, "/")
	demoSignIn(t, ctx, base, "alice", "wonderland")
	if loc, _ := page(t, ctx, "/.vestibule/verify"); !strings.HasSuffix(strings.SplitN(loc, "?", 2)[0], "/.vestibule/verify") {
		t.Fatalf("the forgotten device skipped the code: at %s", loc)
	}
}
