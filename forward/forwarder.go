package forward

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/vestibule-gw/vestibule/clientip"
)

// UserHeader is the header the gateway sets on requests it forwards for a
// released session, naming the verified user. Clients can't set it: it is
// removed from every incoming request.
const UserHeader = "X-Vestibule-User"

// New returns the reverse proxy that carries requests to upstream:
// the gateway writes the X-Forwarded-* headers itself (a client's own
// entries count only behind a trusted proxy) and recycles copy buffers. The
// caller sets ModifyResponse and ErrorHandler.
//
// own names the gateway's own cookies (gate, pending challenge, device,
// pre-login marker): they never travel to the app.
func New(upstream *url.URL, transport http.RoundTripper, ips *clientip.Resolver, preserveHost bool, own ...string) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			h := pr.Out.Header
			if lines := h["Cookie"]; len(lines) > 0 && len(own) > 0 {
				h["Cookie"] = withoutCookies(lines, own)
				if len(h["Cookie"]) == 0 {
					delete(h, "Cookie")
				}
			}
			h["X-Forwarded-For"] = []string{ips.ForwardedFor(pr.In)}
			// Other forwarding headers count only from a trusted proxy.
			if !ips.TrustedPeer(pr.In) {
				delete(h, "X-Real-Ip")
				delete(h, "Forwarded")
			}
			h["X-Forwarded-Host"] = []string{pr.In.Host}
			if pr.In.TLS != nil {
				h["X-Forwarded-Proto"] = protoHTTPS
			} else {
				h["X-Forwarded-Proto"] = protoHTTP
			}
			if ips.TrustedPeer(pr.In) {
				for _, k := range []string{"X-Forwarded-Proto", "X-Forwarded-Host"} {
					if v := pr.In.Header.Get(k); v != "" {
						h.Set(k, v)
					}
				}
			}
			if preserveHost {
				pr.Out.Host = pr.In.Host
			}
		},
		Transport:  transport,
		BufferPool: newBufferPool(),
	}
}

// Shared, never modified header values.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// bufferPool recycles the 32 KiB copy buffers ReverseProxy would otherwise
// allocate per request.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

// withoutCookies removes the cookies named in drop from Cookie header
// lines it owns (the forwarder's copy), in place. A dropped cookie at the
// start or end of a line is cut without copying; only one in the middle
// makes a new string. Lines left empty are removed.
func withoutCookies(lines []string, drop []string) []string {
	out := lines[:0]
	for _, line := range lines {
		for _, d := range drop {
			line = cutCookie(line, d)
		}
		if strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
	}
	return out
}

// cutCookie removes every cookie called name from one Cookie line.
func cutCookie(line, name string) string {
	for start := 0; start < len(line); {
		i := strings.Index(line[start:], name)
		if i < 0 {
			return line
		}
		i += start
		// A whole name: at the line's start or after "; ", followed by "=".
		before := strings.TrimRight(line[:i], " ")
		if (before != "" && before[len(before)-1] != ';') || !strings.HasPrefix(strings.TrimLeft(line[i+len(name):], " "), "=") {
			start = i + len(name)
			continue
		}
		end := strings.IndexByte(line[i:], ';')
		switch {
		case end < 0 && before == "":
			return ""
		case end < 0:
			line = strings.TrimRight(before, ";")
		case before == "":
			line = strings.TrimLeft(line[i+end+1:], " ")
		default:
			line = strings.TrimRight(before, ";") + line[i+end:]
		}
		start = 0
	}
	return line
}
