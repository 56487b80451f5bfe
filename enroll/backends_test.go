package enroll

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/internal/testsvc"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/store/redis"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

// TestInviteClaimBackends: an invitation works once on every ephemeral
// store (the claim is the store's atomic counter, over the invitation's
// whole lifetime), and a second gateway on the same store sees the claim.
func TestInviteClaimBackends(t *testing.T) {
	now := func() time.Time { return t0 }
	backends := []struct {
		name string
		open func(t *testing.T) (store.Counters, store.Counters)
	}{
		{"memory", func(t *testing.T) (store.Counters, store.Counters) {
			m := memory.New(now)
			t.Cleanup(func() { m.Close() })
			return m, m
		}},
		{"sqlite", func(t *testing.T) (store.Counters, store.Counters) {
			path := filepath.Join(t.TempDir(), "v.db")
			var cs []store.Counters
			for range 2 {
				db, err := sqlite.Open(t.Context(), path, now)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				e, err := db.Ephemeral(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, e)
			}
			return cs[0], cs[1]
		}},
		{"redis", func(t *testing.T) (store.Counters, store.Counters) {
			url, prefix := testsvc.Redis(t), testsvc.RandomName("inv")+":"
			var cs []store.Counters
			for range 2 {
				r, err := redis.Open(t.Context(), redis.Options{URL: url, Prefix: prefix, Now: now})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
				cs = append(cs, r)
			}
			return cs[0], cs[1]
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			one, two := b.open(t)
			a, _ := NewInvites([][]byte{key1}, one)
			c, _ := NewInvites([][]byte{key1}, two)
			_, inv, _ := a.Issue("alice", t0, 30*24*time.Hour)
			if err := a.Claim(t.Context(), inv, t0); err != nil {
				t.Fatal(err)
			}
			// Days later, on the other gateway: still used.
			later := t0.Add(20 * 24 * time.Hour)
			if err := c.Claim(t.Context(), inv, later); err != ErrUsed {
				t.Fatalf("second claim on the other gateway: %v", err)
			}
			if used, err := c.IsUsed(t.Context(), inv, later); !used || err != nil {
				t.Fatalf("IsUsed on the other gateway: %v %v", used, err)
			}
			_, other, _ := a.Issue("alice", t0, time.Hour)
			if used, _ := c.IsUsed(t.Context(), other, t0); used {
				t.Fatal("another invitation of the same user counts as used")
			}
		})
	}
}
