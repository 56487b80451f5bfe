package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/internal/testsvc"
	"github.com/vestibule-gw/vestibule/store/sqlstore"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

// v1Schema is the schema a database written by the releases before
// store/sqlstore has: their three migrations, one statement a line.
const v1Schema = `CREATE TABLE vestibule_enrollments (username TEXT PRIMARY KEY, totp_secret BYTEA NOT NULL, last_step BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, last_used BIGINT NOT NULL DEFAULT 0, devices_revoked BIGINT NOT NULL DEFAULT 0);
CREATE TABLE vestibule_recovery_codes (username TEXT NOT NULL REFERENCES vestibule_enrollments(username) ON DELETE CASCADE, hash BYTEA NOT NULL, used_at BIGINT, PRIMARY KEY (username, hash));
ALTER TABLE vestibule_enrollments ADD COLUMN phone TEXT NOT NULL DEFAULT '';
CREATE TABLE vestibule_devices (username TEXT NOT NULL, id TEXT NOT NULL, created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL, last_ip TEXT NOT NULL, user_agent TEXT NOT NULL, PRIMARY KEY (username, id));
CREATE TABLE vestibule_schema (version INT NOT NULL);
INSERT INTO vestibule_schema (version) VALUES (3);`

// TestMigratesV1Database: a database with the v1 schema and rows in it is
// migrated forward on open, and every row reads back through the new store.
func TestMigratesV1Database(t *testing.T) {
	ctx := context.Background()
	url := testsvc.Postgres(t)
	old, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t0 := storetest.V1Time
	ns := t0.UnixNano()
	if _, err := old.ExecContext(ctx, v1Schema); err != nil {
		t.Fatalf("v1 fixture: %v", err)
	}
	for _, q := range []string{
		`INSERT INTO vestibule_enrollments (username, totp_secret, last_step, created_at, last_used, devices_revoked, phone)
			VALUES ('alice', 'SEALED', 42, $1, $1, $1, 'sealed:abc')`,
		`INSERT INTO vestibule_recovery_codes (username, hash) VALUES ('alice', '\x01'), ('alice', '\x02')`,
		`INSERT INTO vestibule_recovery_codes (username, hash, used_at) VALUES ('alice', '\x03', $1)`,
		`INSERT INTO vestibule_devices (username, id, created_at, last_seen, last_ip, user_agent) VALUES ('alice', 'd1', $1, $1, '192.0.2.1', 'Firefox')`,
	} {
		args := []any{ns}
		if !bytes.Contains([]byte(q), []byte("$1")) {
			args = nil
		}
		if _, err := old.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("v1 fixture: %v\n%s", err, q)
		}
	}
	old.Close()

	db, err := Open(ctx, url, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.db.QueryRowContext(ctx, `SELECT version FROM vestibule_schema`).Scan(&v); err != nil || v != sqlstore.Postgres.Version() {
		t.Fatalf("schema version %d (%v), want %d", v, err, sqlstore.Postgres.Version())
	}
	storetest.MigratedV1(t, db)
}
