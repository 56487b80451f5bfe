package parseguard

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
)

type noChallenge struct{}

func (noChallenge) BeginParse(*http.Request, *store.Held, MFA) (forward.Reply, error) {
	return forward.Reply{Status: 400}, nil
}

// benchGuard is a guard in front of a loopback app answering a small
// object query, with one released token.
func benchGuard(b *testing.B) (*Guard, string) {
	return benchGuardAnswer(b, `{"results":[{"objectId":"n1","text":"hello"}]}`)
}

// largeAnswer is an object query answering 200 objects (about 40 KB) with
// dates, pointers and text, as Parse writes them.
var largeAnswer = func() string {
	var b strings.Builder
	b.WriteString(`{"results":[`)
	for i := range 200 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"objectId":"n%07d","text":"a note with some words in it, number %d","done":false,"createdAt":"2026-12-02T05:00:00.000Z","updatedAt":"2026-12-02T05:00:00.000Z","owner":{"__type":"Pointer","className":"_User","objectId":"u0000001"},"ACL":{"u0000001":{"read":true,"write":true}}}`, i, i)
	}
	b.WriteString(`]}`)
	return b.String()
}()

func benchGuardAnswer(b *testing.B, answer string) (*Guard, string) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	b.Cleanup(app.Close)
	u, _ := url.Parse(app.URL)
	st := memory.New(nil)
	logins, tokens := guardDeps(st)
	g, err := New(Options{Upstream: u, Mount: "/parse", Challenger: noChallenge{}, Held: logins, Tokens: tokens})
	if err != nil {
		b.Fatal(err)
	}
	tok := "r:0123456789abcdef0123456789abcdef"
	if err := g.opt.Tokens.Register(context.Background(), tok, "u1"); err != nil {
		b.Fatal(err)
	}
	return g, tok
}

// serve runs b's loop: each request from newReq through h must answer 200.
func serve(b *testing.B, h http.Handler, newReq func() *http.Request) {
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, newReq())
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// headerQuery is a REST object query with the token in the header.
func headerQuery(tok string) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest("GET", "/parse/classes/Note", nil)
		r.Header.Set("X-Parse-Application-Id", "app")
		r.Header.Set("X-Parse-Session-Token", tok)
		return r
	}
}

// BenchmarkGuardQuery: a REST object query with a released token in the
// header (registry answer cached), through the guard to a loopback app.
func BenchmarkGuardQuery(b *testing.B) {
	g, tok := benchGuard(b)
	serve(b, g, headerQuery(tok))
}

// BenchmarkGuardJSSDKQuery: the same query the JS SDK way (POST, token in a
// text/plain JSON body the guard reads).
func BenchmarkGuardJSSDKQuery(b *testing.B) {
	g, tok := benchGuard(b)
	body := `{"where":{},"_method":"GET","_ApplicationId":"app","_JavaScriptKey":"js","_ClientVersion":"js8.6.0","_InstallationId":"0b3c","_SessionToken":"` + tok + `"}`
	serve(b, g, func() *http.Request {
		r := httptest.NewRequest("POST", "/parse/classes/Note", strings.NewReader(body))
		r.Header.Set("Content-Type", "text/plain")
		return r
	})
}

// BenchmarkBareForward: the same query through the bare forwarder, the
// baseline the guard's cost is read against.
func BenchmarkBareForward(b *testing.B) {
	g, tok := benchGuard(b)
	serve(b, forward.New(g.opt.Upstream, g.opt.Transport, nil, false), headerQuery(tok))
}

// BenchmarkGuardQueryLarge and BenchmarkBareForwardLarge: the same with a
// 40 KB answer, which the guard scans for tokens as it streams.
func BenchmarkGuardQueryLarge(b *testing.B) {
	g, tok := benchGuardAnswer(b, largeAnswer)
	serve(b, g, headerQuery(tok))
}

func BenchmarkBareForwardLarge(b *testing.B) {
	g, tok := benchGuardAnswer(b, largeAnswer)
	serve(b, forward.New(g.opt.Upstream, g.opt.Transport, nil, false), headerQuery(tok))
}

// BenchmarkGuardVsBare times guarded and bare object queries alternately
// in the same loop, so that load from elsewhere on the machine weighs on
// both alike, and reports each one's time and their ratio (the guard must
// stay within 1.15 of the bare forwarder).
func BenchmarkGuardVsBare(b *testing.B) {
	for _, c := range []struct {
		name, answer string
	}{{"small", `{"results":[{"objectId":"n1","text":"hello"}]}`}, {"40KB", largeAnswer}} {
		b.Run(c.name, func(b *testing.B) {
			g, tok := benchGuardAnswer(b, c.answer)
			bare := forward.New(g.opt.Upstream, g.opt.Transport, nil, false)
			newReq := headerQuery(tok)
			var tg, tb time.Duration
			one := func(h http.Handler) time.Duration {
				r := newReq()
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, r)
				d := time.Since(start)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
				return d
			}
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					tg += one(g)
					tb += one(bare)
				} else {
					tb += one(bare)
					tg += one(g)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(tg.Nanoseconds())/n, "guard-ns/op")
			b.ReportMetric(float64(tb.Nanoseconds())/n, "bare-ns/op")
			b.ReportMetric(float64(tg)/float64(tb), "ratio")
		})
	}
}

// BenchmarkTokenScan: the scanner alone over the 40 KB answer.
func BenchmarkTokenScan(b *testing.B) {
	buf := []byte(largeAnswer)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		redactTokens(buf, func(string) bool { return true })
	}
}

// guardDeps are a guard's held logins and token registry over st.
func guardDeps(st *memory.Store) (*held.Logins, *held.Registry) {
	return &held.Logins{Store: st}, held.NewRegistry(st, held.RegistryOptions{CacheTTL: 5 * time.Second})
}
