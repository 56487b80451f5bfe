package e2e

import (
	"bytes"
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
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/internal/testsvc"
	"github.com/vestibule-gw/vestibule/server"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the vestibule command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vestibule-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vestibule")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/vestibule-gw/vestibule").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// syncBuffer collects a process's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// replica is one gateway process.
type replica struct {
	name string
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
}

func (r *replica) kill() {
	if r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// fleet is an upstream app and gateway replicas sharing one PostgreSQL and
// one Redis.
type fleet struct {
	t        *testing.T
	app      *demoapp.App
	replicas []*replica
}

func startFleet(t *testing.T, n int) *fleet {
	t.Helper()
	pg, rd := testsvc.Postgres(t), testsvc.Redis(t)
	bin := binary(t)
	app := demoapp.New(demoapp.Options{})
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	prefix := testsvc.RandomName("fleet") + ":"
	f := &fleet{t: t, app: app}
	env := append(os.Environ(), "GATE_KEY="+randomKey(), "ENC_KEY="+randomKey(), "PG_URL="+pg, "REDIS_URL="+rd)
	for i := range n {
		port := freePort(t)
		cfg := fmt.Sprintf(`
listen: 127.0.0.1:%d
public_url: http://127.0.0.1
app_name: Fleet
upstream: {url: %q}
session_cookies: [demo_session]
login:
  success: {status: [303], headers: {Location: "/account"}}
logout: {routes: [{path: /logout}]}
gate: {keys: ["${GATE_KEY}"]}
secrets: {encryption_keys: ["${ENC_KEY}"]}
store:
  postgres: ${PG_URL}
  redis: ${REDIS_URL}
  redis_prefix: %q
log: {level: debug}
admin: {listen: "127.0.0.1:0"}
`, port, appSrv.URL, prefix)
		f.replicas = append(f.replicas, startReplica(t, string(rune('A'+i)), bin, []byte(cfg), port, env))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range f.replicas {
				t.Logf("replica %s log:\n%s", r.name, r.logs)
			}
		}
	})
	return f
}

// client is a cookie-jar client that doesn't follow redirects. Cookies
// don't depend on the port, so it is one browser for every replica.
type client struct {
	t *testing.T
	c *http.Client
}

func newClient(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	status int
	loc    string
	body   string
}

func (c *client) do(method, u string, form url.Values, accept string) resp {
	c.t.Helper()
	var ctype, body string
	if form != nil {
		ctype, body = "application/x-www-form-urlencoded", form.Encode()
	}
	if accept == "" {
		accept = "text/html"
	}
	return c.send(method, u, ctype, body, "Accept", accept)
}

var (
	fleetCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	fleetSecret = regexp.MustCompile(`id="secret">([A-Z2-7 ]+)<`)
)

func (c *client) csrf(base, page string) string {
	c.t.Helper()
	p := c.do("GET", base+page, nil, "")
	m := fleetCSRF.FindStringSubmatch(p.body)
	if m == nil {
		c.t.Fatalf("no CSRF token on %s%s (%d): %.300s", base, page, p.status, p.body)
	}
	return m[1]
}

func (c *client) login(base, user, pass string) resp {
	c.t.Helper()
	return c.do("POST", base+"/login", url.Values{"username": {user}, "password": {pass}}, "")
}

func (c *client) mustHold(base, user, pass string) {
	c.t.Helper()
	if p := c.login(base, user, pass); p.status != http.StatusSeeOther || p.loc != "/.vestibule/verify" {
		c.t.Fatalf("login via %s not held: %d %s %.200s", base, p.status, p.loc, p.body)
	}
}

// enroll finishes a first login on base and returns the TOTP secret and
// the step its code used.
func (c *client) enroll(base string) (string, int64) {
	c.t.Helper()
	secret, step, p := c.enrollRelease(base)
	if p.status != http.StatusSeeOther || p.loc != "/account" {
		c.t.Fatalf("release: %d %s", p.status, p.loc)
	}
	return secret, step
}

