// Package postgres is the durable store on PostgreSQL (pgx), for several
// gateway replicas sharing enrollments. Migrations run at start under an
// advisory lock, so replicas starting together apply each one once; every
// consuming operation is one conditional UPDATE.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vestibule-gw/vestibule/store"
)

// migrationLock is the advisory lock key held while migrating.
const migrationLock = 0x76657374 // "vest"

// migrations are applied in order, each once. Never edit a released one.
var migrations = []string{
	`CREATE TABLE vestibule_enrollments (
		username        TEXT PRIMARY KEY,
		totp_secret     BYTEA NOT NULL,
		last_step       BIGINT NOT NULL DEFAULT 0,
		created_at      BIGINT NOT NULL,
		last_used       BIGINT NOT NULL DEFAULT 0,
		devices_revoked BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE vestibule_recovery_codes (
		username TEXT NOT NULL REFERENCES vestibule_enrollments(username) ON DELETE CASCADE,
		hash     BYTEA NOT NULL,
		used_at  BIGINT,
		PRIMARY KEY (username, hash)
	);`,
	`ALTER TABLE vestibule_enrollments ADD COLUMN phone TEXT NOT NULL DEFAULT '';`,
	`CREATE TABLE vestibule_devices (
		username TEXT NOT NULL, id TEXT NOT NULL, created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL,
		last_ip TEXT NOT NULL, user_agent TEXT NOT NULL, PRIMARY KEY (username, id)
	);`,
}

// DB is the PostgreSQL durable store.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ store.Durable = (*DB)(nil)

// Open connects to url (a postgres:// URL; credentials and TLS settings as
// libpq takes them, e.g. sslmode=verify-full&sslrootcert=...) and migrates.
func Open(ctx context.Context, url string, now func() time.Time) (*DB, error) {
	if now == nil {
		now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL with its password: don't pass it on.
		return nil, errors.New("postgres: the URL is not a valid connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable("connecting", err)
	}
	s := &DB{pool: pool, now: now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *DB) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable("migrate", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return unavailable("migrate", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS vestibule_schema (version INT NOT NULL)`); err != nil {
		return unavailable("migrate", err)
	}
	var v int
	err = tx.QueryRow(ctx, `SELECT version FROM vestibule_schema`).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO vestibule_schema (version) VALUES (0)`); err != nil {
			return unavailable("migrate", err)
		}
	case err != nil:
		return unavailable("migrate", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("postgres: schema version %d is newer than this build knows (%d); upgrade vestibule", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return unavailable(fmt.Sprintf("migration %d", i+1), err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE vestibule_schema SET version = $1`, len(migrations)); err != nil {
		return unavailable("migrate", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable("migrate", err)
	}
	return nil
}

// unavailable wraps a backend failure. pgconn errors don't carry the
// password; connection-string errors are replaced above.
func unavailable(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("postgres: %s: %w: %s (SQLSTATE %s)", op, store.ErrUnavailable, pe.Message, pe.Code)
	}
	return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
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
	e := store.Enrollment{User: user}
	var created, lastUsed, devices int64
	err := s.pool.QueryRow(ctx,
		`SELECT totp_secret, last_step, created_at, last_used, devices_revoked, phone FROM vestibule_enrollments WHERE username = $1`, user).
		Scan(&e.TOTPSecret, &e.LastStep, &created, &lastUsed, &devices, &e.Phone)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Enrollment{}, store.ErrNotFound
	}
	if err != nil {
		return store.Enrollment{}, unavailable("reading enrollment", err)
	}
	e.CreatedAt, e.LastUsed, e.DevicesRevoked = fromNanos(created), fromNanos(lastUsed), fromNanos(devices)
	rows, err := s.pool.Query(ctx, `SELECT hash FROM vestibule_recovery_codes WHERE username = $1 AND used_at IS NULL ORDER BY hash`, user)
	if err != nil {
		return store.Enrollment{}, unavailable("reading recovery codes", err)
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return store.Enrollment{}, unavailable("reading recovery codes", err)
	}
	e.RecoveryHashes = hashes
	return e, nil
}

// Enroll replaces the user's enrollment in one transaction.
func (s *DB) Enroll(ctx context.Context, e store.Enrollment) error {
	if e.User == "" || (len(e.TOTPSecret) == 0 && e.Phone == "") {
		return errors.New("postgres: enroll: user and a sealed secret or a phone are required")
	}
	created := e.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM vestibule_enrollments WHERE username = $1`, e.User); err != nil {
			return unavailable("enroll", err)
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO vestibule_enrollments (username, totp_secret, last_step, created_at, last_used, devices_revoked, phone) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			e.User, nonNil(e.TOTPSecret), e.LastStep, nanos(created), nanos(e.LastUsed), nanos(e.DevicesRevoked), e.Phone); err != nil {
			return unavailable("enroll", err)
		}
		for _, h := range e.RecoveryHashes {
			if _, err := tx.Exec(ctx, `INSERT INTO vestibule_recovery_codes (username, hash) VALUES ($1, $2) ON CONFLICT DO NOTHING`, e.User, h); err != nil {
				return unavailable("enroll", err)
			}
		}
		return nil
	})
}

// UseTOTPStep records the step if it is later than the last one used.
func (s *DB) UseTOTPStep(ctx context.Context, user string, step int64, at time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE vestibule_enrollments SET last_step = $1, last_used = $2 WHERE username = $3 AND last_step < $1`,
		step, nanos(at), user)
	if err != nil {
		return unavailable("using TOTP step", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM vestibule_enrollments WHERE username = $1`, user).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return unavailable("using TOTP step", err)
	}
	return store.ErrReplay
}

