package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/factor"
)

// basicApp is an intranet tool that protects every page with HTTP Basic
// (alice / wonderland) and records whether it ever served a page.
func basicApp(t *testing.T) (*httptest.Server, *int) {
	served := new(int)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "alice" || pass != "wonderland" {
			w.Header().Set("WWW-Authenticate", `Basic realm="tool"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		*served++
		fmt.Fprintf(w, "<!doctype html><title>Tool</title><h1 id=hello>Hello %s, here is %s</h1>", user, r.URL.Path)
	}))
	t.Cleanup(app.Close)
	return app, served
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestBasicAuthModeInBrowser: examples/basic-auth.yaml in front of an app
// that uses HTTP Basic. Chromium sends the credentials a user typed into
// its password prompt (set as the header it then sends on every request);
// the gateway holds the app's answer, the user enrolls, and only then does
// the page open. The same password in another browser gets the code page,
// not the app.
func TestBasicAuthModeInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	app, _ := basicApp(t)
	gw, logs := exampleGatewayLog(t, "basic-auth.yaml", func(c *config.Config, gwURL string) {
		c.Upstream.URL, c.PublicURL = app.URL, gwURL
	})
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": basicAuth("alice", "wonderland")}}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "opening the tool", chromedp.Navigate(gw+"/reports"))
	do(t, ctx, "enroll page", chromedp.WaitVisible(`#secret`))
	if _, body := page(t, ctx, "/.vestibule/enroll"); strings.Contains(body, "Hello alice") {
		t.Fatal("the tool's page showed before the second factor")
	}
	secret, err := chromedp.Run(ctx, chromedp.Text(`#secret`))
	if err != nil {
		t.Fatal(err)
	}
	secret = strings.ReplaceAll(strings.TrimSpace(secret), " ", "")
	totp := factor.DefaultTOTP()
	code, _ := totp.Code(secret, totp.Step(time.Now()))
	do(t, ctx, "confirming enrollment",
		chromedp.SendKeys(`#code`, code),
		chromedp.Click(`#submit`),
		chromedp.WaitVisible(`#codes`),
		chromedp.Click(`#continue`),
	)
	if loc, body := page(t, ctx, "/reports"); !strings.Contains(body, "Hello alice, here is /reports") {
		t.Fatalf("after the second factor the browser is at %s showing %.200q", loc, body)
	}
	screenshot(t, ctx, "basic-released")
	if !strings.Contains(logs.String(), "event=login_held") {
		t.Error("no login_held event")
	}

	// The password alone, from another client: held, code page, no app.
	c := newClient(t)
	p := c.send("GET", gw+"/reports", "", "", "Authorization", basicAuth("alice", "wonderland"))
	if p.status != http.StatusSeeOther || p.loc != "/.vestibule/verify" {
		t.Fatalf("the password alone: %d %s %.200s", p.status, p.loc, p.body)
	}
	p = c.send("GET", gw+"/reports", "", "", "Authorization", basicAuth("alice", "wonderland"), "Accept", "text/html")
	if strings.Contains(p.body, "Hello alice") {
		t.Fatal("the password alone opened the tool")
	}
	// A wrong password: the app's 401 passes, so the browser asks again.
	if p := newClient(t).send("GET", gw+"/reports", "", "", "Authorization", basicAuth("alice", "nope")); p.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want the app's 401", p.status)
	}
	// Writes never are login attempts: without a bound session the
	// credentials don't reach the app.
	if p := newClient(t).send("POST", gw+"/reports", "application/x-www-form-urlencoded", "x=1", "Authorization", basicAuth("alice", "wonderland")); p.status != http.StatusUnauthorized {
		t.Fatalf("POST with unbound Basic credentials: %d, want the app's 401", p.status)
	}
}
