package redis

import (
	"context"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/internal/testsvc"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

func open(t *testing.T, url, prefix string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{URL: url, Prefix: prefix, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestEphemeral(t *testing.T) {
	url := testsvc.Redis(t)
	storetest.Ephemeral(t, func(t *testing.T, now func() time.Time) store.Ephemeral {
		return open(t, url, testsvc.RandomName("t")+":", now)
	})
}

// TestRevocationsReachOtherReplicas: a revocation made through one store
// shows in another's in-process view, and a new replica loads existing ones.
func TestRevocationsReachOtherReplicas(t *testing.T) {
	url := testsvc.Redis(t)
	prefix := testsvc.RandomName("t") + ":"
	c := storetest.NewClock()
	a := open(t, url, prefix, c.Now)
	b := open(t, url, prefix, c.Now)
	key := [32]byte{7}
	if err := a.Revoke(context.Background(), key, c.Now(), c.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if at, ok := b.RevokedAt(key); ok && at.Equal(c.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("revocation never reached the other replica")
		}
		time.Sleep(10 * time.Millisecond)
	}
	late := open(t, url, prefix, c.Now)
	if _, ok := late.RevokedAt(key); !ok {
		t.Fatal("a replica started later does not know the revocation")
	}
}

// TestOutageAndRecovery: with Redis gone, operations fail with
// ErrUnavailable (fail closed); when it returns, the store works again by
// itself and reloads revocations.
func TestOutageAndRecovery(t *testing.T) {
	srv := testsvc.StartRedis(t)
	c := storetest.NewClock()
	s := open(t, srv.URL(), "t:", c.Now)
	ctx := context.Background()
	srv.Stop()
	if _, err := s.Held(ctx, "x"); !store.IsUnavailable(err) {
		t.Fatalf("Held with Redis down: %v, want ErrUnavailable", err)
	}
	if err := s.CreateHeld(ctx, &store.Held{ID: "x", Expires: c.Now().Add(time.Minute)}); !store.IsUnavailable(err) {
		t.Fatalf("CreateHeld with Redis down: %v", err)
	}
	srv.Restart()
	// Another client writes a revocation while we were away.
	other := open(t, srv.URL(), "t:", c.Now)
	key := [32]byte{9}
	other.Revoke(ctx, key, c.Now(), c.Now().Add(time.Hour))
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.CreateHeld(ctx, &store.Held{ID: "x", Expires: c.Now().Add(time.Minute)})
		_, revoked := s.RevokedAt(key)
		if err == nil && revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover: %v, revoked=%v", err, revoked)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
