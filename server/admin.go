package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// The admin listener: /healthz, /readyz with its parallel checks, /metrics.

// AdminHandler serves /healthz (alive), /readyz (stores and upstream
// reachable) and /metrics, for the admin listener.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.Handler())
	return mux
}

// ServeAdmin runs the admin listener until ctx ends.
func (s *Server) ServeAdmin(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		// Keep answering (/readyz: 503, draining) until the public
		// listener has drained.
		select {
		case <-s.served:
		case <-time.After(s.cfg.Server.DrainDelay + s.cfg.Server.ShutdownGrace + time.Second):
		}
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readyCheckTimeout is each /readyz check's own budget: the checks run side
// by side, so a hung store is reported as such and can't use up the
// upstream's time.
const readyCheckTimeout = 2 * time.Second

// readyz answers 200 when the stores and the upstream answer, else 503,
// with each check's own outcome: "ok", "unreachable" (it failed) or
// "timeout" (no answer within readyCheckTimeout). While draining it answers
// 503 with "draining": a load balancer stops sending new requests.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]func(context.Context) error{
		"durable_store":   s.durable.Ping,
		"ephemeral_store": s.ephemeral.Ping,
		"upstream":        s.dialUpstream,
	}
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
			defer cancel()
			res := make(chan error, 1)
			go func() { res <- check(ctx) }() // a check that ignores ctx can't hold the answer
			var state string
			select {
			case err := <-res:
				switch {
				case err == nil:
					state = "ok"
				case ctx.Err() != nil:
					state = "timeout"
				default:
					state = "unreachable"
				}
			case <-ctx.Done():
				state = "timeout"
			}
			mu.Lock()
			out[name] = state
			mu.Unlock()
		}()
	}
	wg.Wait()
	status := http.StatusOK
	for name, v := range out {
		if v != "ok" {
			status = http.StatusServiceUnavailable
			s.log.WarnContext(r.Context(), "readiness check failed", "event", "not_ready", "check", name, "state", v)
		}
	}
	if s.draining.Load() {
		out["draining"] = "true"
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(out)
}

// dialUpstream checks that the upstream accepts a TCP connection.
func (s *Server) dialUpstream(ctx context.Context) error {
	host := s.upstream.Host
	if s.upstream.Port() == "" {
		port := "80"
		if s.upstream.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(s.upstream.Hostname(), port)
	}
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return c.Close()
}
