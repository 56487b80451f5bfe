package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

func startDemo(t *testing.T) string {
	t.Helper()
	demoConfig, err := os.ReadFile(filepath.Join("..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := func(string) (string, bool) { return "", false }
	url, stop, err := cli.StartDemo(context.Background(), demoConfig, env, cli.DemoOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("starting the demo: %v", err)
	}
	t.Cleanup(stop)
	return url
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("VESTIBULE_SCREENSHOTS")
	if dir == "" {
		return
	}
	var buf []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&buf, 90)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDemoInBrowser: sign in to the demo app, enroll by reading the manual
// key from the page, land on the protected page, log out; then sign in
// again with a code.
func TestDemoInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	base := startDemo(t)
	totp := factor.DefaultTOTP()

	signIn := func() {
		t.Helper()
		err := chromedp.Run(ctx,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(`input[name="username"]`, chromedp.ByQuery),
			chromedp.SendKeys(`input[name="username"]`, "alice", chromedp.ByQuery),
			chromedp.SendKeys(`input[name="password"]`, "wonderland", chromedp.ByQuery),
			chromedp.Submit(`input[name="password"]`, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatalf("signing in: %v", err)
		}
	}

	signIn()
	var secret, loc string
	err := chromedp.Run(ctx,
		chromedp.WaitVisible(`#secret`, chromedp.ByID),
		chromedp.Location(&loc),
		chromedp.Text(`#secret`, &secret, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("enroll page: %v", err)
	}
	if !strings.HasSuffix(loc, "/.vestibule/enroll") {
		t.Fatalf("after the password the browser is at %s, want the enroll page", loc)
	}
	screenshot(t, ctx, "enroll")
	secret = strings.ReplaceAll(strings.TrimSpace(secret), " ", "")
	code, err := totp.Code(secret, totp.Step(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var codes string
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#code`, code, chromedp.ByID),
		chromedp.Click(`#submit`, chromedp.ByID),
		chromedp.WaitVisible(`#codes`, chromedp.ByID),
		chromedp.Text(`#codes`, &codes, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("confirming enrollment: %v", err)
	}
	if n := strings.Count(codes, "-"); n != 30 {
		t.Fatalf("recovery codes page shows %d dashes, want 10 codes of 4 groups: %q", n, codes)
	}
	screenshot(t, ctx, "codes")
	var body string
	err = chromedp.Run(ctx,
		chromedp.Click(`#continue`, chromedp.ByID),
		chromedp.WaitVisible(`body`, chromedp.ByQuery),
		chromedp.Location(&loc),
		chromedp.Text(`body`, &body, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("continuing to the app: %v", err)
	}
	if !strings.HasSuffix(loc, "/account") || !strings.Contains(body, "Welcome, alice") {
		t.Fatalf("after enrollment the browser is at %s showing %.200q", loc, body)
	}
	screenshot(t, ctx, "account")

	// Log out through the app's link, then the protected page is closed.
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/logout"),
		chromedp.WaitVisible(`body`, chromedp.ByQuery),
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(`body`, chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if err != nil {
		t.Fatalf("logging out: %v", err)
	}
	if !strings.Contains(loc, "/login") {
		t.Fatalf("after logout /account leads to %s, want the login page", loc)
	}

	// Second sign-in: the code page. The enrollment used this step's code,
	// which is now refused as a replay, so use the next step's (skew 1).
	signIn()
	next, _ := totp.Code(secret, totp.Step(time.Now())+1)
	err = chromedp.Run(ctx,
		chromedp.WaitVisible(`#code`, chromedp.ByID),
		chromedp.Location(&loc),
	)
	if err != nil || !strings.HasSuffix(loc, "/.vestibule/verify") {
		t.Fatalf("second sign-in: at %s, %v", loc, err)
	}
	screenshot(t, ctx, "verify")
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#code`, next, chromedp.ByID),
		chromedp.Click(`#submit`, chromedp.ByID),
		chromedp.WaitVisible(`body`, chromedp.ByQuery),
		chromedp.Location(&loc),
		chromedp.Text(`body`, &body, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("entering the code: %v", err)
	}
	if !strings.HasSuffix(loc, "/account") || !strings.Contains(body, "Welcome, alice") {
		t.Fatalf("after the code the browser is at %s showing %.200q", loc, body)
	}
}
