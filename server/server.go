package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vestibule-gw/vestibule/account"
	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/metrics"
	"github.com/vestibule-gw/vestibule/parseguard"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/open"
)

// Deps are the parts a Server can be given instead of building them from
// the config (tests inject clocks and stores). Zero values: built from cfg.
type Deps struct {
	Now       func() time.Time
	Random    io.Reader
	Logger    *slog.Logger
	Durable   store.Durable
	Ephemeral store.Ephemeral
	Transport http.RoundTripper
}

// Server is an assembled gateway.
type Server struct {
	cfg       *config.Config
	handler   http.Handler
	log       *slog.Logger
	durable   store.Durable
	ephemeral store.Ephemeral
	bounded   *boundedEphemeral // ephemeral as the request paths see it
	owned     []io.Closer
	draining  atomic.Bool   // SIGTERM: /readyz says 503 while in-flight work ends
	served    chan struct{} // closed when Serve has drained and returned
	serveOnce sync.Once
	// revSyncedAt is when revocations were last read from the SQLite file
	// (janitor goroutine only).
	revSyncedAt time.Time

	upstream  *url.URL
	transport http.RoundTripper
	metrics   *metrics.Metrics
	px        *cookieguard.Proxy
	guard     *parseguard.Guard // nil unless parse.enabled
	logins    *held.Logins
	ch        *challenge.Handler
	acct      *account.Handler
	reg       *regulate.Regulator
	now       func() time.Time
	stop      chan struct{}
	stopped   chan struct{}
	cert      atomic.Pointer[tls.Certificate]
	closeOnce sync.Once
}

// openStores opens the stores the config names (store/open), those not
// given in d. The factory is in s.owned, so Close (and New failing later)
// releases what it opened.
func (s *Server) openStores(ctx context.Context, cfg *config.Config, d Deps) error {
	stores := open.New(cfg.Store, open.Options{Now: d.Now, Logger: d.Logger})
	s.owned = append(s.owned, stores)
	s.durable, s.ephemeral = d.Durable, d.Ephemeral
	var err error
	if s.durable == nil {
		if s.durable, err = stores.Durable(ctx); err != nil {
			return err
		}
	}
	if s.ephemeral == nil {
		if s.ephemeral, err = stores.Ephemeral(ctx); err != nil {
			return err
		}
	}
	return nil
}

// WaitBackground waits for the Parse sessions the guard is ending in the
// background (tests; Close waits too).
func (s *Server) WaitBackground() {
	if s.guard != nil {
		s.guard.Wait()
	}
}

// Handler is the gateway's public handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Durable and Ephemeral expose the stores (admin commands and tests).
func (s *Server) Durable() store.Durable     { return s.durable }
func (s *Server) Ephemeral() store.Ephemeral { return s.ephemeral }

// Close stops the janitor and releases the stores the server opened itself.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.stopped
		}
		s.WaitBackground()
	})
	var errs []error
	for _, c := range s.owned {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
