package parseguard

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/vestibule-gw/vestibule/forward"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/store"
)

// hold keeps a login answer and replaces it with the challenge.
func (g *Guard) hold(resp *http.Response, st *state, m minted, body []byte) error {
	ctx := resp.Request.Context()
	session := map[string]string{TokenKey: m.token}
	name, _ := m.obj["username"].(string)
	if name == "" && st.where == graphQL {
		name = g.username(ctx, st.req, m.token)
	}
	if name != "" {
		session[UsernameKey] = name
	}
	if b, err := json.Marshal(st.req.keySets()); err == nil {
		session[appKeysKey] = string(b)
	}
	h := &store.Held{
		Kind: store.KindParse, User: m.user, Session: session,
		Response: store.HeldResponse{Status: resp.StatusCode, Header: held.Header(resp.Header), Body: body},
		RemoteIP: st.remoteIP, UserAgent: st.userAgent,
	}
	if g.opt.PhoneField != "" && m.obj != nil {
		if p, ok := m.obj[g.opt.PhoneField].(string); ok {
			h.Phone = strings.TrimSpace(p)
		}
	}
	return held.HoldAnswer(resp, h, parseKind{st, m.token}, g.opt.Held, g.log)
}

// parseKind is what holding a Parse login adds to held.HoldAnswer.
type parseKind struct {
	st    *state
	token string
}

// Stored indexes the token as held while it is: a minting answer that
// shows it later (removed there) must not end this login at Parse.
func (k parseKind) Stored(ctx context.Context, h *store.Held) {
	if err := k.st.g.opt.Tokens.MarkHeld(ctx, k.token, h.ID, h.Expires); err != nil {
		k.st.g.log.ErrorContext(ctx, "indexing a held token", "event", "store_error", "err", err)
	}
}

func (k parseKind) Begin(h *store.Held) (forward.Reply, error) {
	return k.st.g.opt.Challenger.BeginParse(k.st.orig, h, MFA{Sent: k.st.req.hasMFA, Token: k.st.req.mfa})
}

// Unheld ends at Parse the session nobody will get: one that could not be
// stored, or one whose challenge did not begin, once it is taken back (a
// release that took it first wins).
func (k parseKind) Unheld(ctx context.Context, h *store.Held, reason string) {
	g := k.st.g
	if reason == "challenge_failed" {
		if _, err := g.opt.Held.Cancel(ctx, h.ID); err != nil {
			return
		}
		g.opt.Tokens.UnmarkHeld(ctx, k.token)
	}
	g.endSessions(ctx, k.st.req.keySets(), []string{k.token}, reason)
}

// ReplyHeader keeps Parse's CORS headers.
func (parseKind) ReplyHeader(answer, reply http.Header) { keepCORS(answer, reply) }
