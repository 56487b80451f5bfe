package server

import (
	"bufio"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
)

// fidelityUpstream is the demo app plus endpoints that exercise streaming,
// upgrades, trailers and uploads.
func fidelityUpstream(t *testing.T) (string, chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	app := demoapp.New(demoapp.Options{})
	big := []byte(strings.Repeat("0123456789abcdef", 1<<16)) // 1 MiB
	mux := http.NewServeMux()
	mux.Handle("/", app)
	mux.HandleFunc("/fid/ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "not an upgrade", 400)
			return
		}
		h := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-User: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(h[:]), r.Header.Get("X-Vestibule-User"))
		brw.Flush()
		io.Copy(conn, brw) // echo the tunnel's bytes
	})
	mux.HandleFunc("/fid/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		fmt.Fprint(w, "data: second\n\n")
	})
	mux.HandleFunc("/fid/chunked", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "part one\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		fmt.Fprint(w, "part two\n")
	})
	mux.HandleFunc("/fid/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big)
	})
	mux.HandleFunc("/fid/upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
	mux.HandleFunc("/fid/headers", func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []string{"X-Hop", "Proxy-Authorization", "X-Keep"} {
			fmt.Fprintf(w, "%s=%s\n", h, r.Header.Get(h))
		}
	})
	mux.HandleFunc("/fid/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		fmt.Fprint(w, "body")
		w.Header().Set("X-Checksum", "abc123")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return srv.URL, release
}

// released returns a browser with a released session on e.
func released(t *testing.T, e *env) *browser {
	b := e.browser()
	b.login("alice", "wonderland")
	b.enroll()
	return b
}

func (b *browser) rawCookies() string {
	u, _ := url.Parse(b.e.gw.URL)
	var parts []string
	for _, c := range b.jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

func TestWebSocketNeedsReleasedSession(t *testing.T) {
	up, _ := fidelityUpstream(t)
	e := newEnv(t, envOpt{upstream: up})
	b := released(t, e)
	dial := func(cookies string) (string, *bufio.Reader, net.Conn) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.gw.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET /fid/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: %s\r\n\r\n", cookies)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status + " user=" + resp.Header.Get("X-User"), br, conn
	}
	status, br, conn := dial(b.rawCookies())
	defer conn.Close()
	if !strings.HasPrefix(status, "101") || !strings.HasSuffix(status, "user=alice") {
		t.Fatalf("verified upgrade: %s", status)
	}
	conn.Write([]byte("ping through the tunnel"))
	buf := make([]byte, 23)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping through the tunnel" {
		t.Fatalf("tunnel echo: %q %v", buf, err)
	}
	for _, cookies := range []string{"", "demo_session=" + b.cookie("demo_session")} {
		status, _, c := dial(cookies)
		c.Close()
		if !strings.HasPrefix(status, "403") {
			t.Errorf("upgrade with cookies %q: %s, want 403", cookies, status)
		}
	}
}

func TestStreamingFlushesPromptly(t *testing.T) {
	up, release := fidelityUpstream(t)
	e := newEnv(t, envOpt{upstream: up})
	b := released(t, e)
	for _, path := range []string{"/fid/sse", "/fid/chunked"} {
		req, _ := http.NewRequest("GET", e.gw.URL+path, nil)
		req.Header.Set("Cookie", b.rawCookies())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		first := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(resp.Body).ReadString('\n')
			first <- line
		}()
		// The upstream is still holding the rest: the first part must
		// arrive anyway (bounded wait so a regression fails, not hangs).
		select {
		case line := <-first:
			if !strings.Contains(line, "first") && !strings.Contains(line, "part one") {
				t.Errorf("%s: first line %q", path, line)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the first part was held back until the end", path)
		}
		resp.Body.Close()
	}
	close(release)
}

