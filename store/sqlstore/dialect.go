package sqlstore

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vestibule-gw/vestibule/store"
)

//go:embed migrations
var migrationFiles embed.FS

// Dialect is what differs between the SQL databases the store runs on: the
// migrations, where the schema version is kept, how migrations are
// serialised, the placeholder style and how errors are described. The
// queries themselves are the same for all.
type Dialect struct {
	name         string
	dir          string // under migrations/
	versionTable string
	// lock, when set, runs first in the migration transaction (replicas
	// starting together migrate once).
	lock string
	// numbered: placeholders are $1, $2, ... instead of ?.
	numbered bool
	// userLock, when set, serialises one user's writes that read what
	// they change (trimming the sign-ins) in a transaction; its one
	// parameter is the user. SQLite needs none: a write transaction holds
	// the file's write lock from BEGIN.
	userLock string

	rebound sync.Map // query with ? -> query for this dialect
}

var (
	// SQLite is the embedded file (modernc.org/sqlite). Its migrations also
	// create the tables of the SQLite ephemeral store, which lives in the
	// same file.
	SQLite = &Dialect{name: "sqlite", dir: "sqlite", versionTable: "schema_version"}
	// Postgres is PostgreSQL (pgx through database/sql), shared by replicas.
	Postgres = &Dialect{name: "postgres", dir: "postgres", versionTable: "vestibule_schema",
		lock:     `SELECT pg_advisory_xact_lock(1986359156)`, // 0x76657374, "vest"
		numbered: true, userLock: `SELECT pg_advisory_xact_lock(hashtextextended(?::text, 1986359156))`}
)

// Name is the dialect's name ("sqlite", "postgres"), which starts its errors.
func (d *Dialect) Name() string { return d.name }

// Q returns query, written with ? placeholders, in the dialect's style.
func (d *Dialect) Q(query string) string {
	if !d.numbered {
		return query
	}
	if q, ok := d.rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	d.rebound.Store(query, b.String())
	return b.String()
}

// Unavailable wraps a backend failure as store.ErrUnavailable, saying what
// was being done. A PostgreSQL error is reduced to its message and code
// (pgconn errors never carry the password; connection strings are not
// passed here).
func (d *Dialect) Unavailable(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %s: %w: %s (SQLSTATE %s)", d.name, op, store.ErrUnavailable, pe.Message, pe.Code)
	}
	return fmt.Errorf("%s: %s: %w: %w", d.name, op, store.ErrUnavailable, err)
}

// migration is one versioned SQL file, migrations/<dialect>/NNNN_what.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the dialect's migrations in order. Their numbers run
// 1, 2, 3, ... without a gap: a released file is never edited, a change is
// a new file.
func (d *Dialect) migrations() ([]migration, error) {
	dir := "migrations/" + d.dir
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("%s: migration %s: want NNNN_what.sql", d.name, e.Name())
		}
		if v != len(out)+1 {
			return nil, fmt.Errorf("%s: migration %s: want number %d", d.name, e.Name(), len(out)+1)
		}
		b, err := fs.ReadFile(migrationFiles, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	return out, nil
}

// Version is the schema version this build migrates to: the number of the
// dialect's migrations.
func (d *Dialect) Version() int {
	all, err := d.migrations()
	if err != nil {
		return 0
	}
	return len(all)
}
