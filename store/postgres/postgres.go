// Package postgres opens the durable store on PostgreSQL (pgx through
// database/sql), for several gateway replicas sharing enrollments. The
// store itself is store/sqlstore's, with the PostgreSQL dialect:
// migrations run at start under an advisory lock, so replicas starting
// together apply each one once; every consuming operation is one
// conditional UPDATE.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sqlstore"
)

// DB is the PostgreSQL durable store.
type DB struct {
	*sqlstore.Store
	db *sql.DB
}

var (
	_ store.Durable   = (*DB)(nil)
	_ store.DeviceLog = (*DB)(nil)
)

// Open connects to url (a postgres:// URL; credentials and TLS settings as
// libpq takes them, e.g. sslmode=verify-full&sslrootcert=...) and migrates.
func Open(ctx context.Context, url string, now func() time.Time) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL with its password: don't pass it on.
		return nil, errors.New("postgres: the URL is not a valid connection string")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxIdleConns(8) // replicas keep a few connections warm, as pgxpool did
	st, err := sqlstore.New(ctx, db, sqlstore.Postgres, now)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &DB{Store: st, db: db}, nil
}
