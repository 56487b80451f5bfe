package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSignVector: the signature is HMAC-SHA256(secret, ts + "." + body),
// checked against a value computed elsewhere (Python's hmac module).
func TestSignVector(t *testing.T) {
	got := Sign([]byte("0123456789abcdef-secret"), "1795000000", []byte(`{"event":"enrollment"}`))
	want := "sha256=f8c454a9de937910234c5f14f3356bd165d14e5cd8d5f68fadb4f7a17e3cc80d"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestNotifierRequest: a loopback receiver verifies the exact request it
// gets (method, path, headers, signature over the exact body, the body)
// and fails the test on anything else.
func TestNotifierRequest(t *testing.T) {
	secret := []byte("webhook-secret-0123456789")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	got := make(chan []byte, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/hooks/enroll" || r.URL.RawQuery != "k=1" {
			t.Errorf("got %s %s", r.Method, r.URL)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		ts := r.Header.Get("X-Vestibule-Timestamp")
		if ts != "1795521600" {
			t.Errorf("timestamp %q, want the injected clock's", ts)
		}
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(ts + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		if sig := r.Header.Get("X-Vestibule-Signature"); !hmac.Equal([]byte(sig), []byte(want)) {
			t.Errorf("signature %q, want %q", sig, want)
		}
		got <- body
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	n, err := New(Options{URL: recv.URL + "/hooks/enroll?k=1", Secret: secret, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Event: "enrollment", User: "alice", Factor: "totp", By: "user", Via: "invite", RemoteIP: "192.0.2.1"}
	if err := n.Send(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	want := `{"event":"enrollment","user":"alice","factor":"totp","by":"user","via":"invite","remote_ip":"192.0.2.1","time":"2026-11-24T12:00:00Z"}`
	if b := <-got; string(b) != want {
		t.Fatalf("body\n%s\nwant\n%s", b, want)
	}
}

// TestNotifierBestEffort: a failing or hanging receiver never blocks
// Notify, failures are logged without the secret or the URL's query, and
// a nil Notifier is a no-op.
func TestNotifierBestEffort(t *testing.T) {
	secret := []byte("webhook-secret-0123456789")
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, "HTTP 500"},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusTemporaryRedirect)
		}, "HTTP 307"},
		{"hangs past the timeout", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // so the server notices the client leaving
			<-r.Context().Done()
		}, "posting event:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recv := httptest.NewServer(tc.handler)
			defer recv.Close()
			logs := &lockedBuf{}
			n, err := New(Options{URL: recv.URL + "/x?token=query-secret", Secret: secret, Timeout: 200 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			n.Notify(context.Background(), Event{Event: "phone_set", User: "bob", By: "admin"})
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Fatalf("Notify blocked for %s", d)
			}
			n.Wait()
			out := logs.String()
			if !strings.Contains(out, "event=enrollment_webhook_failed") || !strings.Contains(out, tc.want) || !strings.Contains(out, "change=phone_set") {
				t.Fatalf("log lacks the failure (%s): %s", tc.want, out)
			}
			if strings.Contains(out, "query-secret") || strings.Contains(out, string(secret)) {
				t.Fatalf("log leaks a secret: %s", out)
			}
		})
	}
	var none *Notifier
	none.Notify(context.Background(), Event{Event: "enrollment"})
	if err := none.Send(context.Background(), Event{}); err != nil {
		t.Fatal(err)
	}
	none.Wait()
}

func TestNewRefuses(t *testing.T) {
	for _, o := range []Options{{URL: "ftp://x", Secret: make([]byte, 16)}, {URL: "https://x", Secret: []byte("short")}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%q) accepted", o.URL)
		}
	}
}
