package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/revoked"
)

// boundedEphemeral is the ephemeral store as the request paths see it.
//
// Every call gets at most timeout (store.timeout): a hung Redis or a locked
// SQLite file answers a quick 503 instead of holding each login for the
// client library's own timeouts.
//
// A revocation the store does not take (an outage) is kept here: it applies
// on this replica at once, through RevokedAt, and is retried in the
// background until the store takes it, from where the other replicas learn
// it. A logout during an outage therefore still ends the session here, and
// everywhere once the store is back.
//
// Methods added to store.Ephemeral later pass through unbounded until they
// are listed here.
type boundedEphemeral struct {
	store.Ephemeral
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger

	// pending are the revocations the store did not take yet.
	pending *revoked.View
}

func newBoundedEphemeral(e store.Ephemeral, timeout time.Duration, now func() time.Time, log *slog.Logger) *boundedEphemeral {
	if timeout <= 0 {
		timeout = time.Second
	}
	return &boundedEphemeral{Ephemeral: e, timeout: timeout, now: now, log: log, pending: revoked.New(now)}
}

// within calls f with ctx bounded by timeout.
func within[T any](ctx context.Context, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f(ctx)
}

// done is within for calls that return only an error.
func done(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	_, err := within(ctx, timeout, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

func (b *boundedEphemeral) CreateHeld(ctx context.Context, h *store.Held) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.CreateHeld(ctx, h) })
}

func (b *boundedEphemeral) Held(ctx context.Context, id string) (*store.Held, error) {
	return within(ctx, b.timeout, func(ctx context.Context) (*store.Held, error) { return b.Ephemeral.Held(ctx, id) })
}

func (b *boundedEphemeral) HeldAttempt(ctx context.Context, id string) (int, error) {
	return within(ctx, b.timeout, func(ctx context.Context) (int, error) { return b.Ephemeral.HeldAttempt(ctx, id) })
}

func (b *boundedEphemeral) SetHeldEnrollment(ctx context.Context, id string, sealed []byte) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.SetHeldEnrollment(ctx, id, sealed) })
}

func (b *boundedEphemeral) MarkHeldVerified(ctx context.Context, id string, at time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.MarkHeldVerified(ctx, id, at) })
}

func (b *boundedEphemeral) SetHeldSMS(ctx context.Context, id, phone string, hash []byte, sentAt, expires time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.SetHeldSMS(ctx, id, phone, hash, sentAt, expires) })
}

func (b *boundedEphemeral) UseHeldSMS(ctx context.Context, id string, hash []byte, at time.Time, maxAttempts int) (store.SMSResult, error) {
	return within(ctx, b.timeout, func(ctx context.Context) (store.SMSResult, error) {
		return b.Ephemeral.UseHeldSMS(ctx, id, hash, at, maxAttempts)
	})
}

func (b *boundedEphemeral) TakeHeld(ctx context.Context, id string) (*store.Held, error) {
	return within(ctx, b.timeout, func(ctx context.Context) (*store.Held, error) { return b.Ephemeral.TakeHeld(ctx, id) })
}

func (b *boundedEphemeral) PopExpiredHeld(ctx context.Context, at time.Time, max int) ([]*store.Held, error) {
	return within(ctx, b.timeout, func(ctx context.Context) ([]*store.Held, error) { return b.Ephemeral.PopExpiredHeld(ctx, at, max) })
}

func (b *boundedEphemeral) DeleteHeld(ctx context.Context, id string) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.DeleteHeld(ctx, id) })
}

func (b *boundedEphemeral) Hit(ctx context.Context, key string, at time.Time, window time.Duration) (int, error) {
	return within(ctx, b.timeout, func(ctx context.Context) (int, error) { return b.Ephemeral.Hit(ctx, key, at, window) })
}

func (b *boundedEphemeral) Unhit(ctx context.Context, key string, at time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.Unhit(ctx, key, at) })
}

func (b *boundedEphemeral) ResetHits(ctx context.Context, key string) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.ResetHits(ctx, key) })
}

func (b *boundedEphemeral) Ban(ctx context.Context, key string, until time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.Ban(ctx, key, until) })
}

func (b *boundedEphemeral) BannedUntil(ctx context.Context, key string, at time.Time) (time.Time, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.Ephemeral.BannedUntil(ctx, key, at)
}

func (b *boundedEphemeral) PutToken(ctx context.Context, hash [32]byte, user string, until time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.PutToken(ctx, hash, user, until) })
}

func (b *boundedEphemeral) Token(ctx context.Context, hash [32]byte, at time.Time) (string, error) {
	return within(ctx, b.timeout, func(ctx context.Context) (string, error) { return b.Ephemeral.Token(ctx, hash, at) })
}

func (b *boundedEphemeral) DeleteToken(ctx context.Context, hash [32]byte) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.DeleteToken(ctx, hash) })
}

