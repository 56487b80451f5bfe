package sqlstore

import (
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/vestibule-gw/vestibule/internal/testsvc"
	"github.com/vestibule-gw/vestibule/store"
)

// TestSignInsTrimmed: what the interface cannot show (SignIns lists at
// most SignInsKept anyway): the table itself keeps no more than
// SignInsKept rows per user, also when sign-ins are recorded concurrently.
func TestSignInsTrimmed(t *testing.T) {
	dbs := map[*Dialect]func(t *testing.T) (string, string){
		SQLite: func(t *testing.T) (string, string) {
			return "sqlite", "file:" + filepath.Join(t.TempDir(), "v.db") + "?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		},
		Postgres: func(t *testing.T) (string, string) { return "pgx", testsvc.Postgres(t) },
	}
	for d, source := range dbs {
		t.Run(d.Name(), func(t *testing.T) {
			driver, dsn := source(t)
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(t.Context(), db, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			var wg sync.WaitGroup
			for i := range 3 * store.SignInsKept {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := s.AddSignIn(t.Context(), store.SignIn{User: "alice", At: t0.Add(time.Duration(i) * time.Second), Factor: "totp"}); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			var n int
			var oldest int64
			if err := db.QueryRowContext(t.Context(), d.Q(`SELECT count(*), min(at) FROM vestibule_sign_ins WHERE username = ?`), "alice").Scan(&n, &oldest); err != nil {
				t.Fatal(err)
			}
			if n != store.SignInsKept || !Time(oldest).Equal(t0.Add(2*store.SignInsKept*time.Second)) {
				t.Errorf("%d rows kept, oldest %v; want %d, the newest", n, Time(oldest), store.SignInsKept)
			}
		})
	}
}
