// Package open is the one place that turns a config's store section into
// stores: the durable store (store.postgres, else the SQLite file) and the
// ephemeral store (store.redis, else the SQLite file or process memory as
// store.ephemeral says). The gateway and the administrator commands both
// open their stores here, so they always agree on where state lives.
package open

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/store/postgres"
	"github.com/vestibule-gw/vestibule/store/redis"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

// ErrInProcess: the ephemeral store is the gateway's memory
// (store.ephemeral: memory), which no other process can reach.
var ErrInProcess = errors.New("bans and revocations are kept in the gateway's memory (store.ephemeral: memory), out of reach of this command; " +
	"use store.ephemeral: sqlite (the default) or store.redis")

// Options are what the opened stores are given besides the config.
type Options struct {
	// Now is the stores' clock (nil: time.Now).
	Now func() time.Time
	// Logger gets the Redis store's warnings (nil: slog.Default()).
	Logger *slog.Logger
}

// Stores opens the backends of one store section, each once: the SQLite
// file is opened once when both stores live in it. Close closes everything
// it opened.
type Stores struct {
	cfg     config.Store
	o       Options
	lite    *sqlite.DB
	closers []io.Closer
}

// New returns the opener of cfg's stores; nothing is opened yet.
func New(cfg config.Store, o Options) *Stores {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Stores{cfg: cfg, o: o}
}

func (s *Stores) sqlite(ctx context.Context) (*sqlite.DB, error) {
	if s.lite != nil {
		return s.lite, nil
	}
	db, err := sqlite.Open(ctx, s.cfg.SQLite, s.o.Now)
	if err != nil {
		return nil, fmt.Errorf("store.sqlite: opening %q: %w", s.cfg.SQLite, err)
	}
	s.lite = db
	s.closers = append(s.closers, db)
	return db, nil
}

// Durable opens the durable store: PostgreSQL when store.postgres is set,
// else the SQLite file.
func (s *Stores) Durable(ctx context.Context) (store.Durable, error) {
	if s.cfg.Postgres == "" {
		return s.sqlite(ctx)
	}
	db, err := postgres.Open(ctx, s.cfg.Postgres, s.o.Now)
	if err != nil {
		return nil, fmt.Errorf("store.postgres: %w", err)
	}
	s.closers = append(s.closers, db)
	return db, nil
}

// InProcess reports whether the ephemeral store is the process's memory.
func (s *Stores) InProcess() bool { return s.cfg.Redis == "" && s.cfg.Ephemeral != "sqlite" }

// Ephemeral opens the ephemeral store: Redis when store.redis is set, else
// the SQLite file (store.ephemeral: sqlite) or a new in-memory store.
func (s *Stores) Ephemeral(ctx context.Context) (store.Ephemeral, error) {
	switch {
	case s.cfg.Redis != "":
		return s.redis(ctx)
	case s.cfg.Ephemeral == "sqlite":
		db, err := s.sqlite(ctx)
		if err != nil {
			return nil, err
		}
		e, err := db.Ephemeral(ctx)
		if err != nil {
			return nil, fmt.Errorf("store.sqlite: %w", err)
		}
		return e, nil
	}
	m := memory.New(s.o.Now)
	s.closers = append(s.closers, m)
	return m, nil
}

// Shared opens the ephemeral store other processes share with the
// gateway (an administrator's command lifting a ban): ErrInProcess when
// it is the gateway's memory.
func (s *Stores) Shared(ctx context.Context) (store.Ephemeral, error) {
	if s.InProcess() {
		return nil, ErrInProcess
	}
	return s.Ephemeral(ctx)
}

func (s *Stores) redis(ctx context.Context) (store.Ephemeral, error) {
	o := redis.Options{URL: s.cfg.Redis, Prefix: s.cfg.RedisPrefix, Now: s.o.Now, Logger: s.o.Logger}
	if s.cfg.RedisCAFile != "" {
		pem, err := os.ReadFile(s.cfg.RedisCAFile)
		if err != nil {
			return nil, fmt.Errorf("store.redis_ca_file: %w", err)
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store.redis_ca_file: %s holds no PEM certificate", s.cfg.RedisCAFile)
		}
	}
	rs, err := redis.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("store.redis: %w", err)
	}
	s.closers = append(s.closers, rs)
	return rs, nil
}

// Close closes every store opened, the last opened first.
func (s *Stores) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i].Close())
	}
	s.closers, s.lite = nil, nil
	return errors.Join(errs...)
}
