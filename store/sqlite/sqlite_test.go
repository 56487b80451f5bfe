package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sqlstore"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

func open(t *testing.T, path string, now func() time.Time) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDurable(t *testing.T) {
	storetest.Durable(t, func(t *testing.T, now func() time.Time) store.Durable {
		return open(t, filepath.Join(t.TempDir(), "v.db"), now)
	})
}

func TestEphemeral(t *testing.T) {
	storetest.Ephemeral(t, func(t *testing.T, now func() time.Time) store.Ephemeral {
		db := open(t, filepath.Join(t.TempDir(), "v.db"), now)
		e, err := db.Ephemeral(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}

// TestHeldLoginsSurviveRestart: a held login, a ban and a revocation are
// still there after the process (the DB) is reopened.
func TestHeldLoginsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	c := storetest.NewClock()
	path := filepath.Join(t.TempDir(), "v.db")
	db := open(t, path, c.Now)
	e, _ := db.Ephemeral(ctx)
	e.CreateHeld(ctx, &store.Held{ID: "h1", User: "alice", Session: map[string]string{"s": "v"}, Expires: c.Now().Add(5 * time.Minute)})
	e.HeldAttempt(ctx, "h1")
	e.Ban(ctx, "user:bob", c.Now().Add(time.Hour))
	e.Revoke(ctx, [32]byte{7}, c.Now(), c.Now().Add(time.Hour))
	db.Close()

	db2 := open(t, path, c.Now)
	e2, err := db2.Ephemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := e2.Held(ctx, "h1")
	if err != nil || h.User != "alice" || h.Attempts != 1 || h.Session["s"] != "v" {
		t.Fatalf("held login after restart: %+v %v", h, err)
	}
	if _, banned, _ := e2.BannedUntil(ctx, "user:bob", c.Now()); !banned {
		t.Error("ban lost in the restart")
	}
	if _, ok := e2.RevokedAt([32]byte{7}); !ok {
		t.Error("revocation lost in the restart")
	}
}

func TestFileIsPrivateAndSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v.db")
	db := open(t, path, time.Now)
	err := db.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte("sealed"), RecoveryHashes: [][]byte{[]byte("h1"), []byte("h2")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.UseTOTPStep(ctx, "alice", 7, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	db.Close()
	// Reopening runs the migrations again: a no-op.
	db2 := open(t, path, time.Now)
	e, err := db2.Enrollment(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if e.LastStep != 7 || len(e.RecoveryHashes) != 2 {
		t.Errorf("after reopen: %+v", e)
	}
	if err := db2.UseTOTPStep(ctx, "alice", 7, time.Now()); !errors.Is(err, store.ErrReplay) {
		t.Errorf("replay after reopen: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(context.Background(), filepath.Join(dir, "missing", "v.db"), nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing directory: %v", err)
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("this is not a database\n", 300)), 0o600)
	_, err := Open(context.Background(), junk, nil)
	if err == nil || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("corrupt file: %v", err)
	}
}

func TestClosedDBIsUnavailable(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "v.db"), time.Now)
	db.Close()
	if _, err := db.Enrollment(context.Background(), "alice"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("closed db: %v, want ErrUnavailable", err)
	}
	if err := db.Ping(context.Background()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping on closed db: %v", err)
	}
}

// TestMigrationsIdempotent: reopening applies nothing twice and leaves one
// schema_version row at the latest version.
func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v.db")
	for i := range 3 {
		db, err := Open(ctx, path, nil)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		var rows, v int
		if err := db.db.QueryRowContext(ctx, `SELECT count(*), max(version) FROM schema_version`).Scan(&rows, &v); err != nil {
			t.Fatal(err)
		}
		if rows != 1 || v != sqlstore.SQLite.Version() {
			t.Errorf("open #%d: %d schema_version rows, version %d (want 1, %d)", i+1, rows, v, sqlstore.SQLite.Version())
		}
		if i == 0 {
			if err := db.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte("s")}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Enrollment(ctx, "alice"); err != nil {
			t.Errorf("open #%d: %v", i+1, err)
		}
		db.Close()
	}
}

// TestNewerSchemaRefused: a file migrated by a newer build is not touched.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v.db")
	db := open(t, path, nil)
	if _, err := db.db.ExecContext(ctx, `UPDATE schema_version SET version = ?`, sqlstore.SQLite.Version()+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, path, nil); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer schema: %v", err)
	}
}

// TestConcurrentOpen: several processes (here: handles) opening a new file
// at once all succeed and migrate it once.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v.db")
	const n = 8
	errs := make(chan error, n)
	dbs := make(chan *DB, n)
	for range n {
		go func() {
			db, err := Open(ctx, path, nil)
			errs <- err
			dbs <- db
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		if db := <-dbs; db != nil {
			defer db.Close()
		}
	}
	db := open(t, path, nil)
	var v int
	db.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if v != sqlstore.SQLite.Version() {
		t.Errorf("version %d, want %d", v, sqlstore.SQLite.Version())
	}
}

// TestPragmas: every pooled connection runs in WAL mode with foreign keys
// (which Enroll and Reset rely on to drop recovery codes) and a busy timeout.
func TestPragmas(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "v.db"), nil)
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 3 { // distinct connections from the pool
		conn, err := db.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		var mode string
		var fk, busy, sync int
		for q, dst := range map[string]any{"journal_mode": &mode, "foreign_keys": &fk, "busy_timeout": &busy, "synchronous": &sync} {
			if err := conn.QueryRowContext(ctx, "PRAGMA "+q).Scan(dst); err != nil {
				t.Fatalf("PRAGMA %s: %v", q, err)
			}
		}
		if mode != "wal" || fk != 1 || busy != 5000 || sync != 1 {
			t.Errorf("connection %d: journal_mode %s, foreign_keys %d, busy_timeout %d, synchronous %d", i, mode, fk, busy, sync)
		}
	}
}

// TestExistingFileMadePrivate: a file created beforehand with a looser mode
// is narrowed to 0600.
func TestExistingFileMadePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	open(t, path, nil)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestOddPath: a path needing escaping in a file: URI still names the file.
func TestOddPath(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a dir #1 ?x=y %20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "v&w.db")
	db := open(t, path, nil)
	if err := db.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	entries, _ := os.ReadDir(dir)
	found := false
	for _, e := range entries {
		found = found || e.Name() == "v&w.db"
	}
	if !found {
		t.Fatalf("database not at %s; directory holds %v", path, entries)
	}
	if _, err := open(t, path, nil).Enrollment(ctx, "alice"); err != nil {
		t.Errorf("reopened: %v", err)
	}
}