// Revoke records a revocation. When the store does not take it, it is kept
// here (in force on this replica at once) and retried by RetryRevocations;
// Revoke then reports success, as the revocation does hold.
func (b *boundedEphemeral) Revoke(ctx context.Context, key [32]byte, at, until time.Time) error {
	err := done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.Revoke(ctx, key, at, until) })
	if err == nil {
		return nil
	}
	b.pending.Add(key, at, until)
	n := b.pending.Len()
	b.log.WarnContext(ctx, "the store did not take a revocation: in force on this replica, retried until the store takes it",
		"event", "revocation_pending", "pending", n, "err", err)
	return nil
}

// RevokedAt answers from the store's in-process view and the revocations
// still waiting for the store: no round trip.
func (b *boundedEphemeral) RevokedAt(key [32]byte) (time.Time, bool) {
	at, ok := b.Ephemeral.RevokedAt(key)
	if p, had := b.pending.RevokedAt(key); had && (!ok || p.After(at)) {
		return p, true
	}
	return at, ok
}

// RetryRevocations offers the pending revocations to the store again and
// returns how many are still pending. Lapsed ones are dropped.
func (b *boundedEphemeral) RetryRevocations(ctx context.Context) int {
	if b.pending.Len() == 0 {
		return 0
	}
	now := b.now()
	stored := 0
	for k, p := range b.pending.All() {
		if now.Before(p.Until) {
			err := done(ctx, b.timeout, func(ctx context.Context) error { return b.Ephemeral.Revoke(ctx, k, p.At, p.Until) })
			if err != nil {
				break // still out; try again later
			}
		}
		b.pending.Forget(k, p) // unless revoked again meanwhile
		stored++
	}
	left := b.pending.Len()
	if stored > 0 {
		b.log.InfoContext(ctx, "pending revocations handed to the store", "event", "revocation_stored", "stored", stored, "pending", left)
	}
	return left
}

// boundedDurable bounds every durable-store call made while serving, and
// makes every new enrollment end the user's earlier gate sessions.
type boundedDurable struct {
	store.Durable
	timeout time.Duration
	// enrolled, if set, is told of each stored enrollment (see
	// Server.endSessions): whatever flow enrolled the user (TOTP, text
	// messages, Parse, an invitation), sessions that passed an earlier
	// factor end.
	enrolled func(ctx context.Context, user string)
}

func (b *boundedDurable) Enrollment(ctx context.Context, user string) (store.Enrollment, error) {
	return within(ctx, b.timeout, func(ctx context.Context) (store.Enrollment, error) { return b.Durable.Enrollment(ctx, user) })
}

func (b *boundedDurable) Enroll(ctx context.Context, e store.Enrollment) error {
	err := done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.Enroll(ctx, e) })
	if err == nil && b.enrolled != nil {
		b.enrolled(ctx, e.User)
	}
	return err
}

func (b *boundedDurable) EnrollNew(ctx context.Context, e store.Enrollment) error {
	err := done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.EnrollNew(ctx, e) })
	if err == nil && b.enrolled != nil {
		b.enrolled(ctx, e.User)
	}
	return err
}

func (b *boundedDurable) UseTOTPStep(ctx context.Context, user string, step int64, at time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.UseTOTPStep(ctx, user, step, at) })
}

func (b *boundedDurable) UseRecoveryCode(ctx context.Context, user string, hash []byte, at time.Time) (int, error) {
	return within(ctx, b.timeout, func(ctx context.Context) (int, error) { return b.Durable.UseRecoveryCode(ctx, user, hash, at) })
}

func (b *boundedDurable) SetPhone(ctx context.Context, user, phone string, at time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.SetPhone(ctx, user, phone, at) })
}

func (b *boundedDurable) RevokeDevices(ctx context.Context, user string, at time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.RevokeDevices(ctx, user, at) })
}

func (b *boundedDurable) ReplaceRecoveryCodes(ctx context.Context, user string, hashes [][]byte) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.ReplaceRecoveryCodes(ctx, user, hashes) })
}

func (b *boundedDurable) SetTOTP(ctx context.Context, user string, sealedSecret []byte, at time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.SetTOTP(ctx, user, sealedSecret, at) })
}

func (b *boundedDurable) RemoveTOTP(ctx context.Context, user string) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.RemoveTOTP(ctx, user) })
}

func (b *boundedDurable) RemovePhone(ctx context.Context, user string) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.RemovePhone(ctx, user) })
}

func (b *boundedDurable) AddPasskey(ctx context.Context, p store.Passkey) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.AddPasskey(ctx, p) })
}

func (b *boundedDurable) Passkeys(ctx context.Context, user string) ([]store.Passkey, error) {
	return within(ctx, b.timeout, func(ctx context.Context) ([]store.Passkey, error) { return b.Durable.Passkeys(ctx, user) })
}