func TestLargeBodiesStream(t *testing.T) {
	up, _ := fidelityUpstream(t)
	e := newEnv(t, envOpt{upstream: up})
	b := released(t, e)
	cookies := b.rawCookies()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// 16 concurrent 1 MiB downloads and a 32 MiB upload.
	errs := make(chan error, 17)
	for range 16 {
		go func() {
			req, _ := http.NewRequest("GET", e.gw.URL+"/fid/big", nil)
			req.Header.Set("Cookie", cookies)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && n != 1<<20 {
				err = fmt.Errorf("downloaded %d bytes", n)
			}
			errs <- err
		}()
	}
	go func() {
		req, _ := http.NewRequest("PUT", e.gw.URL+"/fid/upload", io.LimitReader(zeros{}, 32<<20))
		req.Header.Set("Cookie", cookies)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errs <- err
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != fmt.Sprint(32<<20) {
			err = fmt.Errorf("upstream received %q bytes", body)
		}
		errs <- err
	}()
	for range 17 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// 48 MiB went through; buffering any of it whole would allocate that
	// much. Streaming allocates copy buffers and per-request state only.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 24<<20 {
		t.Fatalf("%d MiB allocated to move 48 MiB: bodies are being buffered", grew>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestTrailersAndExpectContinue(t *testing.T) {
	up, _ := fidelityUpstream(t)
	e := newEnv(t, envOpt{upstream: up})
	b := released(t, e)
	req, _ := http.NewRequest("GET", e.gw.URL+"/fid/trailer", nil)
	req.Header.Set("Cookie", b.rawCookies())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Trailer.Get("X-Checksum") != "abc123" {
		t.Errorf("trailer = %q", resp.Trailer.Get("X-Checksum"))
	}

	req, _ = http.NewRequest("PUT", e.gw.URL+"/fid/upload", strings.NewReader(strings.Repeat("z", 100000)))
	req.Header.Set("Cookie", b.rawCookies())
	req.Header.Set("Expect", "100-continue")
	tr := &http.Transport{ExpectContinueTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "100000" {
		t.Errorf("100-continue upload: %d %q", resp.StatusCode, body)
	}
}

// TestHopByHopHeaders: headers named in Connection and the standard
// hop-by-hop ones stop at the gateway, as the standard library does.
func TestHopByHopHeaders(t *testing.T) {
	up, _ := fidelityUpstream(t)
	e := newEnv(t, envOpt{upstream: up})
	b := released(t, e)
	p := b.do("GET", "/fid/headers", nil, "Cookie", b.rawCookies(), "Connection", "X-Hop",
		"X-Hop", "per-hop", "Proxy-Authorization", "Basic c2VjcmV0", "X-Keep", "end-to-end")
	if p.body != "X-Hop=\nProxy-Authorization=\nX-Keep=end-to-end\n" {
		t.Fatalf("upstream saw:\n%s", p.body)
	}
}

func TestUpstreamErrorsForAPIClients(t *testing.T) {
	e := newEnv(t, envOpt{upstream: "http://127.0.0.1:1"})
	b := e.browser()
	p := b.do("GET", "/api/items", nil, "Accept", "application/json")
	if p.status != http.StatusBadGateway || !strings.Contains(p.header.Get("Content-Type"), "application/json") || !strings.Contains(p.body, `"status":502`) {
		t.Fatalf("API client on a down upstream: %d %s %s", p.status, p.header.Get("Content-Type"), p.body)
	}
}

// TestHTTP2OverTLS: with a certificate configured the gateway serves
// HTTPS and speaks HTTP/2 to clients.
func TestHTTP2OverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, publicURL: "https://127.0.0.1", mutate: func(c *config.Config) {
		c.Server.TLSCertFile, c.Server.TLSKeyFile = certFile, keyFile
	}})
	ln := e.serve(t)

	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("over TLS: %d %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	oldSerial := resp.TLS.PeerCertificates[0].SerialNumber

	// A renewed certificate is picked up on reload (SIGHUP in the command),
	// while the open HTTP/2 connection keeps working.
	newCert, newKey := selfSignedSerial(t, t.TempDir(), 2)
	data, _ := os.ReadFile(newCert)
	os.WriteFile(certFile, data, 0o600)
	data, _ = os.ReadFile(newKey)
	os.WriteFile(keyFile, data, 0o600)
	if err := e.srv.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	resp, err = (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("the open connection after reload: %v", err)
	}
	resp.Body.Close()
	pool.AppendCertsFromPEM(data0(t, newCert))
	tr2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr2.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr2}).Get("https://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(oldSerial) == 0 {
		t.Fatal("new connections still get the old certificate")
	}
	// A broken file keeps the current certificate.
	os.WriteFile(keyFile, []byte("garbage"), 0o600)
	if err := e.srv.ReloadTLS(); err == nil {
		t.Fatal("a broken key was accepted")
	}
	if resp, err := (&http.Client{Transport: tr2}).Get("https://" + ln.Addr().String() + "/healthz"); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	} else {
		resp.Body.Close()
	}

	// The plain-HTTP redirect listener.
	rr := httptest.NewRecorder()
	e.srv.RedirectHandler().ServeHTTP(rr, httptest.NewRequest("GET", "http://127.0.0.1/account?x=1", nil))
	if rr.Code != http.StatusPermanentRedirect || rr.Header().Get("Location") != "https://127.0.0.1/account?x=1" {
		t.Fatalf("redirect: %d %s", rr.Code, rr.Header().Get("Location"))
	}
}

