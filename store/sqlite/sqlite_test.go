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