// UseRecoveryCode consumes an unused code in one conditional UPDATE.
func (s *DB) UseRecoveryCode(ctx context.Context, user string, hash []byte, at time.Time) (int, error) {
	var remaining int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE vestibule_recovery_codes SET used_at = $1 WHERE username = $2 AND hash = $3 AND used_at IS NULL`,
			nanos(at), user, hash)
		if err != nil {
			return unavailable("using recovery code", err)
		}
		if tag.RowsAffected() != 1 {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `UPDATE vestibule_enrollments SET last_used = $1 WHERE username = $2`, nanos(at), user); err != nil {
			return unavailable("using recovery code", err)
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM vestibule_recovery_codes WHERE username = $1 AND used_at IS NULL`, user).Scan(&remaining); err != nil {
			return unavailable("using recovery code", err)
		}
		return nil
	})
	return remaining, err
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// SetPhone sets the user's phone, creating an SMS-only enrollment if needed.
func (s *DB) SetPhone(ctx context.Context, user, phone string, at time.Time) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO vestibule_enrollments (username, totp_secret, created_at, phone) VALUES ($1, '', $2, $3)
		 ON CONFLICT (username) DO UPDATE SET phone = EXCLUDED.phone`, user, nanos(at), phone)
	if err != nil {
		return unavailable("setting phone", err)
	}
	return nil
}

// RevokeDevices voids the user's remembered devices issued before at.
func (s *DB) RevokeDevices(ctx context.Context, user string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE vestibule_enrollments SET devices_revoked = GREATEST(devices_revoked, $1) WHERE username = $2`, nanos(at), user)
	if err != nil {
		return unavailable("revoking devices", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Reset removes the user's enrollment and recovery codes.
func (s *DB) Reset(ctx context.Context, user string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM vestibule_enrollments WHERE username = $1`, user)
	if err != nil {
		return unavailable("reset", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close closes the pool.
func (s *DB) Close() error { s.pool.Close(); return nil }

// Enrollments lists every enrollment with its unused recovery hashes.
func (s *DB) Enrollments(ctx context.Context) ([]store.Enrollment, error) {
	rows, err := s.pool.Query(ctx, `SELECT username FROM vestibule_enrollments ORDER BY username`)
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
	rows.Close()
	out := make([]store.Enrollment, 0, len(users))
	for _, u := range users {
		e, err := s.Enrollment(ctx, u)
		if errors.Is(err, store.ErrNotFound) {
			continue // reset meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// ReplaceRecoveryCodes replaces the user's recovery codes in one transaction.
func (s *DB) ReplaceRecoveryCodes(ctx context.Context, user string, hashes [][]byte) error {
	if _, err := s.Enrollment(ctx, user); err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable("replacing recovery codes", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `DELETE FROM vestibule_recovery_codes WHERE username = $1`, user); err != nil {
		return unavailable("replacing recovery codes", err)
	}
	for _, h := range hashes {
		if _, err := tx.Exec(ctx, `INSERT INTO vestibule_recovery_codes (username, hash) VALUES ($1, $2)`, user, h); err != nil {
			return unavailable("replacing recovery codes", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable("replacing recovery codes", err)
	}
	return nil
}

// EnrollNew stores a first enrollment; ErrExists if there is one.
func (s *DB) EnrollNew(ctx context.Context, e store.Enrollment) error {
	if e.User == "" || (len(e.TOTPSecret) == 0 && e.Phone == "") {
		return errors.New("postgres: enroll: user and a sealed secret or a phone are required")
	}
	created := e.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`INSERT INTO vestibule_enrollments (username, totp_secret, last_step, created_at, last_used, devices_revoked, phone)
			 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (username) DO NOTHING`,
			e.User, nonNil(e.TOTPSecret), e.LastStep, nanos(created), nanos(e.LastUsed), nanos(e.DevicesRevoked), e.Phone)
		if err != nil {
			return unavailable("enroll", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrExists
		}
		for _, h := range e.RecoveryHashes {
			if _, err := tx.Exec(ctx, `INSERT INTO vestibule_recovery_codes (username, hash) VALUES ($1, $2) ON CONFLICT DO NOTHING`, e.User, h); err != nil {
				return unavailable("enroll", err)
			}
		}
		return nil
	})
}
