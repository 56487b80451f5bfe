package cookieguard

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
)

// cannedTransport answers every request with a small response, so the
// benchmarks measure the proxy, not a network.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"100"}},
		Body:          io.NopCloser(strings.NewReader(strings.Repeat("x", 100))),
		ContentLength: 100, Request: r}, nil
}

type noChallenger struct{}

func (noChallenger) Begin(*http.Request, *store.Held) (forward.Reply, error) {
	return forward.Reply{Status: 303}, nil
}
func (noChallenger) Pending(*http.Request) bool { return false }

func benchProxy(b *testing.B) (*Proxy, *http.Request) {
	b.Helper()
	key := make([]byte, 32)
	codec, _ := gate.NewCodec("vestibule_gate", [][]byte{key}, nil)
	issuer := &gate.Issuer{Codec: codec, MaxAge: time.Hour}
	sid := "k3j4h5k3j4h5k3j4h5k3j4h5k3j4h5k3"
	ck, err := issuer.Cookie("alice", gate.Binding([]string{"sessionid"}, []string{sid}), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	up, _ := url.Parse("http://app.internal")
	p, err := New(Options{
		Upstream: up, Transport: cannedTransport{}, Prefix: "/.vestibule/",
		Challenger:     noChallenger{},
		SessionCookies: []string{"sessionid"},
		LoginRoutes:    []Route{{Path: "/login", Methods: []string{"POST"}}},
		LogoutRoutes:   []Route{{Path: "/logout"}},
		Bypass:         []PathRule{{Prefix: "/static/"}},
		Success:        Matcher{Status: []int{302}},
		Cookies:        issuer, Store: memory.New(nil), Held: &held.Logins{Store: memory.New(nil)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "http://gw.example/account/settings", nil)
	r.Header.Set("Cookie", "csrftoken=abc; sessionid="+sid+"; vestibule_gate="+ck.Value+"; theme=dark")
	r.Header.Set("Accept", "text/html")
	r.RemoteAddr = "203.0.113.7:54321"
	return p, r
}

// BenchmarkGuardVerified is a released browser's request through the whole
// guard and ReverseProxy (upstream answered in memory).
func BenchmarkGuardVerified(b *testing.B) {
	p, r := benchProxy(b)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r.Clone(r.Context()))
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkBareReverseProxy is the same request through a default
// httputil.ReverseProxy: the reference the gateway is compared with.
func BenchmarkBareReverseProxy(b *testing.B) {
	_, r := benchProxy(b)
	up, _ := url.Parse("http://app.internal")
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(up); pr.SetXForwarded() }, Transport: cannedTransport{}}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		rp.ServeHTTP(w, r.Clone(r.Context()))
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkGuardDecision is the costly part of reading a verified request
// (gather, before Decide): scan the Cookie header, decode the gate cookie,
// check binding and revocation. BenchmarkDecide is the decision itself.
func BenchmarkGuardDecision(b *testing.B) {
	p, r := benchProxy(b)
	h := r.Header["Cookie"]
	b.ReportAllocs()
	for b.Loop() {
		var sc scan
		scanCookies(h, p.gateCk, p.names, &sc)
		if _, ok := p.verify(&sc); !ok {
			b.Fatal("not verified")
		}
	}
}

// BenchmarkMatcher classifies a login answer.
func BenchmarkMatcher(b *testing.B) {
	m := Matcher{Status: []int{302, 303}, Headers: map[string]*regexp.Regexp{"Location": regexp.MustCompile("^/admin/")}, SetsSessionCookie: true}
	names := newCookieNames([]string{"sessionid"})
	resp := &http.Response{StatusCode: 302, Header: http.Header{
		"Location":   {"/admin/"},
		"Set-Cookie": {"csrftoken=abc; Path=/", "sessionid=k3j4h5; HttpOnly; Path=/; SameSite=Lax"},
	}}
	cookies := resp.Cookies()
	b.ReportAllocs()
	for b.Loop() {
		if !m.Match(resp, cookies, names) {
			b.Fatal("no match")
		}
	}
}

// BenchmarkCredentialScan is the work credential parameters add to an
// ordinary request of an app that has them (DokuWiki): nothing to remove.
func BenchmarkCredentialScan(b *testing.B) {
	p := &Proxy{opt: Options{CredentialParams: []string{"u", "p"}}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r := httptest.NewRequest("GET", "/doku.php?id=start&do=show&rev=123", nil)
	r.Header.Set("Cookie", "DokuWiki=abc123; DW68=def456; pref=dark; lang=en")
	b.ReportAllocs()
	for b.Loop() {
		p.stripCredentials(r, false)
	}
}
