package held

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/config/defaults"
	"github.com/vestibule-gw/vestibule/store"
)

// Store is what Logins needs of the ephemeral store.
type Store interface {
	CreateHeld(ctx context.Context, h *store.Held) error
	Held(ctx context.Context, id string) (*store.Held, error)
	TakeHeld(ctx context.Context, id string) (*store.Held, error)
	DeleteHeld(ctx context.Context, id string) error
	PopExpiredHeld(ctx context.Context, at time.Time, max int) ([]*store.Held, error)
}

// AppSession ends, at the app, the session of a login the gateway gave up
// (abandoned, expired, refused, a release that never finished). There is
// one per kind of held login: the cookie guard's logout route, Parse's
// logout.
type AppSession interface {
	// End logs h's app session out. It is called with a bounded context
	// that outlives the request; an error is logged, not retried here.
	End(ctx context.Context, h *store.Held) error
}

// Logins owns a held login's life: Hold, Take (for release, with the
// release journal), Abandon (ending the app session) and Sweep (expiry).
type Logins struct {
	Store Store
	// Sessions ends abandoned app sessions, by Held.Kind ("" for cookie
	// logins, store.KindParse). A kind without one is only logged:
	// cookie logins without login.logout_abandoned.
	Sessions map[string]AppSession
	// TTL is how long a held login lives (0: defaults.HoldTTL).
	TTL time.Duration
	// Now is the clock (nil: time.Now); Random the entropy of ids (nil:
	// crypto/rand).
	Now    func() time.Time
	Random io.Reader
	Logger *slog.Logger
}

func (l *Logins) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

func (l *Logins) log() *slog.Logger {
	if l.Logger == nil {
		return slog.Default()
	}
	return l.Logger
}

// Hold stores h as a new held login: it gets its id, its creation time and
// its expiry (TTL).
func (l *Logins) Hold(ctx context.Context, h *store.Held) error {
	random := l.Random
	if random == nil {
		random = rand.Reader
	}
	id, err := NewID(random)
	if err != nil {
		return err
	}
	ttl := l.TTL
	if ttl <= 0 {
		ttl = defaults.HoldTTL
	}
	now := l.now()
	h.ID, h.Created, h.Expires = id, now, now.Add(ttl)
	if err := l.Store.CreateHeld(ctx, h); err != nil {
		return fmt.Errorf("holding login: %w", err)
	}
	return nil
}

// Cancel takes back a held login nobody will release (its challenge could
// not begin); ErrNotFound when it is gone already.
func (l *Logins) Cancel(ctx context.Context, id string) (*store.Held, error) {
	return l.Store.TakeHeld(ctx, id)
}

// Releasing a held login is crash-safe through a release journal: before
// the held login is taken from the store (atomically, exactly once), a
// copy of it is written under a journal id that expires after
// releaseGrace; once the answer has been handed over the copy is deleted.
// A gateway that dies in between leaves the copy behind, and when it
// expires Sweep ends that app session at the app and says so
// (release_unconfirmed): every held login ends released, or abandoned and
// logged out, never taken and forgotten.

// releaseGrace is how long a release may take before its journal copy
// counts as interrupted.
const releaseGrace = time.Minute

// journalMark is in the id of every journal copy (held login ids are
// URL-safe base64 and never contain it).
const journalMark = ".release."

// IsReleaseJournal reports whether a held login id is the journal copy of
// a release.
func IsReleaseJournal(id string) bool { return strings.Contains(id, journalMark) }

// Take removes the held login id from the store for release, with its
// journal copy written first. done, called once the answer is handed
// over, deletes the copy.
func (l *Logins) Take(ctx context.Context, id string) (held *store.Held, done func(), err error) {
	snap, err := l.Store.Held(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var nonce [9]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, nil, err
	}
	j := *snap
	j.ID = id + journalMark + base64.RawURLEncoding.EncodeToString(nonce[:])
	j.Expires = l.now().Add(releaseGrace)
	if err := l.Store.CreateHeld(ctx, &j); err != nil {
		return nil, nil, err
	}
	drop := func() {
		// Best effort: a copy left behind is only logged out early.
		if err := l.Store.DeleteHeld(context.WithoutCancel(ctx), j.ID); err != nil {
			l.log().WarnContext(ctx, "deleting a release journal copy", "event", "store_error", "err", err)
		}
	}
	held, err = l.Store.TakeHeld(ctx, id)
	if err != nil {
		drop()
		return nil, nil, err
	}
	return held, drop, nil
}

// Abandon gives up a login before release (or one never held: a refused
// one): its app session is ended at the app by the AppSession of its kind,
// so no authenticated session is left behind unseen.
func (l *Logins) Abandon(ctx context.Context, h *store.Held, reason string) {
	s := l.Sessions[h.Kind]
	if s == nil || len(h.Session) == 0 {
		l.log().InfoContext(ctx, "held login abandoned", "event", audit.LoginAbandoned, "user", h.User, "reason", reason)
		return
	}
	kind := h.Kind
	if kind == "" {
		kind = "cookie"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.End(ctx, h); err != nil {
		l.log().WarnContext(ctx, "logging out an abandoned login at the app failed", "event", "upstream_logout_failed",
			"user", h.User, "reason", reason, "kind", kind, "err", err)
		return
	}
	l.log().InfoContext(ctx, "abandoned login logged out at the app", "event", audit.UpstreamSessionRevoked,
		"user", h.User, "reason", reason, "kind", kind)
}

// sweepBatch is how many expired held logins Sweep takes at a time.
const sweepBatch = 100

// Sweep removes expired held logins and abandons each (reason expired, or
// release_unconfirmed for the journal copy of a release that never
// finished). It returns how many it collected.
func (l *Logins) Sweep(ctx context.Context) int {
	n := 0
	for {
		held, err := l.Store.PopExpiredHeld(ctx, l.now(), sweepBatch)
		if err != nil {
			l.log().ErrorContext(ctx, "collecting expired held logins", "event", "store_error", "err", err)
			return n
		}
		for _, h := range held {
			reason := "expired"
			if IsReleaseJournal(h.ID) {
				// A release that never finished (the gateway stopped
				// between taking the login and handing it over).
				reason = "release_unconfirmed"
				l.log().WarnContext(ctx, "a release did not finish; ending that app session", "event", "release_unconfirmed", "user", h.User)
			}
			l.Abandon(ctx, h, reason)
		}
		n += len(held)
		if len(held) < sweepBatch {
			return n
		}
	}
}
