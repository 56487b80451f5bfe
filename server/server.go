package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/held"
	"github.com/vestibule-gw/vestibule/metrics"
	"github.com/vestibule-gw/vestibule/parseguard"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/store/postgres"
	"github.com/vestibule-gw/vestibule/store/redis"
	"github.com/vestibule-gw/vestibule/store/sqlite"
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
	reg       *regulate.Regulator
	now       func() time.Time
	stop      chan struct{}
	stopped   chan struct{}
	cert      atomic.Pointer[tls.Certificate]
	closeOnce sync.Once
}

// openStores opens the stores the config names (those not given in d):
// each one opened is in s.owned, so Close (and New failing later) releases
// it.
func (s *Server) openStores(ctx context.Context, cfg *config.Config, d Deps) error {
	s.durable = d.Durable
	var lite *sqlite.DB // the SQLite file, when one is open
	openLite := func() (*sqlite.DB, error) {
		if lite != nil {
			return lite, nil
		}
		db, err := sqlite.Open(ctx, cfg.Store.SQLite, d.Now)
		if err != nil {
			return nil, fmt.Errorf("store.sqlite: opening %q: %w", cfg.Store.SQLite, err)
		}
		lite = db
		s.owned = append(s.owned, db)
		return db, nil
	}
	if s.durable == nil {
		if cfg.Store.Postgres != "" {
			db, err := postgres.Open(ctx, cfg.Store.Postgres, d.Now)
			if err != nil {
				return fmt.Errorf("store.postgres: %w", err)
			}
			s.durable = db
			s.owned = append(s.owned, db)
		} else {
			db, err := openLite()
			if err != nil {
				return err
			}
			s.durable = db
		}
	}
	s.ephemeral = d.Ephemeral
	if s.ephemeral == nil {
		switch {
		case cfg.Store.Redis != "":
			o := redis.Options{URL: cfg.Store.Redis, Prefix: cfg.Store.RedisPrefix, Now: d.Now, Logger: d.Logger}
			if cfg.Store.RedisCAFile != "" {
				pem, err := os.ReadFile(cfg.Store.RedisCAFile)
				if err != nil {
					return fmt.Errorf("store.redis_ca_file: %w", err)
				}
				o.RootCAs = x509.NewCertPool()
				if !o.RootCAs.AppendCertsFromPEM(pem) {
					return fmt.Errorf("store.redis_ca_file: %s holds no PEM certificate", cfg.Store.RedisCAFile)
				}
			}
			rs, err := redis.Open(ctx, o)
			if err != nil {
				return fmt.Errorf("store.redis: %w", err)
			}
			s.ephemeral = rs
			s.owned = append(s.owned, rs)
		case cfg.Store.Ephemeral == "sqlite":
			db, err := openLite()
			if err != nil {
				return err
			}
			e, err := db.Ephemeral(ctx)
			if err != nil {
				return fmt.Errorf("store.sqlite: %w", err)
			}
			s.ephemeral = e
		default:
			mem := memory.New(d.Now)
			s.ephemeral = mem
			s.owned = append(s.owned, mem)
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
