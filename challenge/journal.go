package challenge

import (
	"context"

	"github.com/vestibule-gw/vestibule/store"
)

// Taker takes a held login for release (package held's Logins implements
// it, with a crash-safe release journal): done, called once the answer is
// handed over, ends the release.
type Taker interface {
	Take(ctx context.Context, id string) (h *store.Held, done func(), err error)
}

// TokenRegistry registers a released Parse session token (package held's
// Registry implements it).
type TokenRegistry interface {
	Register(ctx context.Context, tok, user string) error
}

// take removes the held login id from the store for release (see Taker).
func (h *Handler) take(ctx context.Context, id string) (*store.Held, func(), error) {
	return h.opt.Logins.Take(ctx, id)
}
