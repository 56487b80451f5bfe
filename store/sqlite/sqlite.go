package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/vestibule-gw/vestibule/store"
)

// migrations are applied in order, each once, recorded in schema_version.
// Never edit a released migration; append a new one.
var migrations = []string{
	`CREATE TABLE enrollments (
		user        TEXT PRIMARY KEY,
		totp_secret BLOB NOT NULL,
		last_step   INTEGER NOT NULL DEFAULT 0,
		created_at  INTEGER NOT NULL,
		last_used   INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE TABLE recovery_codes (
		user    TEXT NOT NULL REFERENCES enrollments(user) ON DELETE CASCADE,
		hash    BLOB NOT NULL,
		used_at INTEGER,
		PRIMARY KEY (user, hash)
	) WITHOUT ROWID;`,
	`ALTER TABLE enrollments ADD COLUMN devices_revoked INTEGER NOT NULL DEFAULT 0;`,
	`ALTER TABLE enrollments ADD COLUMN phone TEXT NOT NULL DEFAULT '';`,
	`CREATE TABLE held (
		id TEXT PRIMARY KEY, exp INTEGER NOT NULL, data BLOB NOT NULL,
		n INTEGER NOT NULL DEFAULT 0, enroll BLOB, ver INTEGER NOT NULL DEFAULT 0,
		phone TEXT NOT NULL DEFAULT '', smsh BLOB, smssent INTEGER NOT NULL DEFAULT 0,
		smsexp INTEGER NOT NULL DEFAULT 0, smsn INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE INDEX held_exp ON held(exp);
	CREATE TABLE hits (key TEXT PRIMARY KEY, n INTEGER NOT NULL, end_at INTEGER NOT NULL) WITHOUT ROWID;
	CREATE TABLE bans (key TEXT PRIMARY KEY, until_at INTEGER NOT NULL) WITHOUT ROWID;
	CREATE TABLE revocations (bind BLOB PRIMARY KEY, at INTEGER NOT NULL, until_at INTEGER NOT NULL) WITHOUT ROWID;`,
	`CREATE TABLE tokens (hash BLOB PRIMARY KEY, user TEXT NOT NULL, until_at INTEGER NOT NULL) WITHOUT ROWID;`,
	`CREATE TABLE devices (
		user TEXT NOT NULL, id TEXT NOT NULL, created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL,
		last_ip TEXT NOT NULL, user_agent TEXT NOT NULL, PRIMARY KEY (user, id)
	) WITHOUT ROWID;`,
}

// DB is the SQLite durable store.
type DB struct {
	db  *sql.DB
	now func() time.Time
}

var _ store.Durable = (*DB)(nil)

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
	s := &DB{db: db, now: now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// The -wal and -shm files appear on first write; keep them private too.
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Chmod(path+suffix, 0o600)
	}
	return s, nil
}

func (s *DB) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("migrate", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return unavailable("migrate (is this a SQLite file?)", err)
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return unavailable("migrate", err)
		}
	case err != nil:
		return unavailable("migrate", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("sqlite: schema version %d is newer than this build knows (%d); upgrade vestibule", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return unavailable(fmt.Sprintf("migration %d", i+1), err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations)); err != nil {
		return unavailable("migrate", err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable("migrate", err)
	}
	return nil
}

func unavailable(op string, err error) error {
	return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrUnavailable, err)
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Enrollment returns the user's enrollment with its unused recovery hashes.
func (s *DB) Enrollment(ctx context.Context, user string) (store.Enrollment, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.Enrollment{}, unavailable("reading enrollment", err)
	}
	defer tx.Rollback()
	return enrollment(ctx, tx, user)
}

// enrollment reads one enrollment inside tx (one consistent snapshot of the
// row and its codes).
func enrollment(ctx context.Context, tx *sql.Tx, user string) (store.Enrollment, error) {
	e := store.Enrollment{User: user}
	var created, lastUsed, devices int64
	err := tx.QueryRowContext(ctx,
		`SELECT totp_secret, last_step, created_at, last_used, devices_revoked, phone FROM enrollments WHERE user = ?`, user).
		Scan(&e.TOTPSecret, &e.LastStep, &created, &lastUsed, &devices, &e.Phone)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Enrollment{}, store.ErrNotFound
	}
	if err != nil {
		return store.Enrollment{}, unavailable("reading enrollment", err)
	}
	e.CreatedAt, e.LastUsed, e.DevicesRevoked = fromNanos(created), fromNanos(lastUsed), fromNanos(devices)
	rows, err := tx.QueryContext(ctx, `SELECT hash FROM recovery_codes WHERE user = ? AND used_at IS NULL ORDER BY hash`, user)
	if err != nil {
		return store.Enrollment{}, unavailable("reading recovery codes", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return store.Enrollment{}, unavailable("reading recovery codes", err)
		}
		e.RecoveryHashes = append(e.RecoveryHashes, h)
	}
	if err := rows.Err(); err != nil {
		return store.Enrollment{}, unavailable("reading recovery codes", err)
	}
	return e, nil
}

