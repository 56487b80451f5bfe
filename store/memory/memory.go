package memory

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/revoked"
)

// sweepEvery is how many writes pass between sweeps of expired entries.
const sweepEvery = 256

// Store is an in-memory store.Ephemeral.
type Store struct {
	now func() time.Time

	mu     sync.Mutex
	held   map[string]*store.Held
	writes int

	// rev is the revocations: this store's only copy of them.
	rev *revoked.View

	cmu     sync.Mutex
	hits    map[string]window
	bans    map[string]time.Time
	cwrites int

	tmu    sync.Mutex
	tokens map[[32]byte]token
}

type token struct {
	user  string
	until time.Time
}

type window struct {
	n   int
	end time.Time
}

var _ store.Ephemeral = (*Store)(nil)

// New returns an empty store on the clock now (nil: time.Now).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, held: map[string]*store.Held{}, rev: revoked.New(now),
		hits: map[string]window{}, bans: map[string]time.Time{}, tokens: map[[32]byte]token{}}
}

func clone(h *store.Held) *store.Held {
	c := *h
	c.Session = maps.Clone(h.Session)
	c.Response.Header = h.Response.Header.Clone()
	if c.Response.Header == nil {
		c.Response.Header = http.Header{}
	}
	c.Response.Body = append([]byte(nil), h.Response.Body...)
	c.EnrollSecret = append([]byte(nil), h.EnrollSecret...)
	c.SMSHash = append([]byte(nil), h.SMSHash...)
	return &c
}

// live returns the held login if present and unexpired; call with mu held.
func (s *Store) live(id string) (*store.Held, bool) {
	h, ok := s.held[id]
	if !ok {
		return nil, false
	}
	if !s.now().Before(h.Expires) {
		return nil, false // kept for PopExpiredHeld until swept
	}
	return h, true
}

func (s *Store) wrote() {
	s.writes++
	if s.writes%sweepEvery != 0 {
		return
	}
	// Expired logins wait a while for PopExpiredHeld (which may log them
	// out at the app); past that they are dropped so memory stays bounded.
	cutoff := s.now().Add(-keepExpired)
	for id, h := range s.held {
		if !cutoff.Before(h.Expires) {
			delete(s.held, id)
		}
	}
}

// keepExpired is how long an expired held login stays for PopExpiredHeld.
const keepExpired = 10 * time.Minute

// PopExpiredHeld removes and returns up to max held logins expired at at.
func (s *Store) PopExpiredHeld(_ context.Context, at time.Time, max int) ([]*store.Held, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Held
	for id, h := range s.held {
		if len(out) >= max {
			break
		}
		if !at.Before(h.Expires) {
			out = append(out, h)
			delete(s.held, id)
		}
	}
	return out, nil
}

// Hit counts an event for key in its current fixed window.
func (s *Store) Hit(_ context.Context, key string, at time.Time, win time.Duration) (int, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	w := s.hits[key]
	if !at.Before(w.end) {
		w = window{end: at.Add(win)}
	}
	w.n++
	s.hits[key] = w
	s.cwrites++
	if s.cwrites%sweepEvery == 0 {
		for k, w := range s.hits {
			if !at.Before(w.end) {
				delete(s.hits, k)
			}
		}
		for k, until := range s.bans {
			if !at.Before(until) {
				delete(s.bans, k)
			}
		}
	}
	return w.n, nil
}

// Reserve bans key until until unless it is banned at at.
func (s *Store) Reserve(_ context.Context, key string, at, until time.Time) (time.Time, bool, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if cur, ok := s.bans[key]; ok && at.Before(cur) {
		return cur, false, nil
	}
	s.bans[key] = until
	return until, true, nil
}

// ResetHits forgets key's count.
func (s *Store) ResetHits(_ context.Context, key string) error {
	s.cmu.Lock()
	delete(s.hits, key)
	s.cmu.Unlock()
	return nil
}

// Ban bans key until until, never shortening a ban.
func (s *Store) Ban(_ context.Context, key string, until time.Time) error {
	s.cmu.Lock()
	if until.After(s.bans[key]) {
		s.bans[key] = until
	}
	s.cmu.Unlock()
	return nil
}

// BannedUntil reports key's ban at at.
func (s *Store) BannedUntil(_ context.Context, key string, at time.Time) (time.Time, bool, error) {
	s.cmu.Lock()
	until, ok := s.bans[key]
	s.cmu.Unlock()
	if !ok || !at.Before(until) {
		return time.Time{}, false, nil
	}
	return until, true, nil
}

func (s *Store) CreateHeld(_ context.Context, h *store.Held) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held[h.ID] = clone(h)
	s.wrote()
	return nil
}

