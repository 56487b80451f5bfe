package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sqlstore"
)

// DB is the SQLite durable store.
type DB struct {
	*sqlstore.Store
	db  *sql.DB
	now func() time.Time
}

var (
	_ store.Durable   = (*DB)(nil)
	_ store.DeviceLog = (*DB)(nil)
)

// Open opens (creating if needed, mode 0600) the SQLite file at path and
// brings its schema up to date.
func Open(ctx context.Context, path string, now func() time.Time) (*DB, error) {
	if now == nil {
		now = time.Now
	}
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("sqlite: directory of %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(5000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	// Every read-write transaction here writes: take the write lock at
	// BEGIN (waiting up to busy_timeout) rather than at the first write,
	// where a read snapshot that another writer has overtaken fails at once
	// with SQLITE_BUSY (seen with several handles migrating a new file).
	// Read-only transactions stay deferred.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w: %w", path, store.ErrUnavailable, err)
	}
	st, err := sqlstore.New(ctx, db, sqlstore.SQLite, now)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &DB{Store: st, db: db, now: now}
	// The -wal and -shm files appear on first write; keep them private too.
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Chmod(path+suffix, 0o600)
	}
	return s, nil
}

func unavailable(op string, err error) error { return sqlstore.SQLite.Unavailable(op, err) }