// Enroll replaces the user's enrollment in one transaction.
func (s *DB) Enroll(ctx context.Context, e store.Enrollment) error {
	if e.User == "" || (len(e.TOTPSecret) == 0 && e.Phone == "") {
		return errors.New("sqlite: enroll: user and a sealed secret or a phone are required")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("enroll", err)
	}
	defer tx.Rollback()
	created := e.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM enrollments WHERE user = ?`, e.User); err != nil {
		return unavailable("enroll", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO enrollments (user, totp_secret, last_step, created_at, last_used, devices_revoked, phone) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.User, nonNil(e.TOTPSecret), e.LastStep, nanos(created), nanos(e.LastUsed), nanos(e.DevicesRevoked), e.Phone); err != nil {
		return unavailable("enroll", err)
	}
	for _, h := range e.RecoveryHashes {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO recovery_codes (user, hash) VALUES (?, ?)`, e.User, h); err != nil {
			return unavailable("enroll", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable("enroll", err)
	}
	return nil
}

// UseTOTPStep records the step if it is later than the last one used, in a
// single conditional UPDATE.
func (s *DB) UseTOTPStep(ctx context.Context, user string, step int64, at time.Time) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE enrollments SET last_step = ?, last_used = ? WHERE user = ? AND last_step < ?`,
		step, nanos(at), user, step)
	if err != nil {
		return unavailable("using TOTP step", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, `SELECT 1 FROM enrollments WHERE user = ?`, user).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return unavailable("using TOTP step", err)
	}
	return store.ErrReplay
}

// UseRecoveryCode consumes an unused code in a single conditional UPDATE.
func (s *DB) UseRecoveryCode(ctx context.Context, user string, hash []byte, at time.Time) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, unavailable("using recovery code", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx,
		`UPDATE recovery_codes SET used_at = ? WHERE user = ? AND hash = ? AND used_at IS NULL`,
		nanos(at), user, hash)
	if err != nil {
		return 0, unavailable("using recovery code", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return 0, store.ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `UPDATE enrollments SET last_used = ? WHERE user = ?`, nanos(at), user); err != nil {
		return 0, unavailable("using recovery code", err)
	}
	var remaining int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user = ? AND used_at IS NULL`, user).Scan(&remaining); err != nil {
		return 0, unavailable("using recovery code", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, unavailable("using recovery code", err)
	}
	return remaining, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// SetPhone sets the user's phone, creating an SMS-only enrollment if needed.
func (s *DB) SetPhone(ctx context.Context, user, phone string, at time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO enrollments (user, totp_secret, created_at, phone) VALUES (?, x'', ?, ?)
		 ON CONFLICT(user) DO UPDATE SET phone = excluded.phone`, user, nanos(at), phone)
	if err != nil {
		return unavailable("setting phone", err)
	}
	return nil
}

// RevokeDevices voids the user's remembered devices issued before at.
func (s *DB) RevokeDevices(ctx context.Context, user string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE enrollments SET devices_revoked = max(devices_revoked, ?) WHERE user = ?`, nanos(at), user)
	if err != nil {
		return unavailable("revoking devices", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Reset removes the user's enrollment and recovery codes.
func (s *DB) Reset(ctx context.Context, user string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM enrollments WHERE user = ?`, user)
	if err != nil {
		return unavailable("reset", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return unavailable("ping", err)
	}
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// Enrollments lists every enrollment with its unused recovery hashes, all
// from one snapshot.
func (s *DB) Enrollments(ctx context.Context) ([]store.Enrollment, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, unavailable("listing enrollments", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT user FROM enrollments ORDER BY user`)
	if err != nil {
		return nil, unavailable("listing enrollments", err)
	}
	var users []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return nil, unavailable("listing enrollments", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, unavailable("listing enrollments", err)
	}
	rows.Close()
	out := make([]store.Enrollment, 0, len(users))
	for _, u := range users {
		e, err := enrollment(ctx, tx, u)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// ReplaceRecoveryCodes replaces the user's recovery codes in one transaction
// (which holds the write lock, so a concurrent Reset cannot come between
// the check and the writes).
func (s *DB) ReplaceRecoveryCodes(ctx context.Context, user string, hashes [][]byte) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("replacing recovery codes", err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM enrollments WHERE user = ?`, user).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return unavailable("replacing recovery codes", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user = ?`, user); err != nil {
		return unavailable("replacing recovery codes", err)
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO recovery_codes (user, hash) VALUES (?, ?)`, user, h); err != nil {
			return unavailable("replacing recovery codes", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable("replacing recovery codes", err)
	}
	return nil
}

// EnrollNew stores a first enrollment; ErrExists if there is one.
func (s *DB) EnrollNew(ctx context.Context, e store.Enrollment) error {
	if e.User == "" || (len(e.TOTPSecret) == 0 && e.Phone == "") {
		return errors.New("sqlite: enroll: user and a sealed secret or a phone are required")
	}
	created := e.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("enroll", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx,
		`INSERT INTO enrollments (user, totp_secret, last_step, created_at, last_used, devices_revoked, phone)
		 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user) DO NOTHING`,
		e.User, nonNil(e.TOTPSecret), e.LastStep, nanos(created), nanos(e.LastUsed), nanos(e.DevicesRevoked), e.Phone)
	if err != nil {
		return unavailable("enroll", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrExists
	}
	for _, h := range e.RecoveryHashes {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO recovery_codes (user, hash) VALUES (?, ?)`, e.User, h); err != nil {
			return unavailable("enroll", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable("enroll", err)
	}
	return nil
}
