// Package revoked is the in-process view of revoked app sessions that every
// ephemeral store keeps for the hot path (store.Revocations): a map from
// binding key to when it was revoked and until when that holds, answered
// under a read lock without a round trip. The memory, Redis and SQLite
// stores feed it from their own writes (and Redis from pub/sub, SQLite
// from re-reading the file); the gateway keeps the revocations a store
// refused in one too.
//
// One pruning policy for all: lapsed entries are swept every SweepEvery
// additions and whenever the owner calls Prune (after a reload).
package revoked

import (
	"sync"
	"sync/atomic"
	"time"
)

// SweepEvery is how many additions pass between sweeps of lapsed entries.
const SweepEvery = 256

// Revocation is one app session's revocation: gate cookies issued before
// At are void until Until.
type Revocation struct{ At, Until time.Time }

// View is the in-process set of revocations. The zero value is not usable;
// call New.
type View struct {
	now func() time.Time

	n      atomic.Int64 // len(m), for a lock-free "none" on the hot path
	mu     sync.RWMutex
	m      map[[32]byte]Revocation
	writes int
}

// New returns an empty view on the clock now (nil: time.Now).
func New(now func() time.Time) *View {
	if now == nil {
		now = time.Now
	}
	return &View{now: now, m: map[[32]byte]Revocation{}}
}

// Add merges a revocation of key: the later At and the later Until win,
// so revocations arriving in any order (pub/sub, reloads) agree.
func (v *View) Add(key [32]byte, at, until time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if old, had := v.m[key]; had {
		if old.At.After(at) {
			at = old.At
		}
		if old.Until.After(until) {
			until = old.Until
		}
	}
	v.m[key] = Revocation{At: at, Until: until}
	v.writes++
	if v.writes%SweepEvery == 0 {
		v.prune(v.now())
	}
	v.n.Store(int64(len(v.m)))
}

// RevokedAt returns when key was last revoked, and false when it never was
// or the revocation has lapsed.
func (v *View) RevokedAt(key [32]byte) (time.Time, bool) {
	if v.n.Load() == 0 {
		return time.Time{}, false
	}
	v.mu.RLock()
	r, ok := v.m[key]
	v.mu.RUnlock()
	if !ok || !v.now().Before(r.Until) {
		return time.Time{}, false
	}
	return r.At, true
}

// Prune drops the revocations lapsed now.
func (v *View) Prune() {
	v.mu.Lock()
	v.prune(v.now())
	v.n.Store(int64(len(v.m)))
	v.mu.Unlock()
}

func (v *View) prune(now time.Time) {
	for k, r := range v.m {
		if !now.Before(r.Until) {
			delete(v.m, k)
		}
	}
}

// Len reports how many revocations are kept (lapsed ones not yet swept
// included).
func (v *View) Len() int { return int(v.n.Load()) }

// All returns a copy of the kept revocations.
func (v *View) All() map[[32]byte]Revocation {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make(map[[32]byte]Revocation, len(v.m))
	for k, r := range v.m {
		out[k] = r
	}
	return out
}

// Forget drops key's revocation if it is still r (nothing later was
// merged in since it was read with All).
func (v *View) Forget(key [32]byte, r Revocation) {
	v.mu.Lock()
	if cur, ok := v.m[key]; ok && !cur.At.After(r.At) && !cur.Until.After(r.Until) {
		delete(v.m, key)
	}
	v.n.Store(int64(len(v.m)))
	v.mu.Unlock()
}
