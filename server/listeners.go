package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/vestibule-gw/vestibule/config/defaults"
)

// Draining reports whether a shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// Serve runs the public listener until ctx ends, then drains:
//
//  1. /readyz answers 503 for server.drain_delay while the listener still
//     serves, so load balancers take this replica out of rotation;
//  2. the listener stops accepting; idle connections close;
//  3. requests in flight get server.shutdown_grace to finish; those still
//     running then are cut.
//
// Each step is logged with what it drained.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.serveOnce.Do(func() { close(s.served) })
	var active atomic.Int64
	var served atomic.Int64
	inner := s.handler
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		served.Add(1)
		inner.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: s.cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.Server.ReadTimeout,
		WriteTimeout:      s.cfg.Server.WriteTimeout,
		IdleTimeout:       s.cfg.Server.IdleTimeout,
		MaxHeaderBytes:    s.cfg.Server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var conns atomic.Int64
	srv.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}
	if s.cfg.Server.TLSCertFile != "" {
		if err := s.ReloadTLS(); err != nil {
			return err
		}
		// HTTP/2 is offered by ALPN; TLS 1.2 is the floor. The certificate
		// is looked up per handshake, so ReloadTLS swaps it without
		// dropping connections.
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	began := time.Now()
	s.draining.Store(true)
	delay := s.cfg.Server.DrainDelay
	s.log.Info("shutting down: reporting unready, still serving", "event", "shutdown_begun",
		"cause", context.Cause(ctx).Error(), "drain_delay", delay.String(), "in_flight", active.Load(), "connections", conns.Load())
	if delay > 0 {
		select {
		case <-time.After(delay):
		case err := <-errc:
			return err
		}
	}
	grace := s.cfg.Server.ShutdownGrace
	if grace <= 0 {
		grace = defaults.ShutdownGrace
	}
	inFlight, open := active.Load(), conns.Load()
	s.log.Info("shutting down: listener closed, finishing requests in flight", "event", "shutdown_draining",
		"in_flight", inFlight, "connections", open, "grace", grace.String(), "served", served.Load())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		cut := active.Load()
		srv.Close()
		s.log.Error("shutting down: grace period over, requests cut", "event", "shutdown_cut",
			"cut", cut, "finished", inFlight-cut, "took", time.Since(began).Round(time.Millisecond).String())
		return fmt.Errorf("shutting down: %d requests still running after server.shutdown_grace %s: %w", cut, grace, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("shut down: every request in flight finished", "event", "shutdown_done",
		"finished", inFlight, "served", served.Load(), "took", time.Since(began).Round(time.Millisecond).String())
	return nil
}

// RedirectHandler answers plain-HTTP requests with a permanent redirect to
// the public https URL (server.http_redirect_listen).
func (s *Server) RedirectHandler() http.Handler {
	pub, _ := url.Parse(s.cfg.PublicURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := *pub
		target.Path, target.RawQuery = r.URL.Path, r.URL.RawQuery
		http.Redirect(w, r, target.String(), http.StatusPermanentRedirect)
	})
}
