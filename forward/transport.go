package forward

import (
	"net"
	"net/http"
	"time"

	"github.com/vestibule-gw/vestibule/config/defaults"
)

// TransportOptions tunes the upstream Transport. Zero values take the
// defaults named per field.
type TransportOptions struct {
	// DialTimeout bounds connecting to the app (0: defaults.DialTimeout).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for the app's answer headers
	// (0: defaults.ResponseTimeout). Streaming bodies are not limited by it.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerHost is the pool of kept-alive connections to the app
	// (0: defaults.MaxIdleConnsPerHost). Go's default of 2 collapses throughput under load.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes idle connections (0: defaults.IdleConnTimeout).
	IdleConnTimeout time.Duration
}

// NewTransport returns a Transport for one upstream host: no proxy from the
// environment, bounded dial and header waits, a large idle pool.
func NewTransport(o TransportOptions) *http.Transport {
	if o.DialTimeout <= 0 {
		o.DialTimeout = defaults.DialTimeout
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = defaults.ResponseTimeout
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = defaults.MaxIdleConnsPerHost
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = defaults.IdleConnTimeout
	}
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          o.MaxIdleConnsPerHost * 2,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		IdleConnTimeout:       o.IdleConnTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ForceAttemptHTTP2:     true,
		// Encodings pass through untouched: the client gets the bytes the
		// app sent, and asks for gzip itself if it wants it.
		DisableCompression: true,
	}
}
