package open

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sqlite"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

// TestSelection: which backend each store section opens.
func TestSelection(t *testing.T) {
	ctx := t.Context()
	cases := []struct {
		name      string
		ephemeral string
		wantEph   string
		inProcess bool
	}{
		{"sqlite file for both", "sqlite", "*sqlite.Ephemeral", false},
		{"memory ephemeral", "memory", "*memory.Store", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(config.Store{SQLite: filepath.Join(t.TempDir(), "v.db"), Ephemeral: tc.ephemeral}, Options{})
			defer s.Close()
			d, err := s.Durable(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := d.(*sqlite.DB); !ok {
				t.Errorf("durable store is %T, want the SQLite file", d)
			}
			e, err := s.Ephemeral(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", e); got != tc.wantEph {
				t.Errorf("ephemeral store is %s, want %s", got, tc.wantEph)
			}
			if s.InProcess() != tc.inProcess {
				t.Errorf("InProcess = %v", s.InProcess())
			}
			_, err = s.Shared(ctx)
			if tc.inProcess != errors.Is(err, ErrInProcess) {
				t.Errorf("Shared: %v (in process: %v)", err, tc.inProcess)
			}
		})
	}
}

// TestOneSQLiteHandle: the durable and ephemeral stores in one file share
// one handle: a revocation the ephemeral store writes and an enrollment
// the durable one writes are both in the file after Close.
func TestOneSQLiteHandle(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v.db")
	c := storetest.NewClock()
	s := New(config.Store{SQLite: path, Ephemeral: "sqlite"}, Options{Now: c.Now})
	d, errD := s.Durable(ctx)
	e, errE := s.Ephemeral(ctx)
	if errD != nil || errE != nil {
		t.Fatalf("opening: %v, %v", errD, errE)
	}
	if d2, _ := s.Durable(ctx); d2 != d {
		t.Error("a second Durable opened the file again")
	}
	now := c.Now()
	if err := d.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	if err := e.Revoke(ctx, [32]byte{1}, now, now.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, path, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Enrollment(ctx, "alice"); err != nil {
		t.Errorf("enrollment: %v", err)
	}
	eph, err := db.Ephemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := eph.RevokedAt([32]byte{1}); !ok {
		t.Error("revocation not in the file")
	}
}

// TestErrorsNameTheKey: a failure says which store setting was wrong.
func TestErrorsNameTheKey(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	cases := []struct {
		name string
		cfg  config.Store
		open func(*Stores) error
		want string
	}{
		{"sqlite in a missing directory", config.Store{SQLite: filepath.Join(dir, "no", "v.db")},
			func(s *Stores) error { _, err := s.Durable(ctx); return err }, "store.sqlite"},
		{"postgres URL", config.Store{Postgres: "postgres://u:s3cret@127.0.0.1:1/db?sslmode=bogus"},
			func(s *Stores) error { _, err := s.Durable(ctx); return err }, "store.postgres"},
		{"redis CA file missing", config.Store{Redis: "rediss://127.0.0.1:1", RedisCAFile: filepath.Join(dir, "none.pem")},
			func(s *Stores) error { _, err := s.Ephemeral(ctx); return err }, "store.redis_ca_file"},
		{"redis CA file not PEM", config.Store{Redis: "rediss://127.0.0.1:1", RedisCAFile: notPEM},
			func(s *Stores) error { _, err := s.Ephemeral(ctx); return err }, "store.redis_ca_file"},
		{"redis URL", config.Store{Redis: "http://nope"},
			func(s *Stores) error { _, err := s.Ephemeral(ctx); return err }, "store.redis"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.cfg, Options{})
			defer s.Close()
			err := tc.open(s)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want+":") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("err = %v, want it to start with %q (and no password)", err, tc.want)
			}
		})
	}
}
