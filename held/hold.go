package held

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/store"
)

// Kind is what a guard adds to holding a login answer of its kind (the
// cookie guard's, the Parse guard's); HoldAnswer calls it in this order:
// Stored, Begin, ReplyHeader, or Unheld when a step fails.
type Kind interface {
	// Stored runs once h is stored (it has its id and expiry), before its
	// challenge begins.
	Stored(ctx context.Context, h *store.Held)
	// Begin starts h's second factor for the login request; its reply
	// replaces the app's answer.
	Begin(h *store.Held) (forward.Reply, error)
	// Unheld is told of a login that was not held after all: reason
	// "store_error" (it could not be stored: its app session is ended) or
	// "challenge_failed" (it is stored, but Begin failed).
	Unheld(ctx context.Context, h *store.Held, reason string)
	// ReplyHeader sets on the reply's header what the kind adds to it,
	// given the app's answer's header.
	ReplyHeader(answer, reply http.Header)
}

// Storer stores a new held login, giving it its id and expiry (Logins
// implements it).
type Storer interface {
	Hold(ctx context.Context, h *store.Held) error
}

// Header is a copy of an answer's header fit to be held: without the
// hop-by-hop headers, the gateway's user header (forward.UserHeader) or
// the headers named in drop ("" is skipped).
func Header(answer http.Header, drop ...string) http.Header {
	h := answer.Clone()
	forward.RemoveHopHeaders(h)
	h.Del(forward.UserHeader)
	for _, name := range drop {
		if name != "" {
			h.Del(name)
		}
	}
	return h
}

// HoldAnswer holds the login h made by the answer resp: it stores h
// through s, tells k, starts the challenge and puts its reply in place of
// the answer, and logs "login held" (audit.LoginHeld). A login that could
// not be stored fails with a forward.StoreError; one whose challenge did
// not begin, with the challenge's error.
func HoldAnswer(resp *http.Response, h *store.Held, k Kind, s Storer, log *slog.Logger) error {
	ctx := resp.Request.Context()
	if err := s.Hold(ctx, h); err != nil {
		k.Unheld(ctx, h, "store_error")
		return forward.StoreError{Err: err}
	}
	k.Stored(ctx, h)
	reply, err := k.Begin(h)
	if err != nil {
		k.Unheld(ctx, h, "challenge_failed")
		return fmt.Errorf("starting challenge: %w", err)
	}
	if reply.Header == nil {
		reply.Header = http.Header{}
	}
	k.ReplyHeader(resp.Header, reply.Header)
	reply.Replace(resp)
	args := []any{"event", audit.LoginHeld, "user", h.User, "remote_ip", h.RemoteIP, "user_agent", h.UserAgent}
	if h.Kind != "" {
		args = append(args, "kind", h.Kind)
	}
	log.InfoContext(ctx, "login held", args...)
	return nil
}
