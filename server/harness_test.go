package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/store"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func key32() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// env is one gateway in front of one demo app, both on loopback.
type env struct {
	t       *testing.T
	app     *demoapp.App
	appSrv  *httptest.Server
	gw      *httptest.Server
	srv     *Server
	clock   *clock
	cfg     *config.Config
	gateKey string
	logs    *logBuffer
}

const baseConfig = `
listen: 127.0.0.1:0
public_url: %s
app_name: Test App
upstream:
  url: %s
session_cookies: [demo_session]
login:
  routes:
    - path: /login
  fields: [password, next]
  user: {normalize: [nfkc, trim, casefold]}  # the demo app folds case
  success:
    status: [303]
    headers:
      Location: "/account"
logout:
  routes:
    - path: /logout
bypass:
  - prefix: /static/
  - path: /healthz
gate:
  keys: ["%s"]
secrets:
  encryption_keys: ["%s"]
store:
  sqlite: %s
`

type envOpt struct {
	style     demoapp.Style
	publicURL string
	extra     string // appended YAML
	gateKeys  []string
	upstream  string
	dbPath    string
	mutate    func(*config.Config) // applied after parsing, before validation
	phones    map[string]string    // numbers the demo app reports at login
	ephemeral store.Ephemeral      // instead of the configured one
}

func newEnv(t *testing.T, o envOpt) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}, logs: &logBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", e.logs.String())
		}
	})
	e.app = demoapp.New(demoapp.Options{Style: o.style, Users: demoapp.DefaultUsers(), Phones: o.phones})
	e.appSrv = httptest.NewServer(e.app)
	t.Cleanup(e.appSrv.Close)
	upstream := e.appSrv.URL
	if o.upstream != "" {
		upstream = o.upstream
	}
	if o.publicURL == "" {
		o.publicURL = "http://127.0.0.1"
	}
	if o.dbPath == "" {
		o.dbPath = filepath.Join(t.TempDir(), "v.db")
	}
	e.gateKey = key32()
	keys := e.gateKey
	if len(o.gateKeys) > 0 {
		keys = strings.Join(o.gateKeys, `", "`)
		e.gateKey = o.gateKeys[0]
	}
	yml := fmt.Sprintf(baseConfig, o.publicURL, upstream, keys, testEncKey, o.dbPath) + o.extra
	cfg, err := config.Parse([]byte(yml), "test.yaml")
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	if o.style == demoapp.StyleKeep {
		// The kept-id app issues its session before login.
		cfg.Login.PreLoginCookies = []string{"demo_session"}
	}
	if o.mutate != nil {
		o.mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate config: %v", err)
	}
	e.cfg = cfg
	e.srv, e.gw = startGateway(t, cfg, e.clock, e.logs, o.ephemeral)
	return e
}

// startGateway assembles a gateway from a validated config on the test
// clock, logging into logs, and serves it on loopback. eph, if given,
// replaces the configured ephemeral store.
func startGateway(t *testing.T, cfg *config.Config, c *clock, logs *logBuffer, eph ...store.Ephemeral) (*Server, *httptest.Server) {
	t.Helper()
	log := slog.New(audit.NewHandler(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}), nil))
	deps := Deps{Now: c.Now, Logger: log}
	if len(eph) > 0 {
		deps.Ephemeral = eph[0]
	}
	srv, err := New(context.Background(), cfg, deps)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	gw := httptest.NewServer(srv.Handler())
	t.Cleanup(gw.Close)
	return srv, gw
}

var testEncKey = key32()

// logBuffer collects a gateway's log lines: the gateway's goroutines (and
// the notifier's, after the answer) write while a test reads.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// browser is a cookie-jar client that does not follow redirects, so every
// step can be checked.
type browser struct {
	t   *testing.T
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
	// releaseTo is where a release must send the browser ("": the demo
	// app's /account).
	releaseTo string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, jar: jar, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	status int
	header http.Header
	body   string
	url    string
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.gw.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw), url: path}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	return b.do("POST", path, form)
}

// cookie returns the browser's cookie of that name for the gateway.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.gw.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.e.gw.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

var (
	reCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	reSecret = regexp.MustCompile(`id="secret">([A-Z2-7 ]+)<`)
	reCodes  = regexp.MustCompile(`<li><code>([a-z0-9-]+)</code></li>`)
)

