package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

// What the security page changes: one factor at a time, passkeys, and the
// recent sign-ins (issue 16).

// SetTOTP replaces the user's TOTP secret alone (LastStep back to 0), or
// creates an enrollment with only this secret.
func (s *Store) SetTOTP(ctx context.Context, user string, sealedSecret []byte, at time.Time) error {
	if user == "" || len(sealedSecret) == 0 {
		return fmt.Errorf("%s: set totp: user and a sealed secret are required", s.d.name)
	}
	_, err := s.exec(ctx, s.db, "setting TOTP secret", `INSERT INTO vestibule_enrollments (username, totp_secret, created_at, totp_set_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET totp_secret = excluded.totp_secret, last_step = 0, totp_set_at = excluded.totp_set_at`,
		user, sealedSecret, Nanos(at), Nanos(at))
	return err
}

// RemoveTOTP removes the user's TOTP secret, if there is one.
func (s *Store) RemoveTOTP(ctx context.Context, user string) error {
	return s.changed(s.exec(ctx, s.db, "removing TOTP secret", `UPDATE vestibule_enrollments SET totp_secret = ?, last_step = 0, totp_set_at = 0
		WHERE username = ? AND length(totp_secret) > 0`, []byte{}, user))
}

// RemovePhone removes the user's phone number, if there is one.
func (s *Store) RemovePhone(ctx context.Context, user string) error {
	return s.changed(s.exec(ctx, s.db, "removing phone", `UPDATE vestibule_enrollments SET phone = '' WHERE username = ? AND phone <> ''`, user))
}

// changed turns "no row changed" into ErrNotFound.
func (s *Store) changed(n int64, err error) error {
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

const passkeyCols = `username, id, public_key, sign_count, aaguid, transports, backup_eligible, backup_state, user_handle, name, created_at, last_used`

func scanPasskey(sc interface{ Scan(...any) error }) (store.Passkey, error) {
	var p store.Passkey
	var count, created, used int64
	var transports string
	if err := sc.Scan(&p.User, &p.ID, &p.PublicKey, &count, &p.AAGUID, &transports, &p.BackupEligible, &p.BackupState,
		&p.UserHandle, &p.Name, &created, &used); err != nil {
		return store.Passkey{}, err
	}
	p.SignCount, p.CreatedAt, p.LastUsed = uint32(count), Time(created), Time(used)
	if transports != "" {
		p.Transports = strings.Split(transports, ",")
	}
	return p, nil
}

// AddPasskey stores a new passkey, and an enrollment for its user if there
// is none, in one transaction.
func (s *Store) AddPasskey(ctx context.Context, p store.Passkey) error {
	const op = "adding passkey"
	if p.User == "" || len(p.ID) == 0 || len(p.PublicKey) == 0 {
		return fmt.Errorf("%s: %s: user, credential id and public key are required", s.d.name, op)
	}
	created := p.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, op, `INSERT INTO vestibule_enrollments (username, totp_secret, created_at) VALUES (?, ?, ?)
			ON CONFLICT (username) DO NOTHING`, p.User, []byte{}, Nanos(created)); err != nil {
			return err
		}
		n, err := s.exec(ctx, tx, op, `INSERT INTO vestibule_passkeys (`+passkeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, p.User, p.ID, p.PublicKey, int64(p.SignCount), nonNil(p.AAGUID), strings.Join(p.Transports, ","),
			p.BackupEligible, p.BackupState, nonNil(p.UserHandle), p.Name, Nanos(created), Nanos(p.LastUsed))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("passkey credential id already registered: %w", store.ErrExists)
		}
		return nil
	})
}

// Passkeys lists the user's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, user string) ([]store.Passkey, error) {
	rows, err := s.db.QueryContext(ctx, s.d.Q(`SELECT `+passkeyCols+` FROM vestibule_passkeys WHERE username = ? ORDER BY created_at, id`), user)
	if err != nil {
		return nil, s.unavailable("listing passkeys", err)
	}
	defer rows.Close()
	var out []store.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, s.unavailable("listing passkeys", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.unavailable("listing passkeys", err)
	}
	return out, nil
}

