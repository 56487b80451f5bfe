package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/vestibule-gw/vestibule/cli"
	"github.com/vestibule-gw/vestibule/factor"
)

// requireBrowser is set by scripts/test.sh (and so CI): there a missing
// browser fails the run instead of skipping.
const requireBrowser = "VESTIBULE_REQUIRE_BROWSER"

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv(requireBrowser) != "" {
		t.Fatalf("%s is set but no chromium was found (apt-get install chromium)", requireBrowser)
	}
	t.Skip("no chromium: install it (apt-get install chromium) or run scripts/test.sh, which does")
	return ""
}

// startBrowser returns a chromedp context on a fresh headless Chromium.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1000, 900),
	)
	// The whole test is bounded: the browser dies with this context.
	root, cancelTimeout := context.WithTimeout(context.Background(), 3*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelTimeout() })
	// The first run starts the browser, which lives as long as the context
	// of that run: so it must not be a per-step context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func startDemo(t *testing.T) string {
	t.Helper()
	url, _ := startDemoLog(t)
	return url
}

func startDemoLog(t *testing.T) (string, *syncBuffer) {
	t.Helper()
	demoConfig, err := os.ReadFile(filepath.Join("..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := func(string) (string, bool) { return "", false }
	buf := &syncBuffer{}
	url, stop, err := cli.StartDemo(context.Background(), demoConfig, env, cli.DemoOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Log: logWriter{t, buf}})
	if err != nil {
		t.Fatalf("starting the demo: %v", err)
	}
	t.Cleanup(stop)
	return url, buf
}

// logWriter sends the gateway's log to the test log and keeps it, so a
// test can read the demo's text messages (the log sender) from it.
type logWriter struct {
	t   *testing.T
	buf *syncBuffer
}

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	if w.buf != nil {
		w.buf.Write(p)
	}
	return len(p), nil
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("VESTIBULE_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// do runs actions with a per-step time limit; on failure it reports where
// the browser is and what it shows.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text("body"))
		t.Fatalf("%s: %v\nbrowser at %s showing %.400q", what, err, loc, body)
	}
}

// demoSignIn fills and submits the demo app's login form.
func demoSignIn(t *testing.T, ctx context.Context, base, user, pass string) {
	t.Helper()
	do(t, ctx, "signing in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`input[name="username"]`),
		chromedp.SendKeys(`input[name="username"]`, user),
		chromedp.SendKeys(`input[name="password"]`, pass),
		chromedp.Submit(`input[name="password"]`),
	)
}

// page waits (bounded) until the browser is at a URL whose path ends in
// suffix, and returns the location and the visible text. On timeout it
// returns wherever the browser is, for the caller's message.
func page(t *testing.T, ctx context.Context, suffix string) (loc, body string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatalf("reading the location: %v", err)
		}
		loc = l
		if strings.HasSuffix(strings.SplitN(loc, "?", 2)[0], suffix) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	do(t, ctx, "waiting for the page", chromedp.WaitVisible("body"))
	body, err := chromedp.Run(ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatal(err)
	}
	return loc, body
}

// TestDemoInBrowser: sign in to the demo app, enroll by reading the manual
// key from the page, land on the protected page, log out; then sign in
// again with a code.
func TestDemoInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	base := startDemo(t)
	totp := factor.DefaultTOTP()

	signIn := func() { t.Helper(); demoSignIn(t, ctx, base, "alice", "wonderland") }

	signIn()
	do(t, ctx, "enroll page", chromedp.WaitVisible(`#secret`))
	if loc, _ := page(t, ctx, "/.vestibule/enroll"); !strings.HasSuffix(loc, "/.vestibule/enroll") {
		t.Fatalf("after the password the browser is at %s, want the enroll page", loc)
	}
	secret, err := chromedp.Run(ctx, chromedp.Text(`#secret`))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "enroll")
	secret = strings.ReplaceAll(strings.TrimSpace(secret), " ", "")
	code, err := totp.Code(secret, totp.Step(time.Now()))
	if err != nil {
		t.Fatalf("the page's manual key %q: %v", secret, err)
	}
	do(t, ctx, "confirming enrollment",
		chromedp.SendKeys(`#code`, code),
		chromedp.Click(`#submit`),
		chromedp.WaitVisible(`#codes`),
	)
	codes, err := chromedp.Run(ctx, chromedp.Text(`#codes`))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(codes, "-"); n != 30 {
		t.Fatalf("recovery codes page shows %d dashes, want 10 codes of 4 groups: %q", n, codes)
	}
	screenshot(t, ctx, "codes")
	do(t, ctx, "continuing to the app", chromedp.Click(`#continue`))
	if loc, body := page(t, ctx, "/account"); !strings.HasSuffix(loc, "/account") || !strings.Contains(body, "Welcome, alice") {
		t.Fatalf("after enrollment the browser is at %s showing %.200q", loc, body)
	}
	screenshot(t, ctx, "account")

	// Log out through the app's link, then the protected page is closed.
	do(t, ctx, "logging out", chromedp.Click(`#logout`))
	if loc, _ := page(t, ctx, "/"); strings.HasSuffix(loc, "/account") {
		t.Fatalf("logout link left the browser at %s", loc)
	}
	do(t, ctx, "opening /account", chromedp.Navigate(base+"/account"))
	if loc, _ := page(t, ctx, "/login"); !strings.HasSuffix(loc, "/login") {
		t.Fatalf("after logout /account leads to %s, want the login page", loc)
	}

	// Second sign-in: the code page. The enrollment used this step's code,
	// which is now refused as a replay, so use the next step's (skew 1).
	signIn()
	do(t, ctx, "code page", chromedp.WaitVisible(`#code`))
	if loc, body := page(t, ctx, "/.vestibule/verify"); !strings.HasSuffix(loc, "/.vestibule/verify") || !strings.Contains(body, "recovery") {
		t.Fatalf("second sign-in: at %s showing %.200q", loc, body)
	}
	screenshot(t, ctx, "verify")
	next, _ := totp.Code(secret, totp.Step(time.Now())+1)
	do(t, ctx, "entering the code",
		chromedp.SendKeys(`#code`, next),
		chromedp.Click(`#submit`),
	)
	if loc, body := page(t, ctx, "/account"); !strings.HasSuffix(loc, "/account") || !strings.Contains(body, "Welcome, alice") {
		t.Fatalf("after the code the browser is at %s showing %.200q", loc, body)
	}
}

