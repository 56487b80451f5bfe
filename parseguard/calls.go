package parseguard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// call makes one request of the gateway's own to Parse, with the app keys
// of a client request and a session token.
func (g *Guard) call(ctx context.Context, method, route string, keys map[string]string, token string) (map[string]any, int, error) {
	return call(ctx, g.opt.Transport, g.opt.Upstream, g.opt.Mount, method, route, keys, token)
}

// callAs makes one request of the gateway's own to Parse as the client
// q named its app, trying each way it did (keySets) while Parse answers
// 403 (an app id it doesn't know).
func (g *Guard) callAs(ctx context.Context, method, route string, q *request, token string) (map[string]any, int, error) {
	sets := q.keySets()
	if len(sets) == 0 {
		sets = []map[string]string{{}}
	}
	var (
		m      map[string]any
		status int
		err    error
	)
	for _, keys := range sets {
		m, status, err = g.call(ctx, method, route, keys, token)
		if status != http.StatusForbidden {
			break
		}
	}
	return m, status, err
}

// call makes one request to Parse at upstream (Parse mounted at mount).
func call(ctx context.Context, transport http.RoundTripper, upstream *url.URL, mount, method, route string, keys map[string]string, token string) (map[string]any, int, error) {
	u := *upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + strings.TrimSuffix(mount, "/") + "/" + route
	u.RawPath = ""
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range keys {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Parse-Session-Token", token)
	resp, err := transport.RoundTrip(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return nil, resp.StatusCode, err
	}
	return m, resp.StatusCode, nil
}

// whoami asks Parse whose token this is (a GraphQL login that did not ask
// for the user's id).
func (g *Guard) whoami(ctx context.Context, q *request, token string) string {
	return g.me(ctx, q, token, "objectId")
}

// username asks Parse for the token's username (a GraphQL login's answer
// is shaped by the client).
func (g *Guard) username(ctx context.Context, q *request, token string) string {
	return g.me(ctx, q, token, "username")
}

// me asks Parse for a string field of the token's user ("": none, or no
// answer).
func (g *Guard) me(ctx context.Context, q *request, token, field string) string {
	m, status, err := g.callAs(ctx, http.MethodGet, "users/me", q, token)
	if err != nil || status != http.StatusOK {
		return ""
	}
	v, _ := m[field].(string)
	return v
}

// sessionToken reads the token of session id as the caller sees it.
func (g *Guard) sessionToken(ctx context.Context, q *request, caller, id string) string {
	if id == "" || strings.ContainsAny(id, "/?#%") {
		return ""
	}
	m, status, err := g.callAs(ctx, http.MethodGet, "sessions/"+url.PathEscape(id), q, caller)
	if err != nil || status != http.StatusOK {
		return ""
	}
	t, _ := m["sessionToken"].(string)
	return t
}
