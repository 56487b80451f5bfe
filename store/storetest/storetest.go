// Package storetest holds the conformance suites every store.Durable and
// store.Ephemeral implementation passes: SQLite, PostgreSQL, memory and
// Redis, and the sealing wrappers around them, with the same tests.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

// Clock is a settable clock for the suites.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// concurrency is how many goroutines race in the atomicity tests.
const concurrency = 50

// Durable runs the conformance suite for a durable store. open returns a
// fresh, empty store using now as its clock.
func Durable(t *testing.T, open OpenDurable) {
	ctx := context.Background()
	hashes := func(n int) [][]byte {
		var hs [][]byte
		for i := range n {
			hs = append(hs, bytes.Repeat([]byte{byte(i + 1)}, 32))
		}
		return hs
	}
	enroll := func(t *testing.T, s store.Durable, user string, n int) {
		t.Helper()
		err := s.Enroll(ctx, store.Enrollment{User: user, TOTPSecret: []byte("sealed-" + user), RecoveryHashes: hashes(n), CreatedAt: NewClock().Now()})
		if err != nil {
			t.Fatalf("Enroll: %v", err)
		}
	}

	deviceLog(t, open)
	open.security(t)

	t.Run("enrollment round trip", func(t *testing.T) {
		_, s := open.fresh(t)
		if _, err := s.Enrollment(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user: %v, want ErrNotFound", err)
		}
		enroll(t, s, "alice", 10)
		e, err := s.Enrollment(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if e.User != "alice" || string(e.TOTPSecret) != "sealed-alice" || e.LastStep != 0 || len(e.RecoveryHashes) != 10 {
			t.Errorf("got %+v", e)
		}
		if !e.CreatedAt.Equal(NewClock().Now()) {
			t.Errorf("CreatedAt = %v", e.CreatedAt)
		}
		if !e.LastUsed.IsZero() {
			t.Errorf("LastUsed = %v, want zero", e.LastUsed)
		}
		if _, err := s.Enrollment(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("other user: %v", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})

	t.Run("enroll replaces", func(t *testing.T) {
		c, s := open.fresh(t)
		enroll(t, s, "alice", 10)
		if err := s.UseTOTPStep(ctx, "alice", 100, c.Now()); err != nil {
			t.Fatal(err)
		}
		err := s.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte("new"), RecoveryHashes: [][]byte{bytes.Repeat([]byte{9}, 32)}})
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Enrollment(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if string(e.TOTPSecret) != "new" || e.LastStep != 0 || len(e.RecoveryHashes) != 1 {
			t.Errorf("after re-enroll: secret %q, last step %d, %d codes", e.TOTPSecret, e.LastStep, len(e.RecoveryHashes))
		}
		if _, err := s.UseRecoveryCode(ctx, "alice", hashes(1)[0], c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old recovery code after re-enroll: %v", err)
		}
	})

	t.Run("TOTP steps only move forward", func(t *testing.T) {
		c, s := open.fresh(t)
		if err := s.UseTOTPStep(ctx, "nobody", 5, c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unenrolled user: %v, want ErrNotFound", err)
		}
		enroll(t, s, "alice", 1)
		steps := []struct {
			step int64
			want error
		}{{100, nil}, {100, store.ErrReplay}, {99, store.ErrReplay}, {101, nil}, {50, store.ErrReplay}, {103, nil}}
		for _, st := range steps {
			if err := s.UseTOTPStep(ctx, "alice", st.step, c.Now()); !errors.Is(err, st.want) {
				t.Errorf("step %d: %v, want %v", st.step, err, st.want)
			}
		}
		e, _ := s.Enrollment(ctx, "alice")
		if e.LastStep != 103 {
			t.Errorf("LastStep = %d, want 103", e.LastStep)
		}
		if !e.LastUsed.Equal(c.Now()) {
			t.Errorf("LastUsed = %v", e.LastUsed)
		}
	})

	t.Run("recovery codes work once", func(t *testing.T) {
		c, s := open.fresh(t)
		enroll(t, s, "alice", 3)
		enroll(t, s, "bob", 3)
		h := hashes(3)
		if _, err := s.UseRecoveryCode(ctx, "alice", bytes.Repeat([]byte{0xee}, 32), c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown hash: %v", err)
		}
		n, err := s.UseRecoveryCode(ctx, "alice", h[1], c.Now())
		if err != nil || n != 2 {
			t.Fatalf("first use: %d, %v", n, err)
		}
		if _, err := s.UseRecoveryCode(ctx, "alice", h[1], c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second use: %v, want ErrNotFound", err)
		}
		e, _ := s.Enrollment(ctx, "alice")
		if len(e.RecoveryHashes) != 2 {
			t.Errorf("Enrollment lists %d unused codes, want 2", len(e.RecoveryHashes))
		}
		for _, got := range e.RecoveryHashes {
			if bytes.Equal(got, h[1]) {
				t.Error("a used code is listed as unused")
			}
		}
		// Bob's identical hash is his own.
		if n, err := s.UseRecoveryCode(ctx, "bob", h[1], c.Now()); err != nil || n != 2 {
			t.Errorf("bob's code: %d, %v", n, err)
		}
		if _, err := s.UseRecoveryCode(ctx, "carol", h[0], c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unenrolled user: %v", err)
		}
	})

	t.Run("phone", func(t *testing.T) {
		c, s := open.fresh(t)
		// SMS-only user: created by SetPhone.
		if err := s.SetPhone(ctx, "carol", "+33612345678", c.Now()); err != nil {
			t.Fatal(err)
		}
		e, err := s.Enrollment(ctx, "carol")
		if err != nil || e.Phone != "+33612345678" || len(e.TOTPSecret) != 0 {
			t.Fatalf("SMS-only enrollment: %+v, %v", e, err)
		}
		// A TOTP user gets a phone too, keeping the secret.
		enroll(t, s, "alice", 2)
		s.SetPhone(ctx, "alice", "+447400123456", c.Now())
		e, _ = s.Enrollment(ctx, "alice")
		if e.Phone != "+447400123456" || string(e.TOTPSecret) != "sealed-alice" || len(e.RecoveryHashes) != 2 {
			t.Errorf("after SetPhone: %+v", e)
		}
		// Enroll with a phone and no secret.
		if err := s.Enroll(ctx, store.Enrollment{User: "dave", Phone: "+14155552671", RecoveryHashes: hashes(3)}); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.Enrollment(ctx, "dave"); e.Phone != "+14155552671" || len(e.RecoveryHashes) != 3 {
			t.Errorf("phone enrollment: %+v", e)
		}
		if err := s.Enroll(ctx, store.Enrollment{User: "eve"}); err == nil {
			t.Error("an enrollment with neither secret nor phone was accepted")
		}
	})

	t.Run("list and replace recovery codes", func(t *testing.T) {
		c, s := open.fresh(t)
		if l, err := s.Enrollments(ctx); err != nil || len(l) != 0 {
			t.Fatalf("empty store lists %d, %v", len(l), err)
		}
		enroll(t, s, "bob", 2)
		enroll(t, s, "alice", 3)
		l, err := s.Enrollments(ctx)
		if err != nil || len(l) != 2 || l[0].User != "alice" || l[1].User != "bob" || len(l[0].RecoveryHashes) != 3 {
			t.Fatalf("list: %+v %v", l, err)
		}
		fresh := [][]byte{bytes.Repeat([]byte{0xaa}, 32), bytes.Repeat([]byte{0xbb}, 32)}
		if err := s.ReplaceRecoveryCodes(ctx, "alice", fresh); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseRecoveryCode(ctx, "alice", hashes(1)[0], c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an old code works after replacement: %v", err)
		}
		if n, err := s.UseRecoveryCode(ctx, "alice", fresh[1], c.Now()); err != nil || n != 1 {
			t.Errorf("a new code: %d %v", n, err)
		}
		if err := s.ReplaceRecoveryCodes(ctx, "nobody", fresh); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
	})

	t.Run("revoke devices", func(t *testing.T) {
		c, s := open.fresh(t)
		if err := s.RevokeDevices(ctx, "alice", c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unenrolled: %v", err)
		}
		enroll(t, s, "alice", 1)
		at := c.Now().Add(time.Hour)
		if err := s.RevokeDevices(ctx, "alice", at); err != nil {
			t.Fatal(err)
		}
		s.RevokeDevices(ctx, "alice", c.Now()) // never moves back
		e, _ := s.Enrollment(ctx, "alice")
		if !e.DevicesRevoked.Equal(at) {
			t.Errorf("DevicesRevoked = %v, want %v", e.DevicesRevoked, at)
		}
	})

	t.Run("reset", func(t *testing.T) {
		c, s := open.fresh(t)
		if err := s.Reset(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("reset of unknown user: %v", err)
		}
		enroll(t, s, "alice", 2)
		if err := s.Reset(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Enrollment(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after reset: %v", err)
		}
		if _, err := s.UseRecoveryCode(ctx, "alice", hashes(1)[0], c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("recovery code after reset: %v", err)
		}
	})

	t.Run("enrollments are copies", func(t *testing.T) {
		c, s := open.fresh(t)
		secret, hs := []byte("sealed-alice"), hashes(2)
		if err := s.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: secret, RecoveryHashes: hs, CreatedAt: c.Now()}); err != nil {
			t.Fatal(err)
		}
		// The caller's slices are not aliased by the store...
		secret[0], hs[0][0] = 'X', 0xff
		e, err := s.Enrollment(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if string(e.TOTPSecret) != "sealed-alice" || !sameHashes(e.RecoveryHashes, hashes(2)) {
			t.Fatalf("mutating Enroll's argument changed the store: %q %x", e.TOTPSecret, e.RecoveryHashes)
		}
		// ...nor are the returned ones.
		e.TOTPSecret[0], e.RecoveryHashes[0][0] = 'X', 0xff
		again, _ := s.Enrollment(ctx, "alice")
		if string(again.TOTPSecret) != "sealed-alice" || !sameHashes(again.RecoveryHashes, hashes(2)) {
			t.Errorf("mutating a returned enrollment changed the store: %q %x", again.TOTPSecret, again.RecoveryHashes)
		}
		if n, err := s.UseRecoveryCode(ctx, "alice", hashes(1)[0], c.Now()); err != nil || n != 1 {
			t.Errorf("original code after the mutations: %d, %v", n, err)
		}
	})

	t.Run("steps and codes are per user; recovery codes count as use", func(t *testing.T) {
		c, s := open.fresh(t)
		enroll(t, s, "alice", 2)
		enroll(t, s, "bob", 2)
		if err := s.UseTOTPStep(ctx, "alice", 100, c.Now()); err != nil {
			t.Fatal(err)
		}
		if err := s.UseTOTPStep(ctx, "bob", 100, c.Now()); err != nil {
			t.Errorf("bob's step 100 after alice's: %v", err)
		}
		if e, _ := s.Enrollment(ctx, "bob"); e.LastStep != 100 {
			t.Errorf("bob's LastStep = %d", e.LastStep)
		}
		c.Advance(time.Hour)
		if _, err := s.UseRecoveryCode(ctx, "alice", hashes(2)[1], c.Now()); err != nil {
			t.Fatal(err)
		}
		e, _ := s.Enrollment(ctx, "alice")
		if !e.LastUsed.Equal(c.Now()) {
			t.Errorf("LastUsed after a recovery code = %v, want %v", e.LastUsed, c.Now())
		}
		if e.LastStep != 100 {
			t.Errorf("a recovery code changed LastStep to %d", e.LastStep)
		}
		if e, _ := s.Enrollment(ctx, "bob"); len(e.RecoveryHashes) != 2 {
			t.Errorf("alice's code used one of bob's: %d left", len(e.RecoveryHashes))
		}
		if n, err := s.UseRecoveryCode(ctx, "alice", hashes(1)[0], c.Now()); err != nil || n != 0 {
			t.Errorf("last code: %d, %v (want 0 remaining)", n, err)
		}
	})

	t.Run("reset then enroll again", func(t *testing.T) {
		c, s := open.fresh(t)
		enroll(t, s, "alice", 2)
		if err := s.UseTOTPStep(ctx, "alice", 100, c.Now()); err != nil {
			t.Fatal(err)
		}
		if err := s.Reset(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.Reset(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second reset: %v, want ErrNotFound", err)
		}
		if err := s.UseTOTPStep(ctx, "alice", 101, c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TOTP step after reset: %v, want ErrNotFound", err)
		}
		if err := s.EnrollNew(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte("again"), RecoveryHashes: hashes(1)}); err != nil {
			t.Fatalf("EnrollNew after reset: %v", err)
		}
		e, err := s.Enrollment(ctx, "alice")
		if err != nil || string(e.TOTPSecret) != "again" || e.LastStep != 0 || len(e.RecoveryHashes) != 1 {
			t.Fatalf("after re-enrollment: %+v, %v", e, err)
		}
		if err := s.UseTOTPStep(ctx, "alice", 100, c.Now()); err != nil {
			t.Errorf("step 100 in the new enrollment: %v", err)
		}
	})

	t.Run("first enrollment: exactly one wins", func(t *testing.T) {
		_, s := open.fresh(t)
		results := race(func(i int) error {
			return s.EnrollNew(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte(fmt.Sprint("sealed-", i)), RecoveryHashes: hashes(2)})
		})
		expectOneWinner(t, results, store.ErrExists)
		e, err := s.Enrollment(ctx, "alice")
		if err != nil || len(e.RecoveryHashes) != 2 {
			t.Fatalf("after the race: %+v %v", e, err)
		}
		if err := s.EnrollNew(ctx, store.Enrollment{User: "alice", Phone: "+33612345678"}); !errors.Is(err, store.ErrExists) {
			t.Errorf("second EnrollNew: %v", err)
		}
	})

	t.Run("concurrent TOTP step: exactly one wins", func(t *testing.T) {
		c, s := open.fresh(t)
		enroll(t, s, "alice", 1)
		results := race(func(int) error { return s.UseTOTPStep(ctx, "alice", 42, c.Now()) })
		expectOneWinner(t, results, store.ErrReplay)
	})

	t.Run("concurrent recovery code: exactly one wins", func(t *testing.T) {
		c, s := open.fresh(t)
		enroll(t, s, "alice", 5)
		results := race(func(int) error {
			_, err := s.UseRecoveryCode(ctx, "alice", hashes(5)[2], c.Now())
			return err
		})
		expectOneWinner(t, results, store.ErrNotFound)
	})

	t.Run("concurrent distinct recovery codes: each remaining count once", func(t *testing.T) {
		c, s := open.fresh(t)
		enroll(t, s, "alice", concurrency)
		hs := hashes(concurrency)
		var mu sync.Mutex
		var remaining []int
		errs := race(func(i int) error {
			n, err := s.UseRecoveryCode(ctx, "alice", hs[i], c.Now())
			mu.Lock()
			remaining = append(remaining, n)
			mu.Unlock()
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		sort.Ints(remaining)
		for i, n := range remaining {
			if n != i {
				t.Fatalf("remaining counts %v, want 0..%d each once", remaining, concurrency-1)
			}
		}
		if e, _ := s.Enrollment(ctx, "alice"); len(e.RecoveryHashes) != 0 {
			t.Errorf("%d codes left unused", len(e.RecoveryHashes))
		}
	})
}

func sameHashes(a, b [][]byte) bool {
	sortHashes := func(hs [][]byte) [][]byte {
		hs = append([][]byte(nil), hs...)
		sort.Slice(hs, func(i, j int) bool { return bytes.Compare(hs[i], hs[j]) < 0 })
		return hs
	}
	a, b = sortHashes(a), sortHashes(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// race runs f from concurrency goroutines released at once.
func race(f func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, concurrency)
	for i := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func expectOneWinner(t *testing.T, errs []error, loser error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, loser):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent callers succeeded, want exactly 1", wins, len(errs))
	}
}

// Ephemeral runs the conformance suite for an ephemeral store. open returns
// a fresh, empty store using now as its clock.
func Ephemeral(t *testing.T, open OpenEphemeral) {
	ctx := context.Background()
	newHeld := func(c *Clock, id string) *store.Held {
		return &store.Held{
			ID: id, User: "alice",
			Session:  map[string]string{"sessionid": "s-" + id},
			Response: store.HeldResponse{Status: 303, Header: http.Header{"Location": {"/account"}, "Set-Cookie": {"sessionid=s-" + id}}, Body: []byte("body")},
			RemoteIP: "127.0.0.1", UserAgent: "test",
			Created: c.Now(), Expires: c.Now().Add(5 * time.Minute),
		}
	}

	t.Run("held round trip and copies", func(t *testing.T) {
		c, s := open.fresh(t)
		if _, err := s.Held(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		h := newHeld(c, "h1")
		if err := s.CreateHeld(ctx, h); err != nil {
			t.Fatal(err)
		}
		// The caller's value is not aliased by the store.
		h.Session["sessionid"] = "changed"
		h.Response.Header.Set("Location", "/evil")
		h.Response.Body[0] = 'X'
		got, err := s.Held(ctx, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if got.User != "alice" || got.Session["sessionid"] != "s-h1" || got.Response.Status != 303 ||
			got.Response.Header.Get("Location") != "/account" || string(got.Response.Body) != "body" ||
			got.RemoteIP != "127.0.0.1" || got.UserAgent != "test" || !got.Expires.Equal(c.Now().Add(5*time.Minute)) {
			t.Errorf("round trip: %+v", got)
		}
		// Nor is a returned value.
		got.Session["sessionid"] = "changed"
		got.Response.Header.Set("Location", "/evil")
		again, _ := s.Held(ctx, "h1")
		if again.Session["sessionid"] != "s-h1" || again.Response.Header.Get("Location") != "/account" {
			t.Error("mutating a returned held login changed the store")
		}
		// Nor are the byte slices, given or returned.
		sealed, code := []byte("sealed"), []byte("sms-hash")
		if err := s.SetHeldEnrollment(ctx, "h1", sealed); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHeldSMS(ctx, "h1", "+33612345678", code, c.Now(), c.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		sealed[0], code[0] = 'X', 'X'
		got, _ = s.Held(ctx, "h1")
		if string(got.EnrollSecret) != "sealed" || string(got.SMSHash) != "sms-hash" {
			t.Fatalf("mutating arguments changed the store: %q %q", got.EnrollSecret, got.SMSHash)
		}
		got.Response.Body[0], got.EnrollSecret[0], got.SMSHash[0] = 'X', 'X', 'X'
		again, _ = s.Held(ctx, "h1")
		if string(again.Response.Body) != "body" || string(again.EnrollSecret) != "sealed" || string(again.SMSHash) != "sms-hash" {
			t.Errorf("mutating a returned held login's bytes changed the store: %q %q %q", again.Response.Body, again.EnrollSecret, again.SMSHash)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})

	t.Run("held logins expire", func(t *testing.T) {
		c, s := open.fresh(t)
		if err := s.CreateHeld(ctx, newHeld(c, "h1")); err != nil {
			t.Fatal(err)
		}
		c.Advance(5*time.Minute - time.Second)
		if _, err := s.Held(ctx, "h1"); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		c.Advance(2 * time.Second)
		for name, f := range map[string]func() error{
			"Held":              func() error { _, err := s.Held(ctx, "h1"); return err },
			"HeldAttempt":       func() error { _, err := s.HeldAttempt(ctx, "h1"); return err },
			"SetHeldEnrollment": func() error { return s.SetHeldEnrollment(ctx, "h1", []byte("x")) },
			"MarkHeldVerified":  func() error { return s.MarkHeldVerified(ctx, "h1", c.Now()) },
			"TakeHeld":          func() error { _, err := s.TakeHeld(ctx, "h1"); return err },
			"SetHeldSMS": func() error {
				return s.SetHeldSMS(ctx, "h1", "+33612345678", []byte("h"), c.Now(), c.Now().Add(time.Minute))
			},
			"UseHeldSMS": func() error { _, err := s.UseHeldSMS(ctx, "h1", []byte("h"), c.Now(), 5); return err },
		} {
			if err := f(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s after expiry: %v, want ErrNotFound", name, err)
			}
		}
	})

	t.Run("attempts, enrollment, verification", func(t *testing.T) {
		c, s := open.fresh(t)
		s.CreateHeld(ctx, newHeld(c, "h1"))
		for want := 1; want <= 3; want++ {
			n, err := s.HeldAttempt(ctx, "h1")
			if err != nil || n != want {
				t.Fatalf("attempt %d: got %d, %v", want, n, err)
			}
		}
		if err := s.SetHeldEnrollment(ctx, "h1", []byte("sealed")); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkHeldVerified(ctx, "h1", c.Now()); err != nil {
			t.Fatal(err)
		}
		h, _ := s.Held(ctx, "h1")
		if h.Attempts != 3 || string(h.EnrollSecret) != "sealed" || !h.Verified.Equal(c.Now()) {
			t.Errorf("got attempts %d, secret %q, verified %v", h.Attempts, h.EnrollSecret, h.Verified)
		}
		for name, f := range map[string]func() error{
			"HeldAttempt":       func() error { _, err := s.HeldAttempt(ctx, "x"); return err },
			"SetHeldEnrollment": func() error { return s.SetHeldEnrollment(ctx, "x", nil) },
			"MarkHeldVerified":  func() error { return s.MarkHeldVerified(ctx, "x", c.Now()) },
		} {
			if err := f(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s on unknown id: %v", name, err)
			}
		}
	})

	t.Run("take and delete", func(t *testing.T) {
		c, s := open.fresh(t)
		s.CreateHeld(ctx, newHeld(c, "h1"))
		s.CreateHeld(ctx, newHeld(c, "h2"))
		s.HeldAttempt(ctx, "h1")
		s.SetHeldEnrollment(ctx, "h1", []byte("sealed"))
		s.MarkHeldVerified(ctx, "h1", c.Now())
		h, err := s.TakeHeld(ctx, "h1")
		if err != nil || h.ID != "h1" || h.User != "alice" || h.Session["sessionid"] != "s-h1" ||
			h.Response.Header.Get("Location") != "/account" || string(h.Response.Body) != "body" {
			t.Fatalf("TakeHeld: %+v, %v", h, err)
		}
		// It returns the login as it stands, not as it was created.
		if h.Attempts != 1 || string(h.EnrollSecret) != "sealed" || !h.Verified.Equal(c.Now()) {
			t.Errorf("taken login: attempts %d, secret %q, verified %v", h.Attempts, h.EnrollSecret, h.Verified)
		}
		if _, err := s.TakeHeld(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second take: %v", err)
		}
		if _, err := s.Held(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Held after take: %v", err)
		}
		if err := s.DeleteHeld(ctx, "h2"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Held(ctx, "h2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
		if err := s.DeleteHeld(ctx, "never"); err != nil {
			t.Errorf("deleting an unknown id: %v", err)
		}
		if _, err := s.HeldAttempt(ctx, "h2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("HeldAttempt after delete: %v", err)
		}
		if got, _ := s.PopExpiredHeld(ctx, c.Now().Add(time.Hour), 10); len(got) != 0 {
			t.Errorf("taken or deleted logins popped as expired: %d", len(got))
		}
	})

	t.Run("revocations", func(t *testing.T) {
		c, s := open.fresh(t)
		k1, k2 := [32]byte{1}, [32]byte{2}
		if _, ok := s.RevokedAt(k1); ok {
			t.Fatal("fresh store reports a revocation")
		}
		at := c.Now()
		if err := s.Revoke(ctx, k1, at, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, ok := s.RevokedAt(k1); !ok || !got.Equal(at) {
			t.Errorf("RevokedAt = %v %v, want %v", got, ok, at)
		}
		if _, ok := s.RevokedAt(k2); ok {
			t.Error("another key reported revoked")
		}
		// A later revocation moves the time forward; an earlier one doesn't
		// move it back.
		c.Advance(time.Minute)
		later := c.Now()
		s.Revoke(ctx, k1, later, later.Add(time.Hour))
		s.Revoke(ctx, k1, at, at.Add(time.Hour))
		if got, _ := s.RevokedAt(k1); !got.Equal(later) {
			t.Errorf("RevokedAt after re-revoke = %v, want %v", got, later)
		}
		c.Advance(time.Hour - time.Second)
		if _, ok := s.RevokedAt(k1); !ok {
			t.Error("revocation lapsed before its end")
		}
		c.Advance(2 * time.Second)
		if _, ok := s.RevokedAt(k1); ok {
			t.Error("revocation did not lapse")
		}
	})

	t.Run("concurrent take: exactly one wins", func(t *testing.T) {
		c, s := open.fresh(t)
		s.CreateHeld(ctx, newHeld(c, "h1"))
		results := race(func(int) error { _, err := s.TakeHeld(ctx, "h1"); return err })
		expectOneWinner(t, results, store.ErrNotFound)
	})

	t.Run("concurrent attempts are all counted", func(t *testing.T) {
		c, s := open.fresh(t)
		s.CreateHeld(ctx, newHeld(c, "h1"))
		var mu sync.Mutex
		var counts []int
		errs := race(func(int) error {
			n, err := s.HeldAttempt(ctx, "h1")
			mu.Lock()
			counts = append(counts, n)
			mu.Unlock()
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		sort.Ints(counts)
		for i, n := range counts {
			if n != i+1 {
				t.Fatalf("attempt counts %v, want 1..%d each once", counts, concurrency)
			}
		}
		h, _ := s.Held(ctx, "h1")
		if h.Attempts != concurrency {
			t.Errorf("Attempts = %d, want %d", h.Attempts, concurrency)
		}
	})

	t.Run("pop expired held logins", func(t *testing.T) {
		c, s := open.fresh(t)
		for i := range 5 {
			s.CreateHeld(ctx, newHeld(c, fmt.Sprint("old", i)))
		}
		c.Advance(4 * time.Minute)
		s.CreateHeld(ctx, newHeld(c, "young"))
		if got, err := s.PopExpiredHeld(ctx, c.Now(), 10); err != nil || len(got) != 0 {
			t.Fatalf("nothing expired yet: %d, %v", len(got), err)
		}
		c.Advance(2 * time.Minute)
		first, err := s.PopExpiredHeld(ctx, c.Now(), 3)
		if err != nil || len(first) != 3 {
			t.Fatalf("first pop: %d, %v", len(first), err)
		}
		rest, _ := s.PopExpiredHeld(ctx, c.Now(), 10)
		if len(rest) != 2 {
			t.Fatalf("second pop: %d, want 2", len(rest))
		}
		seen := map[string]bool{}
		for _, h := range append(first, rest...) {
			if seen[h.ID] || h.Session["sessionid"] != "s-"+h.ID {
				t.Errorf("popped %q twice or without its session", h.ID)
			}
			seen[h.ID] = true
		}
		if _, err := s.Held(ctx, "young"); err != nil {
			t.Errorf("unexpired login popped: %v", err)
		}
	})

	t.Run("text-message codes", func(t *testing.T) {
		c, s := open.fresh(t)
		s.CreateHeld(ctx, newHeld(c, "h1"))
		code := bytes.Repeat([]byte{1}, 32)
		wrong := bytes.Repeat([]byte{2}, 32)
		if r, err := s.UseHeldSMS(ctx, "h1", code, c.Now(), 5); err != nil || r != store.SMSExpired {
			t.Fatalf("no code sent yet: %v %v", r, err)
		}
		if err := s.SetHeldSMS(ctx, "h1", "+33612345678", code, c.Now(), c.Now().Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		h, _ := s.Held(ctx, "h1")
		if h.Phone != "+33612345678" || !bytes.Equal(h.SMSHash, code) || !h.SMSSent.Equal(c.Now()) {
			t.Errorf("held after SetHeldSMS: phone %q sent %v", h.Phone, h.SMSSent)
		}
		for range 2 {
			if r, _ := s.UseHeldSMS(ctx, "h1", wrong, c.Now(), 5); r != store.SMSWrong {
				t.Fatalf("wrong code: %v", r)
			}
		}
		if r, _ := s.UseHeldSMS(ctx, "h1", code, c.Now(), 5); r != store.SMSAccepted {
			t.Fatalf("right code: %v", r)
		}
		if r, _ := s.UseHeldSMS(ctx, "h1", code, c.Now(), 5); r != store.SMSExpired {
			t.Fatalf("code used twice: %v", r)
		}
		// A new code resets its attempts; too many attempts exhaust it.
		s.SetHeldSMS(ctx, "h1", "+33612345678", code, c.Now(), c.Now().Add(5*time.Minute))
		for i := 1; i <= 3; i++ {
			s.UseHeldSMS(ctx, "h1", wrong, c.Now(), 3)
		}
		if r, _ := s.UseHeldSMS(ctx, "h1", code, c.Now(), 3); r != store.SMSExhausted {
			t.Fatalf("after the attempt budget: %v", r)
		}
		// Expiry.
		s.SetHeldSMS(ctx, "h1", "+33612345678", code, c.Now(), c.Now().Add(time.Minute))
		c.Advance(time.Minute)
		if r, _ := s.UseHeldSMS(ctx, "h1", code, c.Now(), 5); r != store.SMSExpired {
			t.Fatalf("expired code: %v", r)
		}
		if _, err := s.UseHeldSMS(ctx, "nope", code, c.Now(), 5); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown held login: %v", err)
		}
		// Concurrent: exactly one of 50 right answers wins.
		s.SetHeldSMS(ctx, "h1", "+33612345678", code, c.Now(), c.Now().Add(5*time.Minute))
		wins := 0
		var mu sync.Mutex
		race(func(int) error {
			r, err := s.UseHeldSMS(ctx, "h1", code, c.Now(), 100)
			mu.Lock()
			if r == store.SMSAccepted {
				wins++
			}
			mu.Unlock()
			return err
		})
		if wins != 1 {
			t.Errorf("%d concurrent uses of one code accepted", wins)
		}
	})

	t.Run("released tokens", func(t *testing.T) {
		c, s := open.fresh(t)
		a, b := sha256.Sum256([]byte("r:token-a")), sha256.Sum256([]byte("r:token-b"))
		if _, err := s.Token(ctx, a, c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		if err := s.PutToken(ctx, a, "objA", c.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if u, err := s.Token(ctx, a, c.Now()); err != nil || u != "objA" {
			t.Fatalf("Token = %q, %v; want objA", u, err)
		}
		if _, err := s.Token(ctx, b, c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another token found: %v", err)
		}
		// Putting again replaces the user and the lifetime.
		if err := s.PutToken(ctx, a, "objA2", c.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		c.Advance(90 * time.Minute)
		if u, err := s.Token(ctx, a, c.Now()); err != nil || u != "objA2" {
			t.Fatalf("after re-put: %q, %v", u, err)
		}
		c.Advance(30 * time.Minute)
		if _, err := s.Token(ctx, a, c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token outlived its session: %v", err)
		}
		s.PutToken(ctx, b, "objB", c.Now().Add(time.Hour))
		if err := s.DeleteToken(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Token(ctx, b, c.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted token found: %v", err)
		}
		if err := s.DeleteToken(ctx, b); err != nil {
			t.Errorf("deleting an unknown token: %v", err)
		}
	})

	t.Run("held kind round trip", func(t *testing.T) {
		c, s := open.fresh(t)
		h := newHeld(c, "hp")
		h.Kind = store.KindParse
		if err := s.CreateHeld(ctx, h); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Held(ctx, "hp"); err != nil || got.Kind != store.KindParse {
			t.Fatalf("Kind = %q, %v", got.Kind, err)
		}
		if got, err := s.TakeHeld(ctx, "hp"); err != nil || got.Kind != store.KindParse {
			t.Fatalf("taken Kind = %q, %v", got.Kind, err)
		}
	})

	t.Run("counters", func(t *testing.T) {
		c, s := open.fresh(t)
		for want := 1; want <= 3; want++ {
			if n, err := s.Hit(ctx, "user:alice", c.Now(), time.Minute); err != nil || n != want {
				t.Fatalf("hit %d: %d, %v", want, n, err)
			}
		}
		if n, _ := s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute); n != 1 {
			t.Errorf("keys share a count: %d", n)
		}
		c.Advance(time.Minute)
		if n, _ := s.Hit(ctx, "user:alice", c.Now(), time.Minute); n != 1 {
			t.Errorf("new window starts at %d, want 1", n)
		}
		s.Hit(ctx, "user:alice", c.Now(), time.Minute)
		s.ResetHits(ctx, "user:alice")
		if n, _ := s.Hit(ctx, "user:alice", c.Now(), time.Minute); n != 1 {
			t.Errorf("after reset: %d, want 1", n)
		}
		if _, banned, err := s.BannedUntil(ctx, "user:alice", c.Now()); banned || err != nil {
			t.Fatalf("banned before any ban: %v", err)
		}
		until := c.Now().Add(10 * time.Minute)
		s.Ban(ctx, "user:alice", until)
		s.Ban(ctx, "user:alice", c.Now().Add(time.Minute)) // doesn't shorten
		if got, banned, _ := s.BannedUntil(ctx, "user:alice", c.Now()); !banned || !got.Equal(until) {
			t.Errorf("ban = %v %v, want until %v", got, banned, until)
		}
		if _, banned, _ := s.BannedUntil(ctx, "user:bob", c.Now()); banned {
			t.Error("another key banned")
		}
		c.Advance(10 * time.Minute)
		if _, banned, _ := s.BannedUntil(ctx, "user:alice", c.Now()); banned {
			t.Error("ban did not end")
		}
		// An administrator's unlock lifts a ban and its count at once.
		s.Ban(ctx, "user:bob", c.Now().Add(time.Hour))
		s.Hit(ctx, "user:bob", c.Now(), time.Hour)
		if err := s.Unban(ctx, "user:bob"); err != nil {
			t.Fatal(err)
		}
		if _, banned, _ := s.BannedUntil(ctx, "user:bob", c.Now()); banned {
			t.Error("still banned after Unban")
		}
		if n, _ := s.Hit(ctx, "user:bob", c.Now(), time.Hour); n != 1 {
			t.Errorf("count after Unban: %d, want 1", n)
		}
	})

	t.Run("concurrent hits are all counted", func(t *testing.T) {
		c, s := open.fresh(t)
		var mu sync.Mutex
		var counts []int
		race(func(int) error {
			n, err := s.Hit(ctx, "user:alice", c.Now(), time.Minute)
			mu.Lock()
			counts = append(counts, n)
			mu.Unlock()
			return err
		})
		sort.Ints(counts)
		for i, n := range counts {
			if n != i+1 {
				t.Fatalf("hit counts %v, want 1..%d each once", counts, concurrency)
			}
		}
	})

	t.Run("reserve", func(t *testing.T) {
		c, s := open.fresh(t)
		until := c.Now().Add(30 * time.Second)
		if got, ok, err := s.Reserve(ctx, "sms-cooldown:alice", c.Now(), until); err != nil || !ok || !got.Equal(until) {
			t.Fatalf("first reserve: %v %v %v", got, ok, err)
		}
		if got, banned, _ := s.BannedUntil(ctx, "sms-cooldown:alice", c.Now()); !banned || !got.Equal(until) {
			t.Errorf("reservation is no ban: %v %v", got, banned)
		}
		c.Advance(10 * time.Second)
		if got, ok, err := s.Reserve(ctx, "sms-cooldown:alice", c.Now(), c.Now().Add(time.Hour)); err != nil || ok || !got.Equal(until) {
			t.Errorf("reserve while reserved: %v %v %v, want the first end and false", got, ok, err)
		}
		if ok, _ := reserveOK(s, "sms-cooldown:bob", c.Now(), c.Now().Add(time.Second)); !ok {
			t.Error("another key is reserved")
		}
		// Released (a failed send): free again at once.
		s.Unban(ctx, "sms-cooldown:alice")
		if ok, err := reserveOK(s, "sms-cooldown:alice", c.Now(), c.Now().Add(5*time.Second)); !ok || err != nil {
			t.Errorf("reserve after release: %v %v", ok, err)
		}
		// Ended: free again.
		c.Advance(5 * time.Second)
		if ok, _ := reserveOK(s, "sms-cooldown:alice", c.Now(), c.Now().Add(time.Minute)); !ok {
			t.Error("reserve after the reservation ended")
		}
	})

	t.Run("concurrent reserve: exactly one wins", func(t *testing.T) {
		c, s := open.fresh(t)
		errs := race(func(int) error {
			ok, err := reserveOK(s, "sms-cooldown:alice", c.Now(), c.Now().Add(time.Minute))
			if err == nil && !ok {
				return store.ErrExists
			}
			return err
		})
		expectOneWinner(t, errs, store.ErrExists)
	})
	counterExtras(t, open)

	t.Run("many held logins", func(t *testing.T) {
		c, s := open.fresh(t)
		for i := range 1000 {
			if err := s.CreateHeld(ctx, newHeld(c, fmt.Sprint("h", i))); err != nil {
				t.Fatal(err)
			}
		}
		c.Advance(10 * time.Minute)
		// Expired ones are gone whatever the implementation's sweeping.
		for i := range 1000 {
			if _, err := s.Held(ctx, fmt.Sprint("h", i)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("h%d after expiry: %v", i, err)
			}
		}
	})
}

func reserveOK(s store.Counters, key string, at, until time.Time) (bool, error) {
	_, ok, err := s.Reserve(context.Background(), key, at, until)
	return ok, err
}

// OpenDurable returns a fresh, empty durable store on the clock now.
type OpenDurable func(t *testing.T, now func() time.Time) store.Durable

// OpenEphemeral returns a fresh, empty ephemeral store on the clock now.
type OpenEphemeral func(t *testing.T, now func() time.Time) store.Ephemeral

// fresh opens an empty store on a new clock.
func (open OpenDurable) fresh(t *testing.T) (*Clock, store.Durable) {
	c := NewClock()
	return c, open(t, c.Now)
}

func (open OpenEphemeral) fresh(t *testing.T) (*Clock, store.Ephemeral) {
	c := NewClock()
	return c, open(t, c.Now)
}

// counterExtras checks taking back a count and listing bans.
func counterExtras(t *testing.T, open OpenEphemeral) {
	ctx := context.Background()

	t.Run("unhit takes back one count of the current window", func(t *testing.T) {
		c, s := open.fresh(t)
		if err := s.Unhit(ctx, "ip:192.0.2.1", c.Now()); err != nil {
			t.Fatalf("unhit of an unknown key: %v", err)
		}
		s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute)
		s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute)
		s.Hit(ctx, "ip:192.0.2.2", c.Now(), time.Minute)
		if err := s.Unhit(ctx, "ip:192.0.2.1", c.Now()); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute); n != 2 {
			t.Errorf("hit, hit, unhit, hit = %d, want 2", n)
		}
		// Another key keeps its count.
		if n, _ := s.Hit(ctx, "ip:192.0.2.2", c.Now(), time.Minute); n != 2 {
			t.Errorf("another key after the unhit: %d, want 2", n)
		}
		// Never below zero.
		for range 5 {
			s.Unhit(ctx, "ip:192.0.2.1", c.Now())
		}
		if n, _ := s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute); n != 1 {
			t.Errorf("after more unhits than hits: %d, want 1", n)
		}
		// A window that ended is not touched, and the next hit starts anew.
		c.Advance(2 * time.Minute)
		s.Unhit(ctx, "ip:192.0.2.1", c.Now())
		if n, _ := s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute); n != 1 {
			t.Errorf("first hit of a new window: %d, want 1", n)
		}
	})

	t.Run("bans listed by prefix while in force", func(t *testing.T) {
		c, s := open.fresh(t)
		if l, err := s.Bans(ctx, "ip:", c.Now()); err != nil || len(l) != 0 {
			t.Fatalf("no bans: %v %v", l, err)
		}
		long, short := c.Now().Add(time.Hour), c.Now().Add(time.Minute)
		s.Ban(ctx, "ip:2001:db8::1", long)
		s.Ban(ctx, "ip:192.0.2.1", short)
		s.Ban(ctx, "user:alice", long)
		s.Ban(ctx, "user:a*[b]", long) // glob characters are not patterns
		l, err := s.Bans(ctx, "ip:", c.Now())
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Ban{{Key: "ip:192.0.2.1", Until: short}, {Key: "ip:2001:db8::1", Until: long}}
		if len(l) != len(want) {
			t.Fatalf("ip bans = %v, want %v", l, want)
		}
		for i := range want {
			if l[i].Key != want[i].Key || !l[i].Until.Equal(want[i].Until) {
				t.Errorf("ban %d = %v, want %v", i, l[i], want[i])
			}
		}
		if l, _ := s.Bans(ctx, "user:a*", c.Now()); len(l) != 1 || l[0].Key != "user:a*[b]" {
			t.Errorf("prefix with glob characters: %v", l)
		}
		c.Advance(2 * time.Minute)
		if l, _ := s.Bans(ctx, "ip:", c.Now()); len(l) != 1 || l[0].Key != "ip:2001:db8::1" {
			t.Errorf("after the short ban ended: %v", l)
		}
		s.Unban(ctx, "ip:2001:db8::1")
		if l, _ := s.Bans(ctx, "ip:", c.Now()); len(l) != 0 {
			t.Errorf("after unban: %v", l)
		}
	})
}
