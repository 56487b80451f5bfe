package server

import (
	"context"
	"time"
)

// janitor collects expired held logins every few seconds, and every
// second or two hands pending revocations to the store and picks up
// revocations other processes wrote (see syncRevocations).
func (s *Server) janitor() {
	defer close(s.stopped)
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	r := time.NewTicker(revocationSync)
	defer r.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep(context.Background())
		case <-r.C:
			s.syncRevocations(context.Background())
		}
	}
}

// Sweep removes expired held logins and ends their app sessions (see
// held.Logins.Sweep). It returns how many it collected.
func (s *Server) Sweep(ctx context.Context) int { return s.logins.Sweep(ctx) }