func data0(t *testing.T, f string) []byte {
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func selfSigned(t *testing.T, dir string) (string, string) {
	return selfSignedSerial(t, dir, 1)
}

func selfSignedSerial(t *testing.T, dir string, serial int64) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// trickle is a request body that sends n chunks of 1 KiB, waiting every
// before each; after stallAfter chunks (if > 0) it waits stall once.
type trickle struct {
	n, sent, stallAfter int
	every, stall        time.Duration
}

func (tr *trickle) Read(p []byte) (int, error) {
	if tr.sent == tr.n {
		return 0, io.EOF
	}
	if tr.stallAfter > 0 && tr.sent == tr.stallAfter {
		time.Sleep(tr.stall)
	} else {
		time.Sleep(tr.every)
	}
	tr.sent++
	return copy(p, make([]byte, min(len(p), 1024))), nil
}

// TestSlowUploadsAndStalls: an upload that keeps moving is not cut off by
// server.read_timeout, however long it takes; one that stalls longer than
// server.body_idle_timeout gets 408 and is logged, never the app's
// answer to half a body.
func TestSlowUploadsAndStalls(t *testing.T) {
	up, _ := fidelityUpstream(t)
	e := newEnv(t, envOpt{upstream: up, mutate: func(c *config.Config) {
		c.Server.ReadTimeout, c.Server.BodyIdleTimeout = time.Second, time.Second
	}})
	b := released(t, e)
	cookies := b.rawCookies()
	ln := e.serve(t)

	upload := func(body io.Reader, size int64) (int, string) {
		req, _ := http.NewRequest("PUT", "http://"+ln.Addr().String()+"/fid/upload", body)
		req.ContentLength = size
		req.Header.Set("Cookie", cookies)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Logf("reading the answer: %v", err)
		}
		if resp.StatusCode == 200 && len(got) == 0 {
			t.Logf("empty 200: headers %v proto %s", resp.Header, resp.Proto)
		}
		return resp.StatusCode, string(got)
	}
	// 12 KiB over about 2.4 s: longer than read_timeout, never idle.
	if status, got := upload(&trickle{n: 12, every: 200 * time.Millisecond}, 12<<10); status != 200 || got != fmt.Sprint(12<<10) {
		t.Fatalf("slow upload: %d %q, want 200 and all %d bytes at the app", status, got, 12<<10)
	}
	// A stall of 2.5 s after 2 KiB: 408, logged.
	status, got := upload(&trickle{n: 12, every: 10 * time.Millisecond, stallAfter: 2, stall: 2500 * time.Millisecond}, 12<<10)
	if status == 200 {
		t.Fatalf("stalled upload answered 200 (%q): the app's answer to half a body passed as a success", got)
	}
	if status != http.StatusRequestTimeout {
		t.Errorf("stalled upload: %d, want 408", status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.logs.String(), "event=request_incomplete") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(e.logs.String(), "event=request_incomplete") {
		t.Error("no request_incomplete event")
	}
}

// TestHeadersAClientCannotSet: forwarding and identity headers from a
// client (not a trusted proxy) never reach the app, in any spelling; an
// Upgrade that opens no channel is dropped, not refused.
func TestHeadersAClientCannotSet(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	p := b.do("GET", "/echo-headers", nil, "Accept", "text/plain", "X-Real-IP", "10.9.9.9", "Forwarded", "for=10.9.9.9",
		"X-Vestibule_User", "admin", "x-vestibule-user", "admin", "Upgrade", "h2c", "Connection", "Upgrade, HTTP2-Settings", "HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")
	if p.status != http.StatusOK {
		t.Fatalf("a plain request with an h2c upgrade attempt: %d, want it served", p.status)
	}
	for _, bad := range []string{"10.9.9.9", "admin", "Upgrade: h2c"} {
		if strings.Contains(p.body, bad) {
			t.Errorf("%q reached the app:\n%s", bad, p.body)
		}
	}
	// An Upgrade header without "Connection: upgrade" opens nothing.
	if p := b.do("GET", "/echo-headers", nil, "Accept", "text/plain", "Upgrade", "websocket"); p.status != http.StatusOK || strings.Contains(p.body, "Upgrade") {
		t.Errorf("Upgrade without Connection: %d\n%s", p.status, p.body)
	}
}

// TestEncodingsPassThrough: the gateway asks the app for no encoding the
// client did not ask for, so the client gets the app's bytes as sent.
func TestEncodingsPassThrough(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			io.WriteString(gz, "hello")
			gz.Close()
			return
		}
		io.WriteString(w, "hello")
	}))
	defer app.Close()
	e := newEnv(t, envOpt{upstream: app.URL, mutate: func(c *config.Config) {
		c.Bypass = append(c.Bypass, config.Bypass{Path: "/pub", Methods: []string{"GET", "HEAD"}})
	}})
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	for _, ae := range []string{"", "gzip"} {
		req, _ := http.NewRequest("GET", e.gw.URL+"/pub", nil)
		if ae != "" {
			req.Header.Set("Accept-Encoding", ae)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ae == "" && (string(body) != "hello" || resp.Header.Get("Content-Encoding") != "") {
			t.Errorf("no Accept-Encoding: %q %q", body, resp.Header.Get("Content-Encoding"))
		}
		if ae == "gzip" && resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding gzip: the app's gzip did not pass (%q)", resp.Header.Get("Content-Encoding"))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "" || seen[1] != "gzip" {
		t.Errorf("the app was asked for %q, want exactly what the clients asked", seen)
	}
}

// TestGatewayCookiesStayAtTheGateway: the gate cookie, the pending
// challenge and the remembered device never reach the app, released or
// not; the app's own cookies do.
func TestGatewayCookiesStayAtTheGateway(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, extra: "remember_device: {enabled: true}\n"})
	b := e.browser()
	b.login("alice", "wonderland")
	// Pending challenge: the browser has vestibule_pending now.
	p := b.do("GET", "/echo-headers", nil, "Accept", "text/plain")
	if strings.Contains(p.body, "vestibule_") || !strings.Contains(p.body, "> User-Agent") {
		t.Errorf("a gateway cookie reached the app while held:\n%s", p.body)
	}
	b.enroll()
	b.setCookie("theme", "dark")
	p = b.do("GET", "/echo-cookies", nil, "Accept", "text/plain")
	if strings.Contains(p.body, "vestibule_") || !strings.Contains(p.body, "demo_session=") || !strings.Contains(p.body, "theme=dark") {
		t.Errorf("released request: the app got\n%s", p.body)
	}
	if got := b.whoami(); got != "alice" {
		t.Errorf("released request lost its session: %q", got)
	}
}
