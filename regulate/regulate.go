// Package regulate limits second-factor guessing across held logins: failed
// attempts are counted per user and per client IP in a window, and a key
// that reaches its limit is banned for a while. Attempts are counted before
// the code is looked at, so concurrent guesses can never check more codes
// than the limit.
package regulate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Counters is what the regulator needs from the ephemeral store
// (store.Counters).
type Counters interface {
	Hit(ctx context.Context, key string, at time.Time, window time.Duration) (int, error)
	Unhit(ctx context.Context, key string, at time.Time) error
	ResetHits(ctx context.Context, key string) error
	Ban(ctx context.Context, key string, until time.Time) error
	BannedUntil(ctx context.Context, key string, at time.Time) (time.Time, bool, error)
}

// Limit is failures allowed per window, and the ban that follows.
type Limit struct {
	MaxFailures int
	Window      time.Duration
	Ban         time.Duration
}

// Regulator applies the per-user and per-IP limits. User and IP are read
// at each call; SetLimits changes them safely while serving.
type Regulator struct {
	Counters Counters
	User, IP Limit
	Now      func() time.Time
	Logger   *slog.Logger

	mu sync.RWMutex
}

// SetLimits replaces the limits (a config reload).
func (g *Regulator) SetLimits(user, ip Limit) {
	g.mu.Lock()
	g.User, g.IP = user, ip
	g.mu.Unlock()
}

func (g *Regulator) limits() (Limit, Limit) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.User, g.IP
}

// BannedError says who is banned until when.
type BannedError struct {
	Until time.Time
}

func (e *BannedError) Error() string {
	return fmt.Sprintf("too many failed attempts; try again after %s", e.Until.UTC().Format(time.RFC3339))
}

// IsBanned reports whether err is a ban, and until when.
func IsBanned(err error) (time.Time, bool) {
	var b *BannedError
	if errors.As(err, &b) {
		return b.Until, true
	}
	return time.Time{}, false
}

func userKey(u string) string { return "user:" + u }
func ipKey(ip string) string  { return "ip:" + ip }

// Banned returns a *BannedError when the user or the IP is banned now.
func (g *Regulator) Banned(ctx context.Context, user, ip string) error {
	now := g.Now()
	var until time.Time
	for _, k := range g.keys(user, ip) {
		u, banned, err := g.Counters.BannedUntil(ctx, k, now)
		if err != nil {
			return fmt.Errorf("reading ban: %w", err)
		}
		if banned && u.After(until) {
			until = u
		}
	}
	if !until.IsZero() {
		return &BannedError{Until: until}
	}
	return nil
}

func (g *Regulator) keys(user, ip string) []string {
	ul, il := g.limits()
	var ks []string
	if user != "" && ul.MaxFailures > 0 {
		ks = append(ks, userKey(user))
	}
	if ip != "" && il.MaxFailures > 0 {
		ks = append(ks, ipKey(ip))
	}
	return ks
}

// Attempt is one reserved code check.
type Attempt struct {
	g          *Regulator
	user, ip   string
	nUser, nIP int
	ul, il     Limit // the limits when the attempt began
}

// Begin reserves one code check for user from ip. It fails with a
// *BannedError when either is banned or this check would exceed a limit (a
// ban then starts). Call Fail or Succeed with the outcome.
func (g *Regulator) Begin(ctx context.Context, user, ip string) (*Attempt, error) {
	if err := g.Banned(ctx, user, ip); err != nil {
		return nil, err
	}
	ul, il := g.limits()
	a := &Attempt{g: g, user: user, ip: ip, ul: ul, il: il}
	now := g.Now()
	var err error
	if user != "" && ul.MaxFailures > 0 {
		if a.nUser, err = g.Counters.Hit(ctx, userKey(user), now, ul.Window); err != nil {
			return nil, fmt.Errorf("counting attempt: %w", err)
		}
		if a.nUser > ul.MaxFailures {
			return nil, g.ban(ctx, userKey(user), ul, "user", user, ip)
		}
	}
	if ip != "" && il.MaxFailures > 0 {
		if a.nIP, err = g.Counters.Hit(ctx, ipKey(ip), now, il.Window); err != nil {
			return nil, fmt.Errorf("counting attempt: %w", err)
		}
		if a.nIP > il.MaxFailures {
			return nil, g.ban(ctx, ipKey(ip), il, "ip", user, ip)
		}
	}
	return a, nil
}

func (g *Regulator) ban(ctx context.Context, key string, l Limit, scope, user, ip string) error {
	until := g.Now().Add(l.Ban)
	if err := g.Counters.Ban(ctx, key, until); err != nil {
		return fmt.Errorf("banning: %w", err)
	}
	if g.Logger != nil {
		g.Logger.Warn("banned after too many failed second-factor attempts", "event", "ban",
			"scope", scope, "user", user, "remote_ip", ip, "until", until.UTC().Format(time.RFC3339))
	}
	return &BannedError{Until: until}
}

// Fail records that the code was wrong. When this failure reaches a limit,
// the ban starts now and Fail returns the *BannedError.
func (a *Attempt) Fail(ctx context.Context) error {
	g := a.g
	if a.user != "" && a.ul.MaxFailures > 0 && a.nUser >= a.ul.MaxFailures {
		return g.ban(ctx, userKey(a.user), a.ul, "user", a.user, a.ip)
	}
	if a.ip != "" && a.il.MaxFailures > 0 && a.nIP >= a.il.MaxFailures {
		return g.ban(ctx, ipKey(a.ip), a.il, "ip", a.user, a.ip)
	}
	return nil
}

// Succeed records that the code was right: the user's failures are
// forgotten, and the IP's count gives back this attempt's reservation (only
// failures count against an address). The IP's earlier failures stay, so an
// attacker can't clear its count by signing in to an account of its own
// between guesses.
func (a *Attempt) Succeed(ctx context.Context) error {
	var err error
	if a.user != "" && a.ul.MaxFailures > 0 {
		err = a.g.Counters.ResetHits(ctx, userKey(a.user))
	}
	return errors.Join(err, a.unhitIP(ctx))
}

// Cancel gives the attempt's reservations back: the code was neither right
// nor a guess (a code already used, replayed in its own time step).
func (a *Attempt) Cancel(ctx context.Context) error {
	var err error
	if a.user != "" && a.ul.MaxFailures > 0 {
		err = a.g.Counters.Unhit(ctx, userKey(a.user), a.g.Now())
	}
	return errors.Join(err, a.unhitIP(ctx))
}

func (a *Attempt) unhitIP(ctx context.Context) error {
	if a.ip != "" && a.il.MaxFailures > 0 {
		return a.g.Counters.Unhit(ctx, ipKey(a.ip), a.g.Now())
	}
	return nil
}

// BannedUntil is when the ban ends.
func (e *BannedError) BannedUntil() time.Time { return e.Until }
