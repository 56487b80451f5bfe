package held

import (
	"context"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store/memory"
)

// TestCacheForget: a logged-out token is not served from the cache, even
// when a lookup that began before the logout finishes after it.
func TestCacheForget(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	st := memory.New(func() time.Time { return now })
	g := NewRegistry(st, RegistryOptions{CacheTTL: 5 * time.Second, SessionTTL: time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	if err := g.Register(ctx, "r:a", "u1"); err != nil {
		t.Fatal(err)
	}
	if u, ok, _ := g.Released(ctx, "r:a"); !ok || u != "u1" {
		t.Fatalf("released: %q %v", u, ok)
	}
	if err := g.Forget(ctx, "r:a"); err != nil {
		t.Fatal(err)
	}
	g.remember(hashToken("r:a"), "u1", now) // a lookup from before the logout
	if _, ok, _ := g.Released(ctx, "r:a"); ok {
		t.Error("a logged-out token was served from the cache")
	}
}

// TestCacheTTL: CacheTTL 0 (parse.token_cache: 0) means no cache, every
// lookup asks the store; a positive one reuses an answer that long.
func TestCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ttl    time.Duration
		cached bool // a token deleted in the store behind the registry's back still passes
	}{
		{"zero: no cache", 0, false},
		{"5s", 5 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
			st := memory.New(func() time.Time { return now })
			g := NewRegistry(st, RegistryOptions{CacheTTL: tc.ttl, Now: func() time.Time { return now }})
			ctx := context.Background()
			if err := g.Register(ctx, "r:a", "u1"); err != nil {
				t.Fatal(err)
			}
			if u, ok, _ := g.Released(ctx, "r:a"); !ok || u != "u1" {
				t.Fatalf("released: %q %v", u, ok)
			}
			// Another replica logs the token out: only the store knows.
			if err := st.DeleteToken(ctx, hashToken("r:a")); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := g.Released(ctx, "r:a"); ok != tc.cached {
				t.Errorf("after the store forgot the token: released %v, want %v", ok, tc.cached)
			}
		})
	}
}
