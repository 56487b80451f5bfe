// Package clientip decides a request's client address: the connection's
// peer, unless that peer is a configured trusted proxy, in which case the
// nearest untrusted address in X-Forwarded-For. Forwarding headers from
// anyone else are ignored, so a client can't choose its own address (and
// so its own attempt budget).
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver resolves client addresses.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver trusting the given proxies (CIDRs or single
// addresses). An error names the bad entry.
func New(trusted []string) (*Resolver, error) {
	r := &Resolver{}
	for i, s := range trusted {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %w", i, err)
		}
		r.trusted = append(r.trusted, p)
	}
	return r, nil
}

// ParsePrefix parses "10.0.0.0/8" or a single address "10.0.0.1".
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR or IP address: %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a CIDR or IP address: %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Peer is the connection's remote address, without port.
func Peer(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}

// ClientIP returns the request's client address as a string.
func (r *Resolver) ClientIP(req *http.Request) string {
	ip, _ := r.resolve(req)
	return ip
}

// resolve returns the client address and, when the peer is trusted, the
// index into the X-Forwarded-For list where the client was found (-1: the
// peer itself is the client).
func (r *Resolver) resolve(req *http.Request) (string, int) {
	peer := Peer(req)
	if r == nil || len(r.trusted) == 0 {
		return peer, -1
	}
	pa, err := netip.ParseAddr(peer)
	if err != nil || !r.isTrusted(pa) {
		return peer, -1
	}
	hops := forwardedFor(req.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			// A malformed entry: nothing left of it can be believed.
			return peer, -1
		}
		if !r.isTrusted(a) {
			return a.Unmap().String(), i
		}
	}
	if len(hops) > 0 {
		a, _ := netip.ParseAddr(hops[0])
		return a.Unmap().String(), 0
	}
	return peer, -1
}

func forwardedFor(h http.Header) []string {
	var out []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// ForwardedFor is the X-Forwarded-For value the gateway sends upstream:
// the chain from the client onwards as far as it is trusted, then the peer.
// Entries a client wrote itself are dropped.
func (r *Resolver) ForwardedFor(req *http.Request) string {
	peer := Peer(req)
	_, i := r.resolve(req)
	if i < 0 {
		return peer
	}
	hops := forwardedFor(req.Header)
	return strings.Join(append(hops[i:len(hops):len(hops)], peer), ", ")
}

// TrustedPeer reports whether the connection comes from a trusted proxy
// (whose X-Forwarded-Proto and -Host may be believed).
func (r *Resolver) TrustedPeer(req *http.Request) bool {
	if r == nil || len(r.trusted) == 0 {
		return false
	}
	a, err := netip.ParseAddr(Peer(req))
	return err == nil && r.isTrusted(a)
}
