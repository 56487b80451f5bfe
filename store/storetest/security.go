package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

// Passkeys, factor changes and recent sign-ins (issue 16): the durable
// records behind the security page.

func passkey(user string, id byte, at time.Time) store.Passkey {
	return store.Passkey{User: user, ID: []byte{0xc0, id}, PublicKey: []byte("cose-" + user), AAGUID: bytes.Repeat([]byte{id}, 16),
		Transports: []string{"usb", "nfc"}, BackupEligible: true, UserHandle: []byte("handle-" + user), Name: fmt.Sprint("key ", id), CreatedAt: at}
}

// withPasskey opens an empty store and adds alice's passkey; it returns
// its credential id.
func (open OpenDurable) withPasskey(t *testing.T) (*Clock, store.Durable, []byte) {
	t.Helper()
	c, s := open.fresh(t)
	p := passkey("alice", 1, c.Now())
	if err := s.AddPasskey(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return c, s, p.ID
}

// security runs the issue 16 conformance tests on durable stores.
func (open OpenDurable) security(t *testing.T) {
	t.Run("passkeys: round trip, order, a passkey-only user is enrolled", func(t *testing.T) {
		c, s := open.fresh(t)
		ctx := t.Context()
		t0 := c.Now()
		for i, at := range []time.Time{t0.Add(time.Minute), t0} { // added out of order
			if err := s.AddPasskey(ctx, passkey("alice", byte(i+1), at)); err != nil {
				t.Fatal(err)
			}
		}
		ps, err := s.Passkeys(ctx, "alice")
		if err != nil || len(ps) != 2 {
			t.Fatalf("Passkeys = %d, %v; want 2", len(ps), err)
		}
		if !ps[0].CreatedAt.Equal(t0) || ps[0].ID[1] != 2 || ps[1].ID[1] != 1 {
			t.Errorf("order: %x then %x, want by CreatedAt", ps[0].ID, ps[1].ID)
		}
		want := passkey("alice", 2, t0)
		got := ps[0]
		if got.User != want.User || !bytes.Equal(got.PublicKey, want.PublicKey) || !bytes.Equal(got.AAGUID, want.AAGUID) ||
			strings.Join(got.Transports, ",") != "usb,nfc" || !got.BackupEligible || got.BackupState || got.SignCount != 0 ||
			!bytes.Equal(got.UserHandle, want.UserHandle) || got.Name != want.Name || !got.LastUsed.IsZero() {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
		if p, err := s.PasskeyByID(ctx, []byte{0xc0, 1}); err != nil || p.User != "alice" || p.Name != "key 1" {
			t.Errorf("PasskeyByID = %+v, %v", p, err)
		}
		if _, err := s.PasskeyByID(ctx, []byte{0xc0, 9}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PasskeyByID of an unknown id: %v, want ErrNotFound", err)
		}
		e, err := s.Enrollment(ctx, "alice")
		if err != nil || e.Passkeys != 2 || len(e.TOTPSecret) != 0 || e.Phone != "" {
			t.Errorf("passkey-only enrollment = %+v, %v; want 2 passkeys, nothing else", e, err)
		}
		all, err := s.Enrollments(ctx)
		if err != nil || len(all) != 1 || all[0].User != "alice" || all[0].Passkeys != 2 {
			t.Errorf("Enrollments = %+v, %v", all, err)
		}
	})

	t.Run("passkeys: credential ids are unique across users", func(t *testing.T) {
		c, s := open.fresh(t)
		ctx := t.Context()
		if err := s.AddPasskey(ctx, passkey("alice", 1, c.Now())); err != nil {
			t.Fatal(err)
		}
		if err := s.AddPasskey(ctx, passkey("bob", 1, c.Now())); !errors.Is(err, store.ErrExists) {
			t.Errorf("bob adds alice's credential id: %v, want ErrExists", err)
		}
		if _, err := s.Enrollment(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused passkey left an enrollment for bob: %v", err)
		}
		if err := s.AddPasskey(ctx, passkey("alice", 1, c.Now())); !errors.Is(err, store.ErrExists) {
			t.Errorf("alice adds it again: %v, want ErrExists", err)
		}
	})

	t.Run("passkeys: signature counter", func(t *testing.T) {
		c, s, id := open.withPasskey(t)
		ctx := t.Context()
		steps := []struct {
			count  uint32
			backup bool
			want   error
			stored uint32
		}{
			{0, false, nil, 0},                // an authenticator that doesn't count
			{0, true, nil, 0},                 // again: both zero is fine
			{5, true, nil, 5},                 // starts counting
			{5, false, store.ErrSignCount, 5}, // the same count: a clone or a replay
			{3, false, store.ErrSignCount, 5}, // lower
			{0, false, store.ErrSignCount, 5}, // back to zero after counting
			{6, false, nil, 6},
		}
		for i, st := range steps {
			c.Advance(time.Minute)
			err := s.UsePasskey(ctx, "alice", id, st.count, st.backup, c.Now())
			if !errors.Is(err, st.want) || (st.want == nil && err != nil) {
				t.Fatalf("step %d (count %d): %v, want %v", i, st.count, err, st.want)
			}
			p, _ := s.PasskeyByID(ctx, id)
			if p.SignCount != st.stored {
				t.Errorf("step %d: stored count %d, want %d", i, p.SignCount, st.stored)
			}
			if st.want == nil && (!p.LastUsed.Equal(c.Now()) || p.BackupState != st.backup) {
				t.Errorf("step %d: last used %v, backup %v; want %v, %v", i, p.LastUsed, p.BackupState, c.Now(), st.backup)
			}
			if st.want != nil && p.LastUsed.Equal(c.Now()) {
				t.Errorf("step %d: a refused use changed LastUsed", i)
			}
		}
		if e, _ := s.Enrollment(ctx, "alice"); !e.LastUsed.Equal(c.Now()) {
			t.Errorf("enrollment LastUsed = %v, want the last passkey use %v", e.LastUsed, c.Now())
		}
		if err := s.UsePasskey(ctx, "bob", id, 9, false, c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("bob uses alice's passkey: %v, want ErrNotFound", err)
		}
	})

	t.Run("passkeys: two uses racing with the same count, one wins", func(t *testing.T) {
		c, s, id := open.withPasskey(t)
		ctx := t.Context()
		if err := s.UsePasskey(ctx, "alice", id, 1, false, c.Now()); err != nil {
			t.Fatal(err)
		}
		errs := race(func(int) error { return s.UsePasskey(ctx, "alice", id, 7, false, c.Now()) })
		expectOneWinner(t, errs, store.ErrSignCount)
	})

	t.Run("passkeys: rename and delete only the user's own", func(t *testing.T) {
		_, s, id := open.withPasskey(t)
		ctx := t.Context()
		if err := s.RenamePasskey(ctx, "bob", id, "mine"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("bob renames alice's passkey: %v", err)
		}
		if err := s.RenamePasskey(ctx, "alice", id, "YubiKey"); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.PasskeyByID(ctx, id); p.Name != "YubiKey" {
			t.Errorf("name = %q", p.Name)
		}
		if err := s.DeletePasskey(ctx, "bob", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("bob deletes alice's passkey: %v", err)
		}
		if err := s.DeletePasskey(ctx, "alice", id); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePasskey(ctx, "alice", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting it twice: %v", err)
		}
		if e, _ := s.Enrollment(ctx, "alice"); e.Passkeys != 0 {
			t.Errorf("Passkeys = %d after delete", e.Passkeys)
		}
	})

	t.Run("factors: set and remove one, the others stay", func(t *testing.T) {
		c, s := open.fresh(t)
		ctx := t.Context()
		t0 := c.Now()
		err := s.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte("old"), Phone: "+447400123456",
			RecoveryHashes: [][]byte{{1}, {2}}, CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddPasskey(ctx, passkey("alice", 1, t0)); err != nil {
			t.Fatal(err)
		}
		if err := s.UseTOTPStep(ctx, "alice", 100, t0); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.Enrollment(ctx, "alice"); !e.TOTPSetAt.Equal(t0) {
			t.Errorf("TOTPSetAt after Enroll = %v, want CreatedAt %v", e.TOTPSetAt, t0)
		}
		t1 := t0.Add(time.Hour)
		if err := s.SetTOTP(ctx, "alice", []byte("new"), t1); err != nil {
			t.Fatal(err)
		}
		e, err := s.Enrollment(ctx, "alice")
		if err != nil || string(e.TOTPSecret) != "new" || e.LastStep != 0 || !e.TOTPSetAt.Equal(t1) || e.Phone != "+447400123456" ||
			len(e.RecoveryHashes) != 2 || e.Passkeys != 1 || !e.CreatedAt.Equal(t0) {
			t.Errorf("after SetTOTP: %+v, %v", e, err)
		}
		if err := s.UseTOTPStep(ctx, "alice", 1, t1); err != nil {
			t.Errorf("a step of the new secret after SetTOTP: %v", err)
		}
		if err := s.RemoveTOTP(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveTOTP(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RemoveTOTP twice: %v", err)
		}
		if err := s.RemovePhone(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemovePhone(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RemovePhone twice: %v", err)
		}
		e, err = s.Enrollment(ctx, "alice")
		if err != nil || len(e.TOTPSecret) != 0 || !e.TOTPSetAt.IsZero() || e.Phone != "" || len(e.RecoveryHashes) != 2 || e.Passkeys != 1 {
			t.Errorf("after removing TOTP and phone: %+v, %v", e, err)
		}
		for name, err := range map[string]error{"RemoveTOTP": s.RemoveTOTP(ctx, "bob"), "RemovePhone": s.RemovePhone(ctx, "bob")} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s of a user without enrollment: %v", name, err)
			}
		}
		// SetTOTP for a user with nothing creates the enrollment.
		if err := s.SetTOTP(ctx, "carol", []byte("c"), t1); err != nil {
			t.Fatal(err)
		}
		if e, err := s.Enrollment(ctx, "carol"); err != nil || string(e.TOTPSecret) != "c" || !e.TOTPSetAt.Equal(t1) {
			t.Errorf("carol after SetTOTP: %+v, %v", e, err)
		}
		// A new Enroll replaces the factors but keeps the passkeys.
		if err := s.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte("again"), CreatedAt: t1}); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.Enrollment(ctx, "alice"); e.Passkeys != 1 || len(e.RecoveryHashes) != 0 || !e.TOTPSetAt.Equal(t1) {
			t.Errorf("after a new Enroll: %+v", e)
		}
	})

	t.Run("sign-ins: newest kept, newest first, reset removes them", func(t *testing.T) {
		c, s := open.fresh(t)
		ctx := t.Context()
		long := strings.Repeat("x", store.MaxUserAgent+10)
		for i := range store.SignInsKept + 5 {
			c.Advance(time.Minute)
			if err := s.AddSignIn(ctx, store.SignIn{User: "alice", At: c.Now(), IP: fmt.Sprint("192.0.2.", i), UserAgent: long, Factor: "totp"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddSignIn(ctx, store.SignIn{User: "bob", At: c.Now(), IP: "198.51.100.1", Factor: "webauthn"}); err != nil {
			t.Fatal(err)
		}
		all, err := s.SignIns(ctx, "alice", 0)
		if err != nil || len(all) != store.SignInsKept {
			t.Fatalf("SignIns = %d, %v; want %d", len(all), err, store.SignInsKept)
		}
		if !all[0].At.Equal(c.Now()) || all[0].IP != fmt.Sprint("192.0.2.", store.SignInsKept+4) || all[len(all)-1].IP != "192.0.2.5" {
			t.Errorf("newest %+v, oldest %+v", all[0], all[len(all)-1])
		}
		if all[0].User != "alice" || all[0].Factor != "totp" || len(all[0].UserAgent) != store.MaxUserAgent {
			t.Errorf("round trip: %+v (user agent %d bytes)", all[0], len(all[0].UserAgent))
		}
		if three, _ := s.SignIns(ctx, "alice", 3); len(three) != 3 || !three[0].At.Equal(all[0].At) {
			t.Errorf("limit 3: %d, newest %v", len(three), three)
		}
		if err := s.AddPasskey(ctx, passkey("alice", 1, c.Now())); err != nil {
			t.Fatal(err)
		}
		if err := s.Reset(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.SignIns(ctx, "alice", 0); len(l) != 0 {
			t.Errorf("%d sign-ins after reset", len(l))
		}
		if _, err := s.PasskeyByID(ctx, []byte{0xc0, 1}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("passkey after reset: %v", err)
		}
		if l, _ := s.SignIns(ctx, "bob", 0); len(l) != 1 || l[0].Factor != "webauthn" {
			t.Errorf("bob's sign-ins: %+v", l)
		}
	})

	t.Run("sign-ins: concurrent sign-ins still keep the newest N", func(t *testing.T) {
		c, s := open.fresh(t)
		ctx := t.Context()
		for _, err := range race(func(i int) error {
			return s.AddSignIn(ctx, store.SignIn{User: "alice", At: c.Now().Add(time.Duration(i) * time.Second), Factor: "totp"})
		}) {
			if err != nil {
				t.Error(err)
			}
		}
		l, err := s.SignIns(ctx, "alice", 0)
		if err != nil || len(l) != store.SignInsKept || !l[0].At.Equal(c.Now().Add((concurrency-1)*time.Second)) {
			t.Errorf("after %d concurrent sign-ins: %d kept, %v", concurrency, len(l), err)
		}
	})
}
