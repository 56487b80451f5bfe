package cookieguard

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/store"
)

// Logout ends held cookie logins' app sessions at the app
// (held.AppSession of cookie logins, login.logout_abandoned): it requests
// the app's logout route with the held session cookies.
type Logout struct {
	Upstream  *url.URL
	Transport http.RoundTripper
	// Route is the app's logout route: its path, its first method (none:
	// GET) and its query.
	Route Route
}

var _ held.AppSession = (*Logout)(nil)

// End requests the logout route with h's session cookies (HTTP Basic
// credentials have nothing to log out). Any answer counts as done.
func (l *Logout) End(ctx context.Context, h *store.Held) error {
	method := http.MethodGet
	if len(l.Route.Methods) > 0 {
		method = l.Route.Methods[0]
	}
	u := *l.Upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + l.Route.Path
	if len(l.Route.Query) > 0 {
		q := url.Values{}
		for k, v := range l.Route.Query {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return fmt.Errorf("making the logout request: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(h.Session)) {
		if strings.HasPrefix(name, ":") {
			continue // HTTP Basic credentials: nothing to log out
		}
		req.AddCookie(&http.Cookie{Name: name, Value: h.Session[name]})
	}
	resp, err := l.Transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("requesting the logout route: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return nil
}
