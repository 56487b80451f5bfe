package parse

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vestibule-gw/vestibule/proxy"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
)

type noChallenge struct{}

func (noChallenge) BeginParse(*http.Request, *store.Held, MFA) (proxy.Reply, error) {
	return proxy.Reply{Status: 400}, nil
}

// benchGuard is a guard in front of a loopback app answering a small
// object query, with one released token.
func benchGuard(b *testing.B) (*Guard, string) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"results":[{"objectId":"n1","text":"hello"}]}`)
	}))
	b.Cleanup(app.Close)
	u, _ := url.Parse(app.URL)
	st := memory.New(nil)
	g, err := New(Options{Upstream: u, Mount: "/parse", Prefix: "/.vestibule/", Next: http.NotFoundHandler(), Challenger: noChallenge{}, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	tok := "r:0123456789abcdef0123456789abcdef"
	if err := g.register(context.Background(), tok, "u1"); err != nil {
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
	serve(b, proxy.NewForwarder(g.opt.Upstream, g.opt.Transport, nil, false), headerQuery(tok))
}
