package parseguard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/internal/parsefake"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
)

// TestEndAtParse: a logout is tried with each way the client named its
// app until Parse accepts one, again after server errors, and reported
// when it never succeeds; a session Parse no longer knows counts as ended.
func TestEndAtParse(t *testing.T) {
	defer func(b time.Duration) { logoutBackoff = b }(logoutBackoff)
	logoutBackoff = time.Millisecond
	var mu sync.Mutex
	var seen []string
	answers := map[string][]int{}
	parse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		app := r.Header.Get("X-Parse-Application-Id")
		mu.Lock()
		seen = append(seen, app+" "+r.Header.Get("X-Parse-Session-Token"))
		var status int
		if q := answers[app]; len(q) > 0 {
			status, answers[app] = q[0], q[1:]
		} else {
			status = 403
		}
		mu.Unlock()
		w.WriteHeader(status)
		if status == 400 {
			io.WriteString(w, `{"code":209,"error":"Invalid session token"}`)
			return
		}
		io.WriteString(w, `{}`)
	}))
	defer parse.Close()
	u, _ := url.Parse(parse.URL)
	sets := []map[string]string{{"X-Parse-Application-Id": "wrong"}, {"X-Parse-Application-Id": "app"}}
	cases := []struct {
		name    string
		app     []int // answers to the right app id, in turn
		wantErr bool
		calls   int
	}{
		{"second key set", []int{200}, false, 2},
		{"server errors, then ok", []int{502, 500, 200}, false, 6},
		{"already ended", []int{400}, false, 2},
		{"always failing", []int{500, 500, 500, 500}, true, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mu.Lock()
			seen, answers = nil, map[string][]int{"app": c.app}
			mu.Unlock()
			err := endAtParse(context.Background(), http.DefaultTransport, u, "/parse", sets, "r:tok")
			if (err != nil) != c.wantErr || len(seen) != c.calls {
				t.Fatalf("err %v after %d calls %v", err, len(seen), seen)
			}
			if seen[0] != "wrong r:tok" {
				t.Errorf("first call %q", seen[0])
			}
		})
	}
}

type failingChallenge struct{}

func (failingChallenge) BeginParse(*http.Request, *store.Held, MFA) (forward.Reply, error) {
	return forward.Reply{}, errors.New("challenge down")
}

// TestHoldFailureEndsSession: when a login can't be held (the challenge
// fails), its session is ended at Parse: nobody will get the token.
func TestHoldFailureEndsSession(t *testing.T) {
	fake := parsefake.New(parsefake.User{ID: "u1", Username: "ann", Password: "pw"})
	app := httptest.NewServer(fake)
	defer app.Close()
	u, _ := url.Parse(app.URL)
	logins, tokens := guardDeps(memory.New(nil))
	g, err := New(Options{Upstream: u, Mount: "/parse", Challenger: failingChallenge{}, Held: logins, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/parse/login", strings.NewReader(`{"username":"ann","password":"pw"}`))
	r.Header.Set("X-Parse-Application-Id", parsefake.AppID)
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	g.Wait()
	if w.Code < 500 || strings.Contains(w.Body.String(), "r:") {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	if n := fake.Sessions("u1"); n != 0 {
		t.Errorf("%d sessions live at Parse after a failed hold", n)
	}
}
