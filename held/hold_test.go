package held

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/store"
)

// kindLog records what HoldAnswer asked of a Kind, in order.
type kindLog struct {
	calls    []string
	beginErr error
	seenID   string // h.ID when Begin ran
}

func (k *kindLog) Stored(_ context.Context, h *store.Held) {
	k.calls = append(k.calls, "stored")
}

func (k *kindLog) Begin(h *store.Held) (forward.Reply, error) {
	k.calls = append(k.calls, "begin")
	k.seenID = h.ID
	if k.beginErr != nil {
		return forward.Reply{}, k.beginErr
	}
	return forward.Reply{Status: http.StatusSeeOther, Body: []byte("code page")}, nil
}

func (k *kindLog) Unheld(_ context.Context, _ *store.Held, reason string) {
	k.calls = append(k.calls, "unheld "+reason)
}

func (k *kindLog) ReplyHeader(answer, reply http.Header) {
	k.calls = append(k.calls, "reply")
	reply.Set("X-From-Answer", answer.Get("X-App"))
}

// failingStore refuses every new held login.
type failingStore struct{ err error }

func (f failingStore) Hold(context.Context, *store.Held) error { return f.err }

func loginAnswer() *http.Response {
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"X-App": {"kept"}, "Content-Length": {"2"}},
		Body:       io.NopCloser(strings.NewReader("{}")),
		Request:    httptest.NewRequest(http.MethodPost, "/login", nil),
	}
}

func TestHoldAnswer(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	storeErr := errors.New("store down")
	beginErr := errors.New("no randomness")
	for _, tc := range []struct {
		name      string
		kind      string
		store     func(l *Logins) Storer
		beginErr  error
		calls     []string
		wantErr   error // errors.Is; nil: held
		storeFail bool  // the error is a forward.StoreError
		logged    string
	}{
		{name: "cookie login held", calls: []string{"stored", "begin", "reply"},
			logged: `msg="login held" event=login_held user=alice remote_ip=192.0.2.1 user_agent=ua`},
		{name: "parse login held names its kind", kind: store.KindParse, calls: []string{"stored", "begin", "reply"},
			logged: `user_agent=ua kind=parse`},
		{name: "store refuses", store: func(*Logins) Storer { return failingStore{storeErr} },
			calls: []string{"unheld store_error"}, wantErr: storeErr, storeFail: true},
		{name: "challenge does not begin", beginErr: beginErr,
			calls: []string{"stored", "begin", "unheld challenge_failed"}, wantErr: beginErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, st, _, _, logs := newLogins(t, &now)
			var s Storer = l
			if tc.store != nil {
				s = tc.store(l)
			}
			k := &kindLog{beginErr: tc.beginErr}
			resp := loginAnswer()
			h := &store.Held{Kind: tc.kind, User: "alice", RemoteIP: "192.0.2.1", UserAgent: "ua"}
			err := HoldAnswer(resp, h, k, s, l.Logger)
			if !reflect.DeepEqual(k.calls, tc.calls) {
				t.Errorf("calls = %q, want %q", k.calls, tc.calls)
			}
			if tc.wantErr != nil {
				var se forward.StoreError
				if !errors.Is(err, tc.wantErr) || errors.As(err, &se) != tc.storeFail {
					t.Fatalf("err = %v (%T), want %v (store error %v)", err, err, tc.wantErr, tc.storeFail)
				}
				if resp.StatusCode != http.StatusOK {
					t.Errorf("the answer was replaced (%d) though the login is not held", resp.StatusCode)
				}
				if strings.Contains(logs.String(), "login held") {
					t.Errorf("logged as held: %s", logs.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.seenID == "" || k.seenID != h.ID {
				t.Errorf("Begin saw id %q, held %q", k.seenID, h.ID)
			}
			if got, err := st.Held(context.Background(), h.ID); err != nil || got.User != "alice" {
				t.Errorf("stored login = %+v, %v", got, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusSeeOther || string(body) != "code page" ||
				resp.Header.Get("X-From-Answer") != "kept" || resp.Header.Get("Content-Length") != "9" {
				t.Errorf("answer = %d %v %q, want the challenge's reply with the kind's header", resp.StatusCode, resp.Header, body)
			}
			if !strings.Contains(logs.String(), tc.logged) {
				t.Errorf("log %q lacks %q", logs.String(), tc.logged)
			}
			if tc.kind == "" && strings.Contains(logs.String(), "kind=") {
				t.Errorf("a cookie login's line names a kind: %s", logs.String())
			}
		})
	}
}

func TestHeader(t *testing.T) {
	answer := http.Header{
		"Content-Type":     {"application/json"},
		"Set-Cookie":       {"sid=1"},
		"Connection":       {"close"},
		"Content-Length":   {"2"},
		forward.UserHeader: {"mallory"},
		"X-User":           {"alice"},
		"X-Phone":          {"+15550100"},
	}
	got := Header(answer, "X-User", "", "X-Phone")
	want := http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"sid=1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Header = %v, want %v", got, want)
	}
	if answer.Get("X-User") != "alice" || answer.Get("Connection") != "close" {
		t.Errorf("the answer's own header changed: %v", answer)
	}
}