var reLoggedCode = regexp.MustCompile(`event=sms_logged to=(\+\d+) text=".*?#(\d{6})"`)

// TestDemoSMSInBrowser: bob has no authenticator app: he adds his mobile
// number, types the code from the text message (read from the demo's log,
// where the log sender puts it), saves his recovery codes and lands on the
// protected page; signing in again leads to the text-message page.
func TestDemoSMSInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	base, logs := startDemoLog(t)
	lastCode := func(n int) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			m := reLoggedCode.FindAllStringSubmatch(logs.String(), -1)
			if len(m) >= n {
				if m[n-1][1] != "+33612345678" {
					t.Fatalf("message went to %s", m[n-1][1])
				}
				return m[n-1][2]
			}
			if time.Now().After(deadline) {
				t.Fatalf("text message %d never logged", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	signIn := func() { t.Helper(); demoSignIn(t, ctx, base, "bob", "builder") }
	signIn()
	do(t, ctx, "enroll page", chromedp.WaitVisible(`#use-sms`))
	do(t, ctx, "choosing text messages", chromedp.Click(`#use-sms`))
	do(t, ctx, "number form",
		chromedp.WaitVisible(`#phone-number`),
		chromedp.SendKeys(`#phone-number`, "+33 6 12 34 56 78"),
		chromedp.Click(`#submit`),
	)
	do(t, ctx, "code form", chromedp.WaitVisible(`#code`))
	if _, body := page(t, ctx, "/.vestibule/sms"); !strings.Contains(body, "+33 •••• •5678") {
		t.Fatalf("code page doesn't show the masked number: %.300q", body)
	}
	screenshot(t, ctx, "sms-code")
	do(t, ctx, "entering the code",
		chromedp.SendKeys(`#code`, lastCode(1)),
		chromedp.Click(`#submit`),
		chromedp.WaitVisible(`#codes`),
	)
	do(t, ctx, "continuing", chromedp.Click(`#continue`))
	if loc, body := page(t, ctx, "/account"); !strings.HasSuffix(loc, "/account") || !strings.Contains(body, "Welcome, bob") {
		t.Fatalf("after the text message the browser is at %s showing %.200q", loc, body)
	}
	do(t, ctx, "logging out", chromedp.Click(`#logout`))
	page(t, ctx, "/")

	// Signing in again goes straight to the text-message page; a new code
	// within the resend cooldown is refused with a clear message (the flow
	// with a second code is covered in server/sms_test.go with a test clock).
	signIn()
	do(t, ctx, "send button", chromedp.WaitVisible(`#send`), chromedp.Click(`#send`))
	do(t, ctx, "cooldown message", chromedp.WaitVisible(`#error`))
	if _, body := page(t, ctx, "/.vestibule/sms/send"); !strings.Contains(body, "You can ask for another in") {
		t.Fatalf("resend within the cooldown: %.300q", body)
	}
}

// TestGatePagesOnAPhoneLightAndDark: the gate pages fit a phone screen, in
// light and dark mode, with every field labelled; screenshots of both when
// VESTIBULE_SCREENSHOTS names a directory.
func TestGatePagesOnAPhoneLightAndDark(t *testing.T) {
	ctx := startBrowser(t)
	base := startDemo(t)
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 740))
	demoSignIn(t, ctx, base, "alice", "wonderland")
	do(t, ctx, "enroll page", chromedp.WaitVisible(`#secret`))
	backgrounds := map[string]string{}
	for _, scheme := range []string{"light", "dark"} {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			t.Fatal(err)
		}
		bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
		if err != nil {
			t.Fatal(err)
		}
		backgrounds[scheme] = bg
		fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
		if err != nil || !fits {
			t.Errorf("%s: the page is wider than a phone screen (%v)", scheme, err)
		}
		screenshot(t, ctx, "enroll-phone-"+scheme)
	}
	if backgrounds["light"] == backgrounds["dark"] {
		t.Errorf("dark mode changes nothing: %v", backgrounds)
	}
	unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden]), button')]
		.filter(el => el.tagName === 'BUTTON' ? !el.textContent.trim() : !(el.labels && el.labels.length)).length`))
	if err != nil || unlabelled != 0 {
		t.Errorf("%d fields or buttons without a label (%v)", unlabelled, err)
	}
	alt, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.images].every(i => i.alt)`))
	if err != nil || !alt {
		t.Errorf("an image without alt text (%v)", err)
	}
}
