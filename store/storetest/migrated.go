package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

// V1Time is the time in every row of the v1 fixtures.
var V1Time = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// MigratedV1 checks a durable store opened over a database an earlier
// release wrote (each backend's v1 fixture) holding: user alice, sealed
// secret "SEALED", last step 42, phone "sealed:abc", created, last used and
// devices revoked at V1Time; recovery-code hashes 01 and 02 unused, 03
// used; remembered device d1 seen from 192.0.2.1 at V1Time. Every row must
// read back, and the codes still work; the secret counts as set when the
// user enrolled (TOTPSetAt = CreatedAt).
func MigratedV1(t *testing.T, s store.Durable) {
	t.Helper()
	ctx := context.Background()
	e, err := s.Enrollment(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if string(e.TOTPSecret) != "SEALED" || e.LastStep != 42 || e.Phone != "sealed:abc" || !e.CreatedAt.Equal(V1Time) ||
		!e.LastUsed.Equal(V1Time) || !e.DevicesRevoked.Equal(V1Time) || !e.TOTPSetAt.Equal(V1Time) || e.Passkeys != 0 {
		t.Errorf("enrollment after migration: %+v", e)
	}
	if len(e.RecoveryHashes) != 2 || !bytes.Equal(e.RecoveryHashes[0], []byte{1}) || !bytes.Equal(e.RecoveryHashes[1], []byte{2}) {
		t.Errorf("unused recovery hashes: %x, want 01 and 02", e.RecoveryHashes)
	}
	if n, err := s.UseRecoveryCode(ctx, "alice", []byte{1}, V1Time); err != nil || n != 1 {
		t.Errorf("using a migrated code: %d left, %v", n, err)
	}
	if err := s.UseTOTPStep(ctx, "alice", 42, V1Time); !errors.Is(err, store.ErrReplay) {
		t.Errorf("the migrated last step 42 again: %v, want ErrReplay", err)
	}
	dl, ok := s.(store.DeviceLog)
	if !ok {
		t.Fatalf("%T keeps no device log", s)
	}
	devs, err := dl.Devices(ctx, "alice")
	if err != nil || len(devs) != 1 || devs[0].ID != "d1" || devs[0].LastIP != "192.0.2.1" || !devs[0].Created.Equal(V1Time) {
		t.Errorf("devices after migration: %+v, %v", devs, err)
	}
	// A reset still reaches the codes (the foreign key survived).
	if err := s.Reset(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Enrollment(ctx, "alice"); err != nil || len(e.RecoveryHashes) != 0 {
		t.Errorf("codes after reset and a new enrollment: %x, %v", e.RecoveryHashes, err)
	}
}
