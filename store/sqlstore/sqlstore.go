package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

// Store is the durable store on one SQL database.
type Store struct {
	db  *sql.DB
	d   *Dialect
	now func() time.Time
}

var (
	_ store.Durable   = (*Store)(nil)
	_ store.DeviceLog = (*Store)(nil)
)

// New migrates db to the current schema of dialect d and returns the store
// on it, on the clock now (nil: time.Now). Close closes db.
func New(ctx context.Context, db *sql.DB, d *Dialect, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, d: d, now: now}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Nanos is how the schema stores a time: Unix nanoseconds, 0 for zero.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Time reads back a time stored by Nanos (UTC; 0 is the zero time).
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (s *Store) unavailable(op string, err error) error { return s.d.Unavailable(op, err) }

// exec runs one statement written with ? placeholders.
func (s *Store) exec(ctx context.Context, q queryer, op, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, s.d.Q(query), args...)
	if err != nil {
		return 0, s.unavailable(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.unavailable(op, err)
	}
	return n, nil
}

// queryer is a database or a transaction.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs f in one read-write transaction, committed when f returns nil.
func (s *Store) inTx(ctx context.Context, op string, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.unavailable(op, err)
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.unavailable(op, err)
	}
	return nil
}

// Enrollment returns the user's enrollment with its unused recovery hashes,
// from one snapshot.
func (s *Store) Enrollment(ctx context.Context, user string) (store.Enrollment, error) {
	es, err := s.enrollments(ctx, "reading enrollment", &user)
	if err != nil {
		return store.Enrollment{}, err
	}
	if len(es) == 0 {
		return store.Enrollment{}, store.ErrNotFound
	}
	return es[0], nil
}

// Enrollments lists every enrollment with its unused recovery hashes, by
// user, from one snapshot.
func (s *Store) Enrollments(ctx context.Context) ([]store.Enrollment, error) {
	return s.enrollments(ctx, "listing enrollments", nil)
}