func (b *boundedDurable) PasskeyByID(ctx context.Context, id []byte) (store.Passkey, error) {
	return within(ctx, b.timeout, func(ctx context.Context) (store.Passkey, error) { return b.Durable.PasskeyByID(ctx, id) })
}

func (b *boundedDurable) UsePasskey(ctx context.Context, user string, id []byte, signCount uint32, backupState bool, at time.Time) error {
	return done(ctx, b.timeout, func(ctx context.Context) error {
		return b.Durable.UsePasskey(ctx, user, id, signCount, backupState, at)
	})
}

func (b *boundedDurable) RenamePasskey(ctx context.Context, user string, id []byte, name string) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.RenamePasskey(ctx, user, id, name) })
}

func (b *boundedDurable) DeletePasskey(ctx context.Context, user string, id []byte) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.DeletePasskey(ctx, user, id) })
}

func (b *boundedDurable) AddSignIn(ctx context.Context, in store.SignIn) error {
	return done(ctx, b.timeout, func(ctx context.Context) error { return b.Durable.AddSignIn(ctx, in) })
}

func (b *boundedDurable) SignIns(ctx context.Context, user string, limit int) ([]store.SignIn, error) {
	return within(ctx, b.timeout, func(ctx context.Context) ([]store.SignIn, error) { return b.Durable.SignIns(ctx, user, limit) })
}

var (
	_ store.Ephemeral = (*boundedEphemeral)(nil)
	_ store.Durable   = (*boundedDurable)(nil)
)

// revocationSync is how often pending revocations are retried and, on
// SQLite, revocations written by other processes are read.
const revocationSync = 2 * time.Second

// syncRevocations retries revocations the store did not take and, on the
// SQLite ephemeral store, merges revocations another process wrote into
// the in-process view (an administrator's `users reset` or `devices
// revoke`). Redis delivers those by pub/sub instead.
func (s *Server) syncRevocations(ctx context.Context) {
	s.bounded.RetryRevocations(ctx)
	// The store under its wrappers (sealing) is the one that can reload.
	var rl interface {
		ReloadRevocations(ctx context.Context, since time.Time) error
	}
	for e := s.ephemeral; e != nil; {
		if r, ok := e.(interface {
			ReloadRevocations(ctx context.Context, since time.Time) error
		}); ok {
			rl = r
			break
		}
		u, ok := e.(interface{ Unwrap() store.Ephemeral })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if rl == nil {
		return
	}
	now := s.now()
	// Overlap the windows: a row is written a moment after its time.
	since := s.revSyncedAt.Add(-time.Minute)
	ctx, cancel := context.WithTimeout(ctx, s.bounded.timeout)
	defer cancel()
	if err := rl.ReloadRevocations(ctx, since); err != nil {
		s.log.WarnContext(ctx, "reading revocations from the store", "event", "store_error", "err", err)
		return
	}
	s.revSyncedAt = now
}

// SeeDevice, Devices and RevokeDevice pass the device log through,
// bounded, when the durable store keeps one (store.DeviceLog); without one
// nothing is kept and there is nothing to forget.
func (b *boundedDurable) SeeDevice(ctx context.Context, d store.Device) error {
	dl, ok := b.Durable.(store.DeviceLog)
	if !ok {
		return nil
	}
	return done(ctx, b.timeout, func(ctx context.Context) error { return dl.SeeDevice(ctx, d) })
}

func (b *boundedDurable) Devices(ctx context.Context, user string) ([]store.Device, error) {
	dl, ok := b.Durable.(store.DeviceLog)
	if !ok {
		return nil, nil
	}
	return within(ctx, b.timeout, func(ctx context.Context) ([]store.Device, error) { return dl.Devices(ctx, user) })
}

func (b *boundedDurable) RevokeDevice(ctx context.Context, user, id string) error {
	dl, ok := b.Durable.(store.DeviceLog)
	if !ok {
		return store.ErrNotFound
	}
	return done(ctx, b.timeout, func(ctx context.Context) error { return dl.RevokeDevice(ctx, user, id) })
}

// endSessions ends every gate session of user issued until now, on every
// replica (gate.UserKey): called for a new enrollment. The release that
// follows issues its gate cookie at or after now, so it stays valid. A
// revocation the store refuses is kept and retried (boundedEphemeral).
func (s *Server) endSessions(ctx context.Context, user string) {
	now := s.now()
	if err := s.bounded.Revoke(ctx, gate.UserKey(user), now, now.Add(s.cfg.Gate.MaxAge)); err != nil {
		s.log.ErrorContext(ctx, "ending earlier sessions of a newly enrolled user", "event", "store_error", "user", user, "err", err)
		return
	}
	s.log.InfoContext(ctx, "earlier sessions of the user ended", "event", "sessions_revoked", "user", user, "reason", "enrollment")
}
