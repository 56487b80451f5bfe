package held

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/vestibule-gw/vestibule/config/defaults"
	"github.com/vestibule-gw/vestibule/store"
)

// Registry is the registry of Parse session tokens the gateway released,
// kept hashed in the store with this process's bounded cache in front.
// Every writer (the Parse guard, the release of a held Parse login) goes
// through it, so a token this process registers or forgets is known so in
// its cache at once.
type Registry struct {
	store store.Tokens
	opt   RegistryOptions
	mu    sync.Mutex
	cache map[[32]byte]cached
}

// RegistryOptions configures a Registry.
type RegistryOptions struct {
	// SessionTTL is how long a released token stays registered (0:
	// defaults.ParseSessionTTL, Parse's default session length).
	SessionTTL time.Duration
	// CacheTTL is how long a registry answer is reused in this process
	// (0: no cache, every lookup asks the store; parse.token_cache).
	CacheTTL time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

type cached struct {
	user  string
	until time.Time
	// gone marks a token this process just logged out: a lookup racing
	// with the logout must not put it back in the cache.
	gone bool
}

// maxCache bounds the in-process registry cache.
const maxCache = 100_000

// NewRegistry returns the registry kept in s.
func NewRegistry(s store.Tokens, o RegistryOptions) *Registry {
	if o.SessionTTL <= 0 {
		o.SessionTTL = defaults.ParseSessionTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Registry{store: s, opt: o, cache: map[[32]byte]cached{}}
}

// hashToken is a token's registry key (on the stack for usual tokens: it
// runs for every request that carries one).
func hashToken(tok string) [32]byte {
	const domain = "vestibule-parse-token:"
	var buf [128]byte
	return sha256.Sum256(append(append(buf[:0], domain...), tok...))
}

// heldKey is the registry key under which a held login's token is known
// while it is held (a different domain from released tokens' hashes).
func heldKey(tok string) [32]byte {
	return sha256.Sum256([]byte("vestibule-parse-held:" + tok))
}

// Released looks a token up (through the cache): its user, and whether the
// gateway released it.
func (g *Registry) Released(ctx context.Context, tok string) (string, bool, error) {
	h := hashToken(tok)
	now := g.opt.Now()
	if g.opt.CacheTTL > 0 {
		g.mu.Lock()
		c, ok := g.cache[h]
		g.mu.Unlock()
		if ok && !c.gone && now.Before(c.until) {
			return c.user, true, nil
		}
	}
	user, err := g.store.Token(ctx, h, now)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	g.remember(h, user, now)
	return user, true, nil
}

func (g *Registry) remember(h [32]byte, user string, now time.Time) {
	if g.opt.CacheTTL <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.cache[h]; ok && c.gone && now.Before(c.until) {
		return
	}
	if len(g.cache) >= maxCache {
		clear(g.cache)
	}
	g.cache[h] = cached{user: user, until: now.Add(g.opt.CacheTTL)}
}

// Register records a released token of user for SessionTTL.
func (g *Registry) Register(ctx context.Context, tok, user string) error {
	now := g.opt.Now()
	h := hashToken(tok)
	if err := g.store.PutToken(ctx, h, user, now.Add(g.opt.SessionTTL)); err != nil {
		return err
	}
	g.remember(h, user, now)
	return nil
}

// Forget takes a logged-out token out of the registry and this process's
// cache.
func (g *Registry) Forget(ctx context.Context, tok string) error {
	h := hashToken(tok)
	if g.opt.CacheTTL > 0 {
		g.mu.Lock()
		g.cache[h] = cached{gone: true, until: g.opt.Now().Add(g.opt.CacheTTL)}
		g.mu.Unlock()
	}
	return g.store.DeleteToken(ctx, h)
}

// MarkHeld knows tok as the token of held login id until until: a minting
// answer that shows it meanwhile (removed there) must not end that login.
func (g *Registry) MarkHeld(ctx context.Context, tok, id string, until time.Time) error {
	return g.store.PutToken(ctx, heldKey(tok), id, until)
}

// UnmarkHeld forgets that tok is held.
func (g *Registry) UnmarkHeld(ctx context.Context, tok string) error {
	return g.store.DeleteToken(ctx, heldKey(tok))
}

// IsHeld reports whether tok is the token of a login being held.
func (g *Registry) IsHeld(ctx context.Context, tok string) bool {
	_, err := g.store.Token(ctx, heldKey(tok), g.opt.Now())
	return err == nil
}
