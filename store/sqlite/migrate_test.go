package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store/sqlstore"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

// v1Schema is the schema a file written by the releases before
// store/sqlstore has: their six migrations' CREATE statements, one a line,
// as the file keeps them (ALTER TABLE ADD COLUMN folded into the CREATE).
const v1Schema = `CREATE TABLE enrollments (user TEXT PRIMARY KEY, totp_secret BLOB NOT NULL, last_step INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, last_used INTEGER NOT NULL DEFAULT 0, devices_revoked INTEGER NOT NULL DEFAULT 0, phone TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
CREATE TABLE recovery_codes (user TEXT NOT NULL REFERENCES enrollments(user) ON DELETE CASCADE, hash BLOB NOT NULL, used_at INTEGER, PRIMARY KEY (user, hash)) WITHOUT ROWID;
CREATE TABLE held (id TEXT PRIMARY KEY, exp INTEGER NOT NULL, data BLOB NOT NULL, n INTEGER NOT NULL DEFAULT 0, enroll BLOB, ver INTEGER NOT NULL DEFAULT 0, phone TEXT NOT NULL DEFAULT '', smsh BLOB, smssent INTEGER NOT NULL DEFAULT 0, smsexp INTEGER NOT NULL DEFAULT 0, smsn INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX held_exp ON held(exp);
CREATE TABLE hits (key TEXT PRIMARY KEY, n INTEGER NOT NULL, end_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE bans (key TEXT PRIMARY KEY, until_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE revocations (bind BLOB PRIMARY KEY, at INTEGER NOT NULL, until_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE tokens (hash BLOB PRIMARY KEY, user TEXT NOT NULL, until_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE devices (user TEXT NOT NULL, id TEXT NOT NULL, created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_ip TEXT NOT NULL, user_agent TEXT NOT NULL, PRIMARY KEY (user, id)) WITHOUT ROWID;
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (6);`

// TestMigratesV1File: a file with the v1 schema and rows in it is migrated
// forward on open, and every row reads back through the new store.
func TestMigratesV1File(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := storetest.V1Time
	ns := t0.UnixNano()
	for _, q := range []string{v1Schema,
		`INSERT INTO enrollments (user, totp_secret, last_step, created_at, last_used, devices_revoked, phone)
			VALUES ('alice', x'5345414c4544', 42, ?1, ?1, ?1, 'sealed:abc')`,
		`INSERT INTO recovery_codes (user, hash) VALUES ('alice', x'01'), ('alice', x'02')`,
		`INSERT INTO recovery_codes (user, hash, used_at) VALUES ('alice', x'03', ?1)`,
		`INSERT INTO devices (user, id, created_at, last_seen, last_ip, user_agent) VALUES ('alice', 'd1', ?1, ?1, '192.0.2.1', 'Firefox')`,
		`INSERT INTO tokens (hash, user, until_at) VALUES (zeroblob(32), 'alice', ?2)`,
		`INSERT INTO revocations (bind, at, until_at) VALUES (zeroblob(32), ?1, ?2)`,
	} {
		if _, err := old.ExecContext(ctx, q, ns, t0.Add(time.Hour).UnixNano()); err != nil {
			t.Fatalf("v1 fixture: %v\n%s", err, q)
		}
	}
	old.Close()

	db := open(t, path, func() time.Time { return t0 })
	var v int
	if err := db.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil || v != sqlstore.SQLite.Version() {
		t.Fatalf("schema version %d (%v), want %d", v, err, sqlstore.SQLite.Version())
	}
	eph, err := db.Ephemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := eph.Token(ctx, [32]byte{}, t0); err != nil || u != "alice" {
		t.Errorf("token after migration: %q, %v", u, err)
	}
	if at, ok := eph.RevokedAt([32]byte{}); !ok || !at.Equal(t0) {
		t.Errorf("revocation after migration: %v %v", at, ok)
	}
	storetest.MigratedV1(t, db)
}
