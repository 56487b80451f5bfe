package server

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/parse"
	"github.com/vestibule-gw/vestibule/store"
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

// Sweep removes expired held logins and, with login.logout_abandoned, logs
// each out at the app. It returns how many it collected.
func (s *Server) Sweep(ctx context.Context) int {
	n := 0
	for {
		held, err := s.bounded.PopExpiredHeld(ctx, s.now(), 100)
		if err != nil {
			s.log.ErrorContext(ctx, "collecting expired held logins", "event", "store_error", "err", err)
			return n
		}
		for _, h := range held {
			reason := "expired"
			if challenge.IsReleaseJournal(h.ID) {
				// A release that never finished (the gateway stopped
				// between taking the login and handing it over).
				reason = "release_unconfirmed"
				s.log.WarnContext(ctx, "a release did not finish; ending that app session", "event", "release_unconfirmed", "user", h.User)
			}
			s.abandoned(ctx, h, reason)
		}
		n += len(held)
		if len(held) < 100 {
			return n
		}
	}
}

// abandoned is told of a held login given up before release. With
// login.logout_abandoned it calls the app's logout with the held session,
// so no authenticated app session is left behind unseen.
func (s *Server) abandoned(ctx context.Context, h *store.Held, reason string) {
	if h.Kind == store.KindParse {
		// A held Parse token is always ended at the app: nobody else can
		// use it, and an unreleased session should not linger.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := parse.Logout(ctx, s.transport, s.upstream, s.cfg.Parse.Mount, h); err != nil {
			s.log.WarnContext(ctx, "logging out an abandoned Parse login failed", "event", "upstream_logout_failed", "user", h.User, "reason", reason, "err", err)
			return
		}
		s.log.InfoContext(ctx, "abandoned login logged out at the app", "event", audit.UpstreamSessionRevoked, "user", h.User, "reason", reason, "kind", "parse")
		return
	}
	if !s.cfg.Login.LogoutAbandoned || len(s.cfg.Logout.Routes) == 0 || len(h.Session) == 0 {
		s.log.InfoContext(ctx, "held login abandoned", "event", audit.LoginAbandoned, "user", h.User, "reason", reason)
		return
	}
	route := s.cfg.Logout.Routes[0]
	method := http.MethodGet
	if len(route.Methods) > 0 {
		method = route.Methods[0]
	}
	u := *s.upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + route.Path
	if len(route.Query) > 0 {
		q := url.Values{}
		for k, v := range route.Query {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		s.log.ErrorContext(ctx, "logging out an abandoned login", "event", "upstream_logout_failed", "user", h.User, "err", err)
		return
	}
	for _, name := range slices.Sorted(maps.Keys(h.Session)) {
		if strings.HasPrefix(name, ":") {
			continue // HTTP Basic credentials: nothing to log out
		}
		req.AddCookie(&http.Cookie{Name: name, Value: h.Session[name]})
	}
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		s.log.WarnContext(ctx, "logging out an abandoned login at the app failed", "event", "upstream_logout_failed",
			"user", h.User, "reason", reason, "err", err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	s.log.InfoContext(ctx, "abandoned login logged out at the app", "event", audit.UpstreamSessionRevoked,
		"user", h.User, "reason", reason, "status", resp.StatusCode)
}
