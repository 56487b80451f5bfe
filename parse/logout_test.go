package parse

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
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