// PasskeyByID returns the passkey with that credential id.
func (s *Store) PasskeyByID(ctx context.Context, id []byte) (store.Passkey, error) {
	p, err := scanPasskey(s.db.QueryRowContext(ctx, s.d.Q(`SELECT `+passkeyCols+` FROM vestibule_passkeys WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Passkey{}, store.ErrNotFound
	}
	if err != nil {
		return store.Passkey{}, s.unavailable("reading passkey", err)
	}
	return p, nil
}

// UsePasskey records a use in one conditional UPDATE (the counter check is
// its WHERE), then the enrollment's last use, in one transaction.
func (s *Store) UsePasskey(ctx context.Context, user string, id []byte, signCount uint32, backupState bool, at time.Time) error {
	const op = "using passkey"
	n64 := int64(signCount)
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, op, `UPDATE vestibule_passkeys SET sign_count = ?, backup_state = ?, last_used = ?
			WHERE username = ? AND id = ? AND (sign_count < ? OR (sign_count = 0 AND sign_count = ?))`,
			n64, backupState, Nanos(at), user, id, n64, n64)
		if err != nil {
			return err
		}
		if n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, s.d.Q(`SELECT 1 FROM vestibule_passkeys WHERE username = ? AND id = ?`), user, id).Scan(&one)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return store.ErrNotFound
			case err != nil:
				return s.unavailable(op, err)
			}
			return store.ErrSignCount
		}
		_, err = s.exec(ctx, tx, op, `UPDATE vestibule_enrollments SET last_used = ? WHERE username = ?`, Nanos(at), user)
		return err
	})
}

// RenamePasskey renames one of the user's passkeys.
func (s *Store) RenamePasskey(ctx context.Context, user string, id []byte, name string) error {
	return s.changed(s.exec(ctx, s.db, "renaming passkey", `UPDATE vestibule_passkeys SET name = ? WHERE username = ? AND id = ?`, name, user, id))
}

// DeletePasskey removes one of the user's passkeys.
func (s *Store) DeletePasskey(ctx context.Context, user string, id []byte) error {
	return s.changed(s.exec(ctx, s.db, "removing passkey", `DELETE FROM vestibule_passkeys WHERE username = ? AND id = ?`, user, id))
}

// AddSignIn records a sign-in and trims the user's to the newest
// store.SignInsKept, in one transaction (serialised per user).
func (s *Store) AddSignIn(ctx context.Context, in store.SignIn) error {
	const op = "recording sign-in"
	ua := in.UserAgent
	if len(ua) > store.MaxUserAgent {
		ua = ua[:store.MaxUserAgent]
	}
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		if s.d.userLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.Q(s.d.userLock), in.User); err != nil {
				return s.unavailable(op, err)
			}
		}
		if _, err := s.exec(ctx, tx, op, `INSERT INTO vestibule_sign_ins (username, at, ip, user_agent, factor) VALUES (?, ?, ?, ?, ?)`,
			in.User, Nanos(in.At), in.IP, ua, in.Factor); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, op, `DELETE FROM vestibule_sign_ins WHERE username = ? AND seq NOT IN
			(SELECT seq FROM vestibule_sign_ins WHERE username = ? ORDER BY at DESC, seq DESC LIMIT ?)`, in.User, in.User, store.SignInsKept)
		return err
	})
}

// SignIns lists the user's recent sign-ins, newest first, at most limit
// (all kept when limit is not positive).
func (s *Store) SignIns(ctx context.Context, user string, limit int) ([]store.SignIn, error) {
	const op = "listing sign-ins"
	if limit <= 0 || limit > store.SignInsKept {
		limit = store.SignInsKept
	}
	rows, err := s.db.QueryContext(ctx, s.d.Q(`SELECT at, ip, user_agent, factor FROM vestibule_sign_ins WHERE username = ?
		ORDER BY at DESC, seq DESC LIMIT ?`), user, limit)
	if err != nil {
		return nil, s.unavailable(op, err)
	}
	defer rows.Close()
	var out []store.SignIn
	for rows.Next() {
		in := store.SignIn{User: user}
		var at int64
		if err := rows.Scan(&at, &in.IP, &in.UserAgent, &in.Factor); err != nil {
			return nil, s.unavailable(op, err)
		}
		in.At = Time(at)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, s.unavailable(op, err)
	}
	return out, nil
}
