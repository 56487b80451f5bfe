package parseguard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/store"
)

// appKeysKey is the Held.Session key of the JSON list of the ways the
// client named its app (keySets), for the gateway's own calls to Parse.
const appKeysKey = "vestibule:appKeys"

// logoutTries and logoutBackoff: a failed logout is tried again.
var (
	logoutTries   = 3
	logoutBackoff = 200 * time.Millisecond
)

// heldKeySets reads the key sets kept with a held login (older held logins
// kept one set as plain header entries).
func heldKeySets(h *store.Held) []map[string]string {
	if raw, ok := h.Session[appKeysKey]; ok {
		var sets []map[string]string
		if json.Unmarshal([]byte(raw), &sets) == nil {
			return sets
		}
	}
	keys := map[string]string{}
	for k, v := range h.Session {
		if k != TokenKey && k != appKeysKey && k != UsernameKey {
			keys[k] = v
		}
	}
	return []map[string]string{keys}
}

// Logout ends held Parse logins' sessions at Parse (held.AppSession of
// store.KindParse): an abandoned, expired or refused login.
type Logout struct {
	Transport http.RoundTripper
	Upstream  *url.URL
	// Mount is Parse Server's mount path.
	Mount string
}

var _ held.AppSession = (*Logout)(nil)

// End logs h's session token out at Parse, with each way the login's
// client named its app.
func (l *Logout) End(ctx context.Context, h *store.Held) error {
	return endAtParse(ctx, l.Transport, l.Upstream, l.Mount, heldKeySets(h), h.Session[TokenKey])
}

// endAtParse ends a session at Parse: POST logout with each way the client
// named its app until Parse accepts one (a wrong app id answers 403); a
// session Parse no longer knows (209) is already ended. Transport errors
// and server errors are tried again (logoutTries, with a growing pause).
func endAtParse(ctx context.Context, transport http.RoundTripper, upstream *url.URL, mount string, sets []map[string]string, token string) error {
	if len(sets) == 0 {
		sets = []map[string]string{{}}
	}
	var last error
	for try := 0; try < logoutTries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("parse logout: %w (last: %v)", ctx.Err(), last)
			case <-time.After(logoutBackoff << (try - 1)):
			}
		}
		retry := false
		for _, keys := range sets {
			m, status, err := call(ctx, transport, upstream, mount, http.MethodPost, "logout", keys, token)
			switch {
			case status == http.StatusOK:
				return nil
			case status == http.StatusBadRequest && fmt.Sprint(m["code"]) == "209":
				return nil // Parse no longer knows the session
			case err != nil && status == 0 || status >= 500:
				retry = true
				last = fmt.Errorf("parse logout: status %d: %v", status, err)
			default:
				last = fmt.Errorf("parse logout answered %d", status)
			}
		}
		if !retry {
			break
		}
	}
	return last
}

// endSessions ends, at Parse, sessions the gateway refused or abandoned in
// the guard (a batch of several logins, a token removed from a minting
// answer, a user created by another). It runs in the background, so the
// client's answer doesn't wait for Parse; each end is an audit event.
func (g *Guard) endSessions(ctx context.Context, sets []map[string]string, tokens []string, reason string) {
	ctx = context.WithoutCancel(ctx)
	g.ending.Add(1)
	go func() {
		defer g.ending.Done()
		for _, tok := range tokens {
			if g.opt.Tokens.IsHeld(ctx, tok) {
				g.log.InfoContext(ctx, "a held login's token removed from an answer; the login stays", "event", "held_token_redacted", "reason", reason)
				continue
			}
			c, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := endAtParse(c, g.opt.Transport, g.opt.Upstream, g.opt.Mount, sets, tok)
			cancel()
			if err != nil {
				g.log.ErrorContext(ctx, "ending a refused session at Parse failed", "event", "upstream_logout_failed", "reason", reason, "err", err)
				continue
			}
			g.log.InfoContext(ctx, "refused session ended at Parse", "event", audit.UpstreamSessionRevoked, "reason", reason, "kind", "parse")
		}
	}()
}

// Wait blocks until the sessions being ended in the background are (for
// tests and shutdown).
func (g *Guard) Wait() { g.ending.Wait() }

// anonymous reports a login request made with anonymous authData alone
// (REST: authData {anonymous} and no password; GraphQL: logInWith, no
// logIn or signUp, naming anonymous).
func (q *request) anonymous() bool {
	if q.gqlQuery != "" {
		n := strings.Count(q.gqlQuery, "logIn")
		return n > 0 && n == strings.Count(q.gqlQuery, "logInWith") && !strings.Contains(q.gqlQuery, "signUp") &&
			strings.Contains(string(q.body), "anonymous")
	}
	raw, ok := q.field("authData")
	if !ok {
		return false
	}
	if _, ok := q.field("password"); ok {
		return false
	}
	var ad map[string]json.RawMessage
	if json.Unmarshal(raw, &ad) != nil || len(ad) != 1 {
		return false
	}
	_, ok = ad["anonymous"]
	return ok
}

// isAnonymous asks Parse whether the token's user signs in with anonymous
// authData only.
func (g *Guard) isAnonymous(ctx context.Context, q *request, token string) bool {
	m, status, err := g.callAs(ctx, http.MethodGet, "users/me", q, token)
	if err != nil || status != http.StatusOK {
		return false
	}
	ad, _ := m["authData"].(map[string]any)
	_, anon := ad["anonymous"]
	return len(ad) == 1 && anon
}