func must(t *testing.T, p page, status int) {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d\nheaders: %v\nbody: %.600s", p.url, p.status, status, p.header, p.body)
	}
}

func location(p page) string { return p.header.Get("Location") }

func csrf(t *testing.T, p page) string {
	t.Helper()
	m := reCSRF.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("%s: no CSRF token in page: %.400s", p.url, p.body)
	}
	return m[1]
}

// login posts the app's login form and expects it to be held.
func (b *browser) login(user, pass string) {
	b.t.Helper()
	p := b.post("/login", url.Values{"username": {user}, "password": {pass}})
	must(b.t, p, http.StatusSeeOther)
	if got := location(p); got != "/.vestibule/verify" {
		b.t.Fatalf("login answer redirects to %q, want the code page", got)
	}
	for _, sc := range p.header["Set-Cookie"] {
		if strings.HasPrefix(sc, "demo_session=") {
			b.t.Fatalf("held login leaked the app session cookie: %s", sc)
		}
	}
}

// enroll completes a first-time enrollment and returns the TOTP secret and
// recovery codes; the login is then released.
func (b *browser) enroll() (secret string, codes []string) {
	b.t.Helper()
	p := b.get("/.vestibule/verify")
	must(b.t, p, http.StatusSeeOther)
	if location(p) != "/.vestibule/enroll" {
		b.t.Fatalf("first login goes to %q, want enroll", location(p))
	}
	p = b.get("/.vestibule/enroll")
	must(b.t, p, http.StatusOK)
	m := reSecret.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no manual key on the enroll page: %.600s", p.body)
	}
	secret = strings.ReplaceAll(m[1], " ", "")
	if !strings.Contains(p.body, `src="data:image/png;base64,`) {
		b.t.Fatal("enroll page shows no inline QR code")
	}
	p = b.post("/.vestibule/enroll", url.Values{"csrf": {csrf(b.t, p)}, "code": {b.code(secret, 0)}})
	must(b.t, p, http.StatusOK)
	for _, m := range reCodes.FindAllStringSubmatch(p.body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		b.t.Fatalf("got %d recovery codes, want 10", len(codes))
	}
	p = b.post("/.vestibule/release", url.Values{"csrf": {csrf(b.t, p)}})
	b.expectReleased(p)
	return secret, codes
}

// code is the TOTP code for the test clock, offset by steps.
func (b *browser) code(secret string, steps int64) string {
	b.t.Helper()
	totp := factor.DefaultTOTP()
	c, err := totp.Code(secret, totp.Step(b.e.clock.Now())+steps)
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

// verify posts a TOTP code on the code page.
func (b *browser) verify(code string) page {
	b.t.Helper()
	p := b.get("/.vestibule/verify")
	must(b.t, p, http.StatusOK)
	return b.post("/.vestibule/verify", url.Values{"csrf": {csrf(b.t, p)}, "code": {code}})
}

func (b *browser) expectReleased(p page) {
	b.t.Helper()
	must(b.t, p, http.StatusSeeOther)
	want := b.releaseTo
	if want == "" {
		want = "/account"
	}
	if location(p) != want {
		b.t.Fatalf("release goes to %q, want the app's %s", location(p), want)
	}
	var app, gate bool
	for _, sc := range p.header["Set-Cookie"] {
		app = app || strings.HasPrefix(sc, "demo_session=") && !strings.Contains(sc, "Max-Age=0")
		gate = gate || strings.HasPrefix(sc, "vestibule_gate=") && !strings.Contains(sc, "Max-Age=0")
	}
	// Every release hands over the app session it is bound to, and the
	// gate cookie.
	if !gate || !app {
		b.t.Fatalf("release sets app cookie %v, gate cookie %v: %v", app, gate, p.header["Set-Cookie"])
	}
}

// whoami asks the app, through the gateway, who it thinks we are.
func (b *browser) whoami() string {
	b.t.Helper()
	p := b.do("GET", "/whoami", nil, "Accept", "text/plain")
	return strings.TrimSpace(p.body)
}

// serve runs the gateway's own listener (with the configured server
// limits and TLS) on a loopback port until the test ends.
func (e *env) serve(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln
}

// appSessions counts the app sessions the demo app holds for user.
func (e *env) appSessions(user string) int {
	n := 0
	for _, u := range e.app.Sessions() {
		if u == user {
			n++
		}
	}
	return n
}
