package challenge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

// Releasing a held login is crash-safe through a release journal: before
// the held login is taken from the store (atomically, exactly once), a
// copy of it is written under a journal id that expires after
// releaseGrace; once the answer has been handed over the copy is deleted.
// A gateway that dies in between leaves the copy behind, and when it
// expires the janitor ends that app session at the app and says so
// (release_unconfirmed): every held login ends released, or abandoned and
// logged out, never taken and forgotten.

// releaseGrace is how long a release may take before its journal copy
// counts as interrupted.
const releaseGrace = time.Minute

// journalMark is in the id of every journal copy (held login ids are
// URL-safe base64 and never contain it).
const journalMark = ".release."

// IsReleaseJournal reports whether a held login popped by the janitor is
// the journal copy of a release that never finished.
func IsReleaseJournal(id string) bool { return strings.Contains(id, journalMark) }

// take removes the held login id from the store for release, with its
// journal copy written first. done, called once the answer is handed
// over, deletes the copy.
func (h *Handler) take(ctx context.Context, id string) (held *store.Held, done func(), err error) {
	snap, err := h.opt.Ephemeral.Held(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var nonce [9]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, nil, err
	}
	j := *snap
	j.ID = id + journalMark + base64.RawURLEncoding.EncodeToString(nonce[:])
	j.Expires = h.opt.Now().Add(releaseGrace)
	if err := h.opt.Ephemeral.CreateHeld(ctx, &j); err != nil {
		return nil, nil, err
	}
	drop := func() {
		// Best effort: a copy left behind is only logged out early.
		if err := h.opt.Ephemeral.DeleteHeld(context.WithoutCancel(ctx), j.ID); err != nil {
			h.log.WarnContext(ctx, "deleting a release journal copy", "event", "store_error", "err", err)
		}
	}
	held, err = h.opt.Ephemeral.TakeHeld(ctx, id)
	if err != nil {
		drop()
		return nil, nil, err
	}
	return held, drop, nil
}
