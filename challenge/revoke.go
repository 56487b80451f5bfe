package challenge

import (
	"context"
	"time"

	"github.com/vestibule-gw/vestibule/gate"
)

// endSessions ends every open gate session of user issued before at, on
// every replica (see gate.UserKey): a new enrollment means sessions that
// passed an earlier factor must not outlive it. The release that follows
// issues its gate cookie at or after at, so it stays valid. A store that
// does not take the revocation is logged; the enrollment stands.
func (h *Handler) endSessions(ctx context.Context, user string, at time.Time) {
	if err := h.opt.Ephemeral.Revoke(ctx, gate.UserKey(user), at, at.Add(h.opt.Cookies.MaxAge)); err != nil {
		h.log.ErrorContext(ctx, "ending earlier sessions of a newly enrolled user", "event", "store_error", "user", user, "err", err)
		return
	}
	h.log.InfoContext(ctx, "earlier sessions of the user ended", "event", "sessions_revoked", "user", user, "reason", "enrollment")
}
