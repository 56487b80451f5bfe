package held

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
)

// ended records the app sessions an AppSession was asked to end.
type ended struct {
	users []string
	err   error
}

func (e *ended) End(_ context.Context, h *store.Held) error {
	e.users = append(e.users, h.User)
	return e.err
}

func newLogins(t *testing.T, now *time.Time) (*Logins, *memory.Store, *ended, *ended, *bytes.Buffer) {
	t.Helper()
	clock := func() time.Time { return *now }
	st := memory.New(clock)
	cookie, parse := &ended{}, &ended{}
	var logs bytes.Buffer
	l := &Logins{Store: st, TTL: time.Minute, Now: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Sessions: map[string]AppSession{"": cookie, store.KindParse: parse}}
	return l, st, cookie, parse, &logs
}

// holdAlice holds a cookie login of alice.
func holdAlice(t *testing.T, l *Logins) *store.Held {
	t.Helper()
	h := &store.Held{User: "alice", Session: map[string]string{"sid": "1"}}
	if err := l.Hold(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHoldAndTake(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	l, st, _, _, _ := newLogins(t, &now)
	ctx := context.Background()
	h := holdAlice(t, l)
	if len(h.ID) != 24 || !h.Created.Equal(now) || !h.Expires.Equal(now.Add(time.Minute)) {
		t.Fatalf("held login id %q created %v expires %v", h.ID, h.Created, h.Expires)
	}
	taken, done, err := l.Take(ctx, h.ID)
	if err != nil || taken.User != "alice" {
		t.Fatalf("Take = %+v, %v", taken, err)
	}
	if _, _, err := l.Take(ctx, h.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Take: %v, want ErrNotFound", err)
	}
	// Until done, the journal copy is there: a crash now leaves it for Sweep.
	now = now.Add(2 * time.Minute)
	popped, err := st.PopExpiredHeld(ctx, now, 10)
	if err != nil || len(popped) != 1 || !IsReleaseJournal(popped[0].ID) {
		t.Fatalf("journal copy before done: %d popped, %v", len(popped), err)
	}
	done()
}

func TestTakeDoneLeavesNothing(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	l, _, cookie, _, _ := newLogins(t, &now)
	ctx := context.Background()
	h := holdAlice(t, l)
	_, done, err := l.Take(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	done()
	now = now.Add(time.Hour)
	if n := l.Sweep(ctx); n != 0 || len(cookie.users) != 0 {
		t.Errorf("Sweep after a finished release: %d collected, %v ended", n, cookie.users)
	}
}

func TestAbandon(t *testing.T) {
	cases := []struct {
		name       string
		held       store.Held
		failing    bool
		wantCookie int
		wantParse  int
		wantEvent  string
	}{
		{"cookie login ended at the app", store.Held{User: "a", Session: map[string]string{"sid": "1"}}, false, 1, 0, "event=upstream_session_revoked"},
		{"Parse login ended at Parse", store.Held{User: "p", Kind: store.KindParse, Session: map[string]string{"sessionToken": "r:1"}}, false, 0, 1, "kind=parse"},
		{"no session: only logged", store.Held{User: "a"}, false, 0, 0, "event=login_abandoned"},
		{"a failed end is logged", store.Held{User: "a", Session: map[string]string{"sid": "1"}}, true, 1, 0, "event=upstream_logout_failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
			l, _, cookie, parse, logs := newLogins(t, &now)
			if tc.failing {
				cookie.err = errors.New("app down")
			}
			l.Abandon(context.Background(), &tc.held, "expired")
			if len(cookie.users) != tc.wantCookie || len(parse.users) != tc.wantParse {
				t.Errorf("ended: cookie %v, parse %v", cookie.users, parse.users)
			}
			if !strings.Contains(logs.String(), tc.wantEvent) || !strings.Contains(logs.String(), "reason=expired") {
				t.Errorf("log %q lacks %s", logs, tc.wantEvent)
			}
		})
	}
}

func TestAbandonWithoutAppSession(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	l, _, _, _, logs := newLogins(t, &now)
	delete(l.Sessions, "") // login.logout_abandoned off
	l.Abandon(context.Background(), &store.Held{User: "a", Session: map[string]string{"sid": "1"}}, "banned")
	if !strings.Contains(logs.String(), "event=login_abandoned") {
		t.Errorf("log %q", logs)
	}
}

func TestSweep(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	l, _, cookie, parse, logs := newLogins(t, &now)
	ctx := context.Background()
	for _, h := range []*store.Held{
		{User: "c1", Session: map[string]string{"sid": "1"}},
		{User: "p1", Kind: store.KindParse, Session: map[string]string{"sessionToken": "r:1"}},
		{User: "live", Session: map[string]string{"sid": "2"}},
	} {
		if err := l.Hold(ctx, h); err != nil {
			t.Fatal(err)
		}
		if h.User != "live" {
			continue
		}
		// Taken for release but never finished: its journal copy expires.
		if _, _, err := l.Take(ctx, h.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.Sweep(ctx); n != 0 {
		t.Fatalf("swept %d before expiry", n)
	}
	now = now.Add(2 * time.Minute)
	if n := l.Sweep(ctx); n != 3 {
		t.Fatalf("swept %d, want 3", n)
	}
	if strings.Join(cookie.users, ",") != "c1,live" && strings.Join(cookie.users, ",") != "live,c1" || len(parse.users) != 1 {
		t.Errorf("ended: cookie %v, parse %v", cookie.users, parse.users)
	}
	if !strings.Contains(logs.String(), "event=release_unconfirmed user=live") {
		t.Errorf("no release_unconfirmed event: %s", logs)
	}
}