// enrollRelease enrolls on the held login's page, releases it and returns
// the secret, the step its code used and the release answer.
func (c *client) enrollRelease(base string) (string, int64, resp) {
	c.t.Helper()
	p := c.do("GET", base+"/.vestibule/enroll", nil, "")
	m := fleetSecret.FindStringSubmatch(p.body)
	if m == nil {
		c.t.Fatalf("enroll page: %d %.300s", p.status, p.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	token := fleetCSRF.FindStringSubmatch(p.body)[1]
	totp := factor.DefaultTOTP()
	step := totp.Step(time.Now())
	code, _ := totp.Code(secret, step)
	p = c.do("POST", base+"/.vestibule/enroll", url.Values{"csrf": {token}, "code": {code}}, "")
	if p.status != http.StatusOK {
		c.t.Fatalf("confirming enrollment: %d %.300s", p.status, p.body)
	}
	token = fleetCSRF.FindStringSubmatch(p.body)[1]
	return secret, step, c.do("POST", base+"/.vestibule/release", url.Values{"csrf": {token}}, "")
}

// copyCookies gives c the cookies from has for the app at fromURL, as a
// thief copying them would, for toURL.
func (c *client) copyCookies(from *client, fromURL, toURL string) {
	fu, _ := url.Parse(fromURL)
	tu, _ := url.Parse(toURL)
	c.c.Jar.SetCookies(tu, from.c.Jar.Cookies(fu))
}

// exampleGateway runs the gateway in process with a shipped example config
// (fresh keys), adjusted by mutate once the gateway's URL is known.
func exampleGateway(t *testing.T, file string, mutate func(cfg *config.Config, gwURL string)) string {
	t.Helper()
	u, _ := exampleGatewayServer(t, file, mutate, server.Deps{})
	return u
}

// exampleGatewayLog is exampleGateway that also returns the gateway's log
// (printed when the test fails).
func exampleGatewayLog(t *testing.T, file string, mutate func(cfg *config.Config, gwURL string)) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs)
		}
	})
	u, _ := exampleGatewayServer(t, file, mutate, server.Deps{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return u, logs
}

// exampleGatewayServer is exampleGateway with the server's dependencies
// (a clock, a logger) and the server itself (Sweep).
func exampleGatewayServer(t *testing.T, file string, mutate func(cfg *config.Config, gwURL string), deps server.Deps) (string, *server.Server) {
	t.Helper()
	return gatewayServer(t, filepath.Join("..", "examples", file), mutate, deps)
}

// gatewayServer runs the gateway in process with the config file at path
// (fresh keys, a fresh SQLite file, the default enrollment policy),
// adjusted by mutate once the gateway's URL is known.
func gatewayServer(t *testing.T, path string, mutate func(cfg *config.Config, gwURL string), deps server.Deps) (string, *server.Server) {
	t.Helper()
	file := filepath.Base(path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseWith(data, file, func(name string) (string, bool) {
		if name == config.EnvListen || name == config.EnvAdminListen {
			return "", false // these override any config's addresses
		}
		return randomKey(), true
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewUnstartedServer(nil)
	gwURL := "http://" + gw.Listener.Addr().String()
	cfg.Store.SQLite = filepath.Join(t.TempDir(), "v.db")
	cfg.Enrollment = config.DefaultEnrollment() // the examples' own policies: enrollment_test.go
	mutate(cfg, gwURL)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return gwURL, serveGateway(t, gw, cfg, deps)
}

// serveGateway starts a gateway for cfg on gw (an unstarted server, whose
// address cfg names); both stop with the test.
func serveGateway(t *testing.T, gw *httptest.Server, cfg *config.Config, deps server.Deps) *server.Server {
	t.Helper()
	srv, err := server.New(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	gw.Config.Handler = srv.Handler()
	gw.Start()
	t.Cleanup(gw.Close)
	return srv
}

// send makes a request with a raw body of the given type and extra header
// pairs, through c's cookie jar.
func (c *client) send(method, u, contentType, body string, header ...string) resp {
	c.t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	r, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header.Get("Location"), string(b)}
}

func (c *client) verify(base, code string) resp {
	c.t.Helper()
	token := c.csrf(base, "/.vestibule/verify")
	return c.do("POST", base+"/.vestibule/verify", url.Values{"csrf": {token}, "code": {code}}, "")
}

func (c *client) whoami(base string) string {
	c.t.Helper()
	return strings.TrimSpace(c.do("GET", base+"/whoami", nil, "text/plain").body)
}

func code(t *testing.T, secret string, step int64) string {
	c, err := factor.DefaultTOTP().Code(secret, step)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFleetAcrossReplicas: state is shared, so any replica can finish what
// another began, and limits and replays count across them.
func TestFleetAcrossReplicas(t *testing.T) {
	f := startFleet(t, 2)
	a, b := f.replicas[0].url, f.replicas[1].url

	// Held by A, enrolled and released through B; the session works on both.
	alice := newClient(t)
	alice.mustHold(a, "alice", "wonderland")
	secret, step := alice.enroll(b)
	for _, base := range []string{a, b} {
		if got := alice.whoami(base); got != "alice" {
			t.Fatalf("released session via %s: whoami = %q", base, got)
		}
	}

	// A TOTP step used through B is refused through A; the next one works.
	alice.do("GET", a+"/logout", nil, "")
	alice.mustHold(a, "alice", "wonderland")
	if p := alice.verify(a, code(t, secret, step)); p.status != http.StatusUnauthorized {
		t.Fatalf("replayed step on the other replica: %d", p.status)
	}
	if p := alice.verify(b, code(t, secret, step+1)); p.status != http.StatusSeeOther || p.loc != "/account" {
		t.Fatalf("next step: %d %s", p.status, p.loc)
	}

	// Logout through B ends the session everywhere, copies included.
	thief := newClient(t)
	thief.copyCookies(alice, a, a)
	alice.do("GET", b+"/logout", nil, "")
	eventually(t, 5*time.Second, "a copied session stops working on A after logout on B", func() bool {
		return thief.whoami(a) == "anonymous"
	})

	// Wrong codes spread over both replicas reach the per-user limit once.
	bob := newClient(t)
	bob.mustHold(b, "bob", "builder")
	bob.enroll(b)
	bob.do("GET", a+"/logout", nil, "")
	bob.mustHold(a, "bob", "builder")
	for i := range 3 {
		base := []string{a, b}[i%2]
		if p := bob.verify(base, "000000"); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d", i+1, p.status)
		}
	}
	bob.mustHold(b, "bob", "builder")
	bob.verify(a, "000000")
	if p := bob.verify(b, "000000"); p.status != http.StatusTooManyRequests {
		t.Fatalf("fifth wrong code across replicas: %d, want 429", p.status)
	}
	for _, base := range []string{a, b} {
		if p := bob.login(base, "bob", "builder"); p.status != http.StatusTooManyRequests {
			t.Fatalf("banned user's login via %s: %d", base, p.status)
		}
	}
	bans := 0
	for _, r := range f.replicas {
		bans += strings.Count(r.logs.String(), "event=ban")
	}
	if bans != 1 {
		t.Fatalf("%d ban events across replicas, want exactly 1", bans)
	}

	// An administrator lifts the ban for the whole fleet.
	r := f.replicas[0]
	unlock := exec.Command(r.cmd.Args[0], "users", "unlock", "-config", r.cmd.Args[len(r.cmd.Args)-1], "-user", "bob")
	unlock.Env = r.cmd.Env
	if out, err := unlock.CombinedOutput(); err != nil || !strings.Contains(string(out), "ban lifted") {
		t.Fatalf("users unlock: %v\n%s", err, out)
	}
	for _, base := range []string{a, b} {
		bob.mustHold(base, "bob", "builder")
	}
}

// TestFleetReplicaKilled: a replica killed in the middle of a login loses
// nothing; the user finishes on the other.
func TestFleetReplicaKilled(t *testing.T) {
	f := startFleet(t, 2)
	a, b := f.replicas[0], f.replicas[1]
	c := newClient(t)
	c.mustHold(a.url, "alice", "wonderland")
	a.kill()
	secret, step := c.enroll(b.url)
	if got := c.whoami(b.url); got != "alice" {
		t.Fatalf("whoami = %q", got)
	}
	c.do("GET", b.url+"/logout", nil, "")

	// And again while verifying a code.
	c.mustHold(b.url, "alice", "wonderland")
	token := c.csrf(b.url, "/.vestibule/verify")
	f2 := startFleetReplica(t, f, b)
	p := c.do("POST", f2+"/.vestibule/verify", url.Values{"csrf": {token}, "code": {code(t, secret, step+1)}}, "")
	if p.status != http.StatusSeeOther || p.loc != "/account" {
		t.Fatalf("finishing on a new replica: %d %s %.200s", p.status, p.loc, p.body)
	}
}

// startFleetReplica starts one more replica with the same config as r.
func startFleetReplica(t *testing.T, f *fleet, r *replica) string {
	t.Helper()
	args := r.cmd.Args
	data, _ := os.ReadFile(args[len(args)-1])
	port := freePort(t)
	data = regexp.MustCompile(`listen: 127\.0\.0\.1:\d+`).ReplaceAll(data, []byte(fmt.Sprintf("listen: 127.0.0.1:%d", port)))
	return startReplica(t, "N", args[0], data, port, r.cmd.Env).url
}

// eventually polls cond (bounded by limit) until it holds.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startReplica runs `vestibule serve` with the config on port and waits
// (bounded) until it answers.
func startReplica(t *testing.T, name, bin string, cfg []byte, port int, env []string) *replica {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, cfg, 0o600)
	r := &replica{name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &syncBuffer{}}
	r.cmd = exec.Command(bin, "serve", "-config", path)
	r.cmd.Env = env
	runUntilUp(t, "replica "+name, r.cmd, r.logs, r.url+"/.vestibule/static/style.css")
	return r
}

// outageGateway is an in-process gateway whose stores can be cut.
func outageGateway(t *testing.T, mutate func(*config.Config)) (string, *demoapp.App) {
	t.Helper()
	app := demoapp.New(demoapp.Options{})
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	yml := fmt.Sprintf(`
public_url: http://127.0.0.1
upstream: {url: %q}
session_cookies: [demo_session]
login: {success: {status: [303], headers: {Location: "/account"}}}
logout: {routes: [{path: /logout}]}
gate: {keys: [%q]}
secrets: {encryption_keys: [%q]}
store: {sqlite: %q}
`, appSrv.URL, randomKey(), randomKey(), filepath.Join(t.TempDir(), "v.db"))
	cfg, err := config.ParseWith([]byte(yml), "outage.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	mutate(cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	gw := httptest.NewServer(srv.Handler())
	t.Cleanup(gw.Close)
	return gw.URL, app
}

// TestRedisOutageFailsClosed: without Redis no login is released (a clear
// 503, HTML or JSON); verified traffic keeps flowing; it recovers alone.
func TestRedisOutageFailsClosed(t *testing.T) {
	rs := testsvc.StartRedis(t)
	base, _ := outageGateway(t, func(c *config.Config) { c.Store.Redis = rs.URL() })
	alice := newClient(t)
	alice.mustHold(base, "alice", "wonderland")
	alice.enroll(base)

	rs.Stop()
	if got := alice.whoami(base); got != "alice" {
		t.Fatalf("verified traffic stopped with Redis down: %q", got)
	}
	bob := newClient(t)
	p := bob.login(base, "bob", "builder")
	if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "temporarily unavailable") {
		t.Fatalf("login with Redis down: %d %.300s", p.status, p.body)
	}
	p = bob.do("POST", base+"/login", url.Values{"username": {"bob"}, "password": {"builder"}}, "application/json")
	if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, `"status":503`) {
		t.Fatalf("API login with Redis down: %d %.300s", p.status, p.body)
	}
	if got := bob.whoami(base); got != "anonymous" {
		t.Fatalf("a login went through with Redis down: %q", got)
	}

	rs.Restart()
	eventually(t, 20*time.Second, "logins are held again after Redis returned", func() bool {
		p := bob.login(base, "bob", "builder")
		return p.status == http.StatusSeeOther && p.loc == "/.vestibule/verify"
	})
}

// TestPostgresOutageFailsClosed: without PostgreSQL no code is checked and
// no login released; verified traffic keeps flowing; it recovers alone.
func TestPostgresOutageFailsClosed(t *testing.T) {
	pgURL := testsvc.Postgres(t)
	u, _ := url.Parse(pgURL)
	cut := testsvc.NewCutter(t, u.Host)
	u.Host = cut.Addr
	base, _ := outageGateway(t, func(c *config.Config) { c.Store.Postgres = u.String() })
	alice := newClient(t)
	alice.mustHold(base, "alice", "wonderland")
	secret, step := alice.enroll(base)
	alice.do("GET", base+"/logout", nil, "")
	other := newClient(t)
	other.mustHold(base, "bob", "builder")
	other.enroll(base)

	cut.Cut()
	if got := other.whoami(base); got != "bob" {
		t.Fatalf("verified traffic stopped with PostgreSQL down: %q", got)
	}
	alice.mustHold(base, "alice", "wonderland") // held in the local SQLite file
	token := alice.csrf(base, "/.vestibule/recovery")
	p := alice.do("POST", base+"/.vestibule/verify", url.Values{"csrf": {token}, "code": {code(t, secret, step+1)}}, "")
	if p.status != http.StatusServiceUnavailable {
		t.Fatalf("code check with PostgreSQL down: %d %.300s", p.status, p.body)
	}
	if got := alice.whoami(base); got != "anonymous" {
		t.Fatalf("released with PostgreSQL down: %q", got)
	}

	cut.Restore()
	eventually(t, 20*time.Second, "codes are checked again after PostgreSQL returned", func() bool {
		p := alice.do("POST", base+"/.vestibule/verify", url.Values{"csrf": {token}, "code": {code(t, secret, step+1)}}, "")
		return p.status == http.StatusSeeOther && p.loc == "/account"
	})
}
