package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

func TestEphemeral(t *testing.T) {
	storetest.Ephemeral(t, func(t *testing.T, now func() time.Time) store.Ephemeral { return New(now) })
}

// TestSweep: expired held logins and lapsed revocations are dropped from
// memory, not only hidden.
func TestSweep(t *testing.T) {
	c := storetest.NewClock()
	s := New(c.Now)
	ctx := context.Background()
	for i := range 300 {
		s.CreateHeld(ctx, &store.Held{ID: fmt.Sprint(i), Expires: c.Now().Add(time.Minute)})
		s.Revoke(ctx, [32]byte{byte(i)}, c.Now(), c.Now().Add(time.Minute))
	}
	if held, revoked := s.Len(); held != 300 || revoked != 256 {
		// 256: the revocation keys repeat after byte 255.
		t.Fatalf("premise: %d held, %d revocations inserted, want 300 and 256", held, revoked)
	}
	c.Advance(12 * time.Minute) // past expiry and the keep-for-PopExpiredHeld grace
	for i := range 300 {
		s.CreateHeld(ctx, &store.Held{ID: fmt.Sprint("new", i), Expires: c.Now().Add(time.Minute)})
		s.Revoke(ctx, [32]byte{byte(i), 1}, c.Now(), c.Now().Add(time.Minute))
	}
	held, revoked := s.Len()
	if held > 300 || revoked > 300 {
		t.Errorf("after sweeping: %d held, %d revocations (want <= 300 each)", held, revoked)
	}
}
