package forward

import (
	"net"
	"net/http"
	"time"

	"github.com/vestibule-gw/vestibule/config"
)

// TransportOptions tunes the upstream Transport. Zero values take the
// defaults named per field.
type TransportOptions struct {
	// DialTimeout bounds connecting to the app (0: config.DefaultDialTimeout).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for the app's answer headers
	// (0: config.DefaultResponseTimeout). Streaming bodies are not limited by it.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerHost is the pool of kept-alive connections to the app
	// (0: config.DefaultMaxIdleConnsPerHost). Go's default of 2 collapses throughput under load.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes idle connections (0: config.DefaultIdleConnTimeout).
	IdleConnTimeout time.Duration
}

// NewTransport returns a Transport for one upstream host: no proxy from the
// environment, bounded dial and header waits, a large idle pool.
func NewTransport(o TransportOptions) *http.Transport {
	if o.DialTimeout <= 0 {
		o.DialTimeout = config.DefaultDialTimeout
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = config.DefaultResponseTimeout
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = config.DefaultMaxIdleConnsPerHost
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = config.DefaultIdleConnTimeout
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
