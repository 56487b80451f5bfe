// Command footprint measures the gateway's memory with many sessions: it
// assembles a gateway in process (in-memory stores, the upstream answered
// in memory), holds 10,000 logins, sends requests for 100,000 distinct
// released sessions, and prints the process's resident memory.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/server"
)

// app answers a login with a new session cookie, anything else with 100 bytes.
type app struct{ n int }

func (a *app) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	h := http.Header{}
	status, body := 200, strings.Repeat("x", 100)
	if r.URL.Path == "/login" {
		a.n++
		status, body = 303, ""
		h.Set("Location", "/account")
		h.Add("Set-Cookie", fmt.Sprintf("sid=%032d; Path=/; HttpOnly", a.n))
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
}

func rss() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}

func main() {
	k := make([]byte, 32)
	rand.Read(k)
	key := base64.StdEncoding.EncodeToString(k)
	dir, _ := os.MkdirTemp("", "footprint-")
	defer os.RemoveAll(dir)
	yml := fmt.Sprintf(`
upstream: {url: "http://app.internal"}
session_cookies: [sid]
login: {success: {status: [303]}}
gate: {keys: [%q]}
secrets: {encryption_keys: [%q]}
store: {sqlite: %q}
regulation: {ip: {max_failures: 0}}
`, key, key, filepath.Join(dir, "v.db"))
	cfg, err := config.ParseWith([]byte(yml), "footprint", nil)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, server.Deps{Transport: &app{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	h := srv.Handler()
	runtime.GC()
	fmt.Printf("start:                          RSS %s\n", rss())

	start := time.Now()
	for i := range 10000 {
		form := url.Values{"username": {fmt.Sprint("user", i)}, "password": {"pw"}}
		r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 303 || w.Header().Get("Location") != "/.vestibule/verify" {
			log.Fatalf("login %d not held: %d %s", i, w.Code, w.Header().Get("Location"))
		}
	}
	runtime.GC()
	fmt.Printf("10,000 held logins (%5.1fs):     RSS %s\n", time.Since(start).Seconds(), rss())

	codec, _ := gate.NewCodec("vestibule_gate", [][]byte{k}, nil)
	issuer := &gate.Issuer{Codec: codec, MaxAge: 12 * time.Hour}
	start = time.Now()
	for i := range 100000 {
		sid := fmt.Sprintf("%032d", 1000000+i)
		c, _ := issuer.Cookie(fmt.Sprint("user", i), gate.Binding([]string{"sid"}, []string{sid}), time.Now())
		r := httptest.NewRequest("GET", "/account", nil)
		r.Header.Set("Cookie", "sid="+sid+"; "+c.Name+"="+c.Value)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			log.Fatalf("session %d: %d", i, w.Code)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("+100,000 released sessions (%4.1fs): RSS %s (Go heap in use %d MB)\n", time.Since(start).Seconds(), rss(), ms.HeapInuse>>20)
	srv.Close()
}