func (s *Store) Held(_ context.Context, id string) (*store.Held, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.live(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	return clone(h), nil
}

func (s *Store) HeldAttempt(_ context.Context, id string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.live(id)
	if !ok {
		return 0, store.ErrNotFound
	}
	h.Attempts++
	return h.Attempts, nil
}

func (s *Store) SetHeldEnrollment(_ context.Context, id string, sealed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.live(id)
	if !ok {
		return store.ErrNotFound
	}
	h.EnrollSecret = append([]byte(nil), sealed...)
	return nil
}

func (s *Store) MarkHeldVerified(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.live(id)
	if !ok {
		return store.ErrNotFound
	}
	h.Verified = at
	return nil
}

func (s *Store) TakeHeld(_ context.Context, id string) (*store.Held, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.live(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	delete(s.held, id)
	return h, nil
}

func (s *Store) DeleteHeld(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, id)
	return nil
}

// Revoke records a revocation in the view (see revoked.View.Add).
func (s *Store) Revoke(_ context.Context, key [32]byte, at, until time.Time) error {
	s.rev.Add(key, at, until)
	return nil
}

// RevokedAt is on the hot path: a read lock and a map lookup.
func (s *Store) RevokedAt(key [32]byte) (time.Time, bool) { return s.rev.RevokedAt(key) }

// Len reports how many held logins and revocations are kept (tests, metrics).
func (s *Store) Len() (held, revocations int) {
	s.mu.Lock()
	held = len(s.held)
	s.mu.Unlock()
	return held, s.rev.Len()
}

// Dump writes everything the store holds (held logins with every field,
// counter and ban keys, token hashes) as JSON: the memory store's "raw
// rows", for tests of what is kept at rest, and for debugging.
func (s *Store) Dump(w io.Writer) error {
	s.mu.Lock()
	held := make([]*store.Held, 0, len(s.held))
	for _, h := range s.held {
		held = append(held, clone(h))
	}
	s.mu.Unlock()
	s.cmu.Lock()
	hits, bans := map[string]int{}, map[string]time.Time{}
	for k, w := range s.hits {
		hits[k] = w.n
	}
	maps.Copy(bans, s.bans)
	s.cmu.Unlock()
	s.tmu.Lock()
	tokens := map[string]string{}
	for k, t := range s.tokens {
		tokens[hex.EncodeToString(k[:])] = t.user
	}
	s.tmu.Unlock()
	return json.NewEncoder(w).Encode(map[string]any{"held": held, "hits": hits, "bans": bans, "tokens": tokens})
}

func (s *Store) Ping(context.Context) error { return nil }
func (s *Store) Close() error               { return nil }

// SetHeldSMS stores a new text-message code's hash on the held login.
func (s *Store) SetHeldSMS(_ context.Context, id, phone string, hash []byte, sentAt, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.live(id)
	if !ok {
		return store.ErrNotFound
	}
	h.Phone, h.SMSHash, h.SMSSent, h.SMSExpires, h.SMSAttempts = phone, append([]byte(nil), hash...), sentAt, expires, 0
	return nil
}

// UseHeldSMS checks and consumes a text-message code atomically.
func (s *Store) UseHeldSMS(_ context.Context, id string, hash []byte, at time.Time, maxAttempts int) (store.SMSResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.live(id)
	if !ok {
		return store.SMSExpired, store.ErrNotFound
	}
	if len(h.SMSHash) == 0 || !at.Before(h.SMSExpires) {
		return store.SMSExpired, nil
	}
	h.SMSAttempts++
	if h.SMSAttempts > maxAttempts {
		return store.SMSExhausted, nil
	}
	if subtle.ConstantTimeCompare(h.SMSHash, hash) != 1 {
		return store.SMSWrong, nil
	}
	h.SMSHash = nil
	return store.SMSAccepted, nil
}

// HeldCount reports the held logins waiting now (metrics).
func (s *Store) HeldCount(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, n := s.now(), 0
	for _, h := range s.held {
		if now.Before(h.Expires) {
			n++
		}
	}
	return n, nil
}

// Unban lifts key's ban and forgets its count.
func (s *Store) Unban(_ context.Context, key string) error {
	s.cmu.Lock()
	delete(s.bans, key)
	delete(s.hits, key)
	s.cmu.Unlock()
	return nil
}

// PutToken records a released token's hash. Lapsed tokens are dropped
// every sweepEvery puts.
func (s *Store) PutToken(_ context.Context, hash [32]byte, user string, until time.Time) error {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	s.tokens[hash] = token{user, until}
	if len(s.tokens)%sweepEvery == 0 {
		now := s.now()
		for k, t := range s.tokens {
			if !now.Before(t.until) {
				delete(s.tokens, k)
			}
		}
	}
	return nil
}

// Token returns the user of a live released token.
func (s *Store) Token(_ context.Context, hash [32]byte, at time.Time) (string, error) {
	s.tmu.Lock()
	t, ok := s.tokens[hash]
	s.tmu.Unlock()
	if !ok || !at.Before(t.until) {
		return "", store.ErrNotFound
	}
	return t.user, nil
}

// DeleteToken forgets a token.
func (s *Store) DeleteToken(_ context.Context, hash [32]byte) error {
	s.tmu.Lock()
	delete(s.tokens, hash)
	s.tmu.Unlock()
	return nil
}