// enrollments reads the enrollment of *user, or every one when user is nil,
// in one read-only transaction: the rows, then their unused codes.
func (s *Store) enrollments(ctx context.Context, op string, user *string) ([]store.Enrollment, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, s.unavailable(op, err)
	}
	defer tx.Rollback()
	where, args := "", []any(nil)
	if user != nil {
		where, args = " WHERE username = ?", []any{*user}
	}
	rows, err := tx.QueryContext(ctx, s.d.Q(`SELECT username, totp_secret, last_step, created_at, last_used, devices_revoked, phone, totp_set_at,
		(SELECT count(*) FROM vestibule_passkeys p WHERE p.username = e.username)
		FROM vestibule_enrollments e`+where+` ORDER BY username`), args...)
	if err != nil {
		return nil, s.unavailable(op, err)
	}
	var out []store.Enrollment
	index := map[string]int{}
	for rows.Next() {
		var e store.Enrollment
		var created, lastUsed, devices, totpSet int64
		if err := rows.Scan(&e.User, &e.TOTPSecret, &e.LastStep, &created, &lastUsed, &devices, &e.Phone, &totpSet, &e.Passkeys); err != nil {
			rows.Close()
			return nil, s.unavailable(op, err)
		}
		e.CreatedAt, e.LastUsed, e.DevicesRevoked, e.TOTPSetAt = Time(created), Time(lastUsed), Time(devices), Time(totpSet)
		index[e.User] = len(out)
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.unavailable(op, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	rows, err = tx.QueryContext(ctx, s.d.Q(`SELECT username, hash FROM vestibule_recovery_codes
		WHERE used_at IS NULL`+andUser(user)+` ORDER BY username, hash`), args...)
	if err != nil {
		return nil, s.unavailable(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		var h []byte
		if err := rows.Scan(&u, &h); err != nil {
			return nil, s.unavailable(op, err)
		}
		if i, ok := index[u]; ok {
			out[i].RecoveryHashes = append(out[i].RecoveryHashes, h)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.unavailable(op, err)
	}
	return out, nil
}

func andUser(user *string) string {
	if user == nil {
		return ""
	}
	return " AND username = ?"
}

// enrollRow is the INSERT of an enrollment's row (arguments: enrollArgs).
const enrollRow = `INSERT INTO vestibule_enrollments (username, totp_secret, last_step, created_at, last_used, devices_revoked, phone, totp_set_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

func (s *Store) checkEnrollment(e store.Enrollment) error {
	if e.User == "" || (len(e.TOTPSecret) == 0 && e.Phone == "") {
		return fmt.Errorf("%s: enroll: user and a sealed secret or a phone are required", s.d.name)
	}
	return nil
}

func (s *Store) enrollArgs(e store.Enrollment) []any {
	created := e.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	totpSet := e.TOTPSetAt
	if totpSet.IsZero() && len(e.TOTPSecret) > 0 {
		totpSet = created
	}
	if len(e.TOTPSecret) == 0 {
		totpSet = time.Time{}
	}
	return []any{e.User, nonNil(e.TOTPSecret), e.LastStep, Nanos(created), Nanos(e.LastUsed), Nanos(e.DevicesRevoked), e.Phone, Nanos(totpSet)}
}

// addCodes inserts recovery-code hashes of user inside tx.
func (s *Store) addCodes(ctx context.Context, tx *sql.Tx, op, user string, hashes [][]byte) error {
	for _, h := range hashes {
		if _, err := s.exec(ctx, tx, op, `INSERT INTO vestibule_recovery_codes (username, hash) VALUES (?, ?) ON CONFLICT DO NOTHING`, user, h); err != nil {
			return err
		}
	}
	return nil
}

// Enroll replaces the user's enrollment (its row and recovery codes) in
// one transaction. The row is updated in place, so the user's passkeys
// stay.
func (s *Store) Enroll(ctx context.Context, e store.Enrollment) error {
	if err := s.checkEnrollment(e); err != nil {
		return err
	}
	return s.inTx(ctx, "enroll", func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, "enroll", `DELETE FROM vestibule_recovery_codes WHERE username = ?`, e.User); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, "enroll", enrollRow+` ON CONFLICT (username) DO UPDATE SET totp_secret = excluded.totp_secret,
			last_step = excluded.last_step, created_at = excluded.created_at, last_used = excluded.last_used,
			devices_revoked = excluded.devices_revoked, phone = excluded.phone, totp_set_at = excluded.totp_set_at`, s.enrollArgs(e)...); err != nil {
			return err
		}
		return s.addCodes(ctx, tx, "enroll", e.User, e.RecoveryHashes)
	})
}

// EnrollNew stores a first enrollment; ErrExists if there is one.
func (s *Store) EnrollNew(ctx context.Context, e store.Enrollment) error {
	if err := s.checkEnrollment(e); err != nil {
		return err
	}
	return s.inTx(ctx, "enroll", func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, "enroll", enrollRow+` ON CONFLICT (username) DO NOTHING`, s.enrollArgs(e)...)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrExists
		}
		return s.addCodes(ctx, tx, "enroll", e.User, e.RecoveryHashes)
	})
}

// UseTOTPStep records the step if it is later than the last one used, in a
// single conditional UPDATE.
func (s *Store) UseTOTPStep(ctx context.Context, user string, step int64, at time.Time) error {
	n, err := s.exec(ctx, s.db, "using TOTP step",
		`UPDATE vestibule_enrollments SET last_step = ?, last_used = ? WHERE username = ? AND last_step < ?`, step, Nanos(at), user, step)
	if err != nil || n == 1 {
		return err
	}
	if err := s.exists(ctx, s.db, "using TOTP step", user); err != nil {
		return err
	}
	return store.ErrReplay
}

// exists is nil when user is enrolled, else ErrNotFound (or a failure).
func (s *Store) exists(ctx context.Context, q queryer, op, user string) error {
	var one int
	err := q.QueryRowContext(ctx, s.d.Q(`SELECT 1 FROM vestibule_enrollments WHERE username = ?`), user).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return s.unavailable(op, err)
	}
	return nil
}

// UseRecoveryCode consumes an unused code in a single conditional UPDATE.
func (s *Store) UseRecoveryCode(ctx context.Context, user string, hash []byte, at time.Time) (int, error) {
	const op = "using recovery code"
	var remaining int
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, op, `UPDATE vestibule_recovery_codes SET used_at = ? WHERE username = ? AND hash = ? AND used_at IS NULL`, Nanos(at), user, hash)
		if err != nil {
			return err
		}
		if n != 1 {
			return store.ErrNotFound
		}
		if _, err := s.exec(ctx, tx, op, `UPDATE vestibule_enrollments SET last_used = ? WHERE username = ?`, Nanos(at), user); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.d.Q(`SELECT count(*) FROM vestibule_recovery_codes WHERE username = ? AND used_at IS NULL`), user).Scan(&remaining); err != nil {
			return s.unavailable(op, err)
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
func (s *Store) SetPhone(ctx context.Context, user, phone string, at time.Time) error {
	_, err := s.exec(ctx, s.db, "setting phone", `INSERT INTO vestibule_enrollments (username, totp_secret, created_at, phone) VALUES (?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET phone = excluded.phone`, user, []byte{}, Nanos(at), phone)
	return err
}

// RevokeDevices voids the user's remembered devices issued before at.
func (s *Store) RevokeDevices(ctx context.Context, user string, at time.Time) error {
	n, err := s.exec(ctx, s.db, "revoking devices", `UPDATE vestibule_enrollments
		SET devices_revoked = CASE WHEN devices_revoked > ? THEN devices_revoked ELSE ? END WHERE username = ?`, Nanos(at), Nanos(at), user)
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

// Reset removes the user's enrollment with its recovery codes and
// passkeys (by the foreign keys) and recent sign-ins, in one transaction.
func (s *Store) Reset(ctx context.Context, user string) error {
	return s.inTx(ctx, "reset", func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, "reset", `DELETE FROM vestibule_enrollments WHERE username = ?`, user)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		_, err = s.exec(ctx, tx, "reset", `DELETE FROM vestibule_sign_ins WHERE username = ?`, user)
		return err
	})
}

// ReplaceRecoveryCodes replaces the user's recovery codes in one
// transaction; the first statement takes the user's row (a write, so a
// concurrent Reset cannot come between the check and the inserts).
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, user string, hashes [][]byte) error {
	const op = "replacing recovery codes"
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, op, `UPDATE vestibule_enrollments SET last_step = last_step WHERE username = ?`, user)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		if _, err := s.exec(ctx, tx, op, `DELETE FROM vestibule_recovery_codes WHERE username = ?`, user); err != nil {
			return err
		}
		return s.addCodes(ctx, tx, op, user, hashes)
	})
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return s.unavailable("ping", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
