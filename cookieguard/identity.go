package cookieguard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/config/defaults"
	"github.com/vestibule-gw/vestibule/forward"
)

// IdentityProbe asks the app who a new session belongs to: after the app
// accepted a login, the gateway sends one request with the session the
// app just issued and reads the user's login name from the answer. The
// app decides who logged in; the name in the login request only files the
// attempt until the app has answered.
type IdentityProbe struct {
	// Path is the request path, with an optional query (GET).
	Path string
	// Exactly one source: a regular expression over the answer body (its
	// group "user", or the first group), a JSON pointer (RFC 6901) into a
	// JSON answer, or an answer header. A regular expression without a
	// group only confirms that the session is signed in (for apps that
	// show no login name, such as Django 3.2's admin): the name is then the
	// login request's, read as the app reads it.
	Regexp      *regexp.Regexp
	JSONPointer string
	Header      string
	// Timeout bounds the probe (0: defaults.IdentityTimeout).
	Timeout time.Duration
}

// maxProbeBody bounds the probe answer the gateway reads.
const maxProbeBody = 1 << 20

// errProbe is a probe that did not name a user.
var errProbe = errors.New("identity probe")

// errConfirmOnly: the probe confirmed the session without naming the user.
var errConfirmOnly = errors.New("identity probe: confirmed")

// ask sends the probe with the session cookies (and, for HTTP Basic, the
// Authorization) of a held login, with the client's identifying headers
// (apps like DokuWiki bind a session to the browser), and returns the
// user it names, not yet normalised.
func (ip *IdentityProbe) ask(ctx context.Context, p *Proxy, orig *http.Request, session map[string]string) (string, error) {
	timeout := ip.Timeout
	if timeout <= 0 {
		timeout = defaults.IdentityTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := *p.opt.Upstream
	path, query, _ := strings.Cut(ip.Path, "?")
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errProbe, err)
	}
	for _, k := range []string{"User-Agent", "Accept-Language", "Accept-Encoding", "Accept", audit.Header} {
		if v := orig.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header["X-Forwarded-For"] = []string{p.opt.ClientIP.ForwardedFor(orig)}
	req.Header.Set("X-Forwarded-Host", orig.Host)
	if orig.TLS != nil {
		req.Header.Set("X-Forwarded-Proto", "https")
	} else {
		req.Header.Set("X-Forwarded-Proto", "http")
	}
	if p.opt.PreserveHost {
		req.Host = orig.Host
	}
	var cookies []string
	for n, v := range session {
		if n == authorizationKey {
			req.Header.Set("Authorization", v)
			continue
		}
		cookies = append(cookies, n+"="+v)
	}
	if len(cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errProbe, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("%w: the app answered %d", errProbe, resp.StatusCode)
	}
	if ip.Header != "" {
		vs := resp.Header.Values(ip.Header)
		if len(vs) != 1 {
			return "", fmt.Errorf("%w: header %s sent %d times", errProbe, ip.Header, len(vs))
		}
		return vs[0], nil
	}
	body, err := forward.ReadAnswer(resp, maxProbeBody)
	switch {
	case errors.Is(err, forward.ErrAnswerTooLarge):
		return "", fmt.Errorf("%w: the answer is over %d bytes", errProbe, maxProbeBody)
	case err != nil:
		return "", fmt.Errorf("%w: reading the answer: %v", errProbe, err)
	}
	if ip.Regexp != nil {
		return ip.fromRegexp(body)
	}
	return jsonPointer(body, ip.JSONPointer)
}

// fromRegexp takes the user from the one match of the expression; two
// matches that disagree are ambiguous.
func (ip *IdentityProbe) fromRegexp(body []byte) (string, error) {
	if ip.Regexp.NumSubexp() == 0 {
		if !ip.Regexp.Match(body) {
			return "", fmt.Errorf("%w: the answer does not show a signed-in session", errProbe)
		}
		return "", errConfirmOnly
	}
	group := ip.Regexp.SubexpIndex("user")
	if group < 0 {
		group = 1
	}
	var user string
	found := false
	for _, m := range ip.Regexp.FindAllSubmatch(body, 16) {
		if group >= len(m) {
			continue
		}
		v := string(m[group])
		if found && v != user {
			return "", fmt.Errorf("%w: the answer names more than one user", errProbe)
		}
		user, found = v, true
	}
	if !found {
		return "", fmt.Errorf("%w: the answer names no user", errProbe)
	}
	return htmlUnescape(user), nil
}

// htmlUnescape undoes the few entities a page may use in a login name.
func htmlUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#34;", `"`, "&#39;", "'", "&#x27;", "'").Replace(s)
}

// jsonPointer resolves an RFC 6901 pointer to a string in a JSON document.
func jsonPointer(body []byte, ptr string) (string, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%w: the answer is not JSON", errProbe)
	}
	if ptr != "" {
		for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch v := doc.(type) {
			case map[string]any:
				doc = v[tok]
			case []any:
				var i int
				if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(v) {
					return "", fmt.Errorf("%w: %s is not in the answer", errProbe, ptr)
				}
				doc = v[i]
			default:
				return "", fmt.Errorf("%w: %s is not in the answer", errProbe, ptr)
			}
		}
	}
	s, ok := doc.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s is not a string", errProbe, ptr)
	}
	return s, nil
}
