package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/revoked"
	"github.com/vestibule-gw/vestibule/store/sqlstore"
)

// Ephemeral is the ephemeral store in the same SQLite file: held logins,
// counters, bans and revocations survive a restart of a single gateway.
// Revocations are also mirrored in memory for the proxy's hot path.
type Ephemeral struct {
	db  *sql.DB
	now func() time.Time

	// rev mirrors the live revocations for the hot path.
	rev *revoked.View
}

var _ store.Ephemeral = (*Ephemeral)(nil)

// Ephemeral returns the ephemeral store sharing this database. It loads the
// live revocations; Close on it does nothing (close the DB).
func (s *DB) Ephemeral(ctx context.Context) (*Ephemeral, error) {
	e := &Ephemeral{db: s.db, now: s.now, rev: revoked.New(s.now)}
	if err := e.ReloadRevocations(ctx, time.Time{}); err != nil {
		return nil, err
	}
	return e, nil
}

// heldData is the unchanging part of a held login.
type heldData struct {
	ID, User, Kind, Next, RemoteIP, UserAgent string
	Session                                   map[string]string
	Status                                    int
	Header                                    http.Header
	Body                                      []byte
	Created, Expires                          time.Time
}

const heldCols = `data, n, enroll, ver, phone, smsh, smssent, smsexp, smsn`

func scanHeld(sc interface{ Scan(...any) error }) (*store.Held, error) {
	var data, enroll, smsh []byte
	var n, smsn int
	var ver, smssent, smsexp int64
	var phone string
	if err := sc.Scan(&data, &n, &enroll, &ver, &phone, &smsh, &smssent, &smsexp, &smsn); err != nil {
		return nil, err
	}
	var d heldData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, errors.New("sqlite: a held login is corrupt")
	}
	h := &store.Held{ID: d.ID, User: d.User, Kind: d.Kind, Next: d.Next, RemoteIP: d.RemoteIP, UserAgent: d.UserAgent,
		Session: d.Session, Created: d.Created, Expires: d.Expires, Attempts: n, Phone: phone, SMSAttempts: smsn,
		Verified: sqlstore.Time(ver), SMSSent: sqlstore.Time(smssent), SMSExpires: sqlstore.Time(smsexp)}
	h.Response.Status, h.Response.Header, h.Response.Body = d.Status, d.Header, d.Body
	if h.Response.Header == nil {
		h.Response.Header = http.Header{}
	}
	if h.Session == nil {
		h.Session = map[string]string{}
	}
	if len(enroll) > 0 {
		h.EnrollSecret = enroll
	}
	if len(smsh) > 0 {
		h.SMSHash = smsh
	}
	return h, nil
}

// CreateHeld stores a new held login.
func (e *Ephemeral) CreateHeld(ctx context.Context, h *store.Held) error {
	data, err := json.Marshal(heldData{ID: h.ID, User: h.User, Kind: h.Kind, Next: h.Next, RemoteIP: h.RemoteIP, UserAgent: h.UserAgent,
		Session: h.Session, Status: h.Response.Status, Header: h.Response.Header, Body: h.Response.Body, Created: h.Created, Expires: h.Expires})
	if err != nil {
		return err
	}
	_, err = e.db.ExecContext(ctx, `INSERT OR REPLACE INTO held (id, exp, `+heldCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.ID, h.Expires.UnixNano(), data, h.Attempts, h.EnrollSecret, sqlstore.Nanos(h.Verified), h.Phone, h.SMSHash, sqlstore.Nanos(h.SMSSent), sqlstore.Nanos(h.SMSExpires), h.SMSAttempts)
	if err != nil {
		return unavailable("holding login", err)
	}
	return nil
}

func (e *Ephemeral) nowNanos() int64 { return e.now().UnixNano() }

// Held returns an unexpired held login.
func (e *Ephemeral) Held(ctx context.Context, id string) (*store.Held, error) {
	h, err := scanHeld(e.db.QueryRowContext(ctx, `SELECT `+heldCols+` FROM held WHERE id = ? AND exp > ?`, id, e.nowNanos()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, unavailable("reading held login", err)
	}
	return h, nil
}

// HeldAttempt counts an attempt in one UPDATE.
func (e *Ephemeral) HeldAttempt(ctx context.Context, id string) (int, error) {
	var n int
	err := e.db.QueryRowContext(ctx, `UPDATE held SET n = n + 1 WHERE id = ? AND exp > ? RETURNING n`, id, e.nowNanos()).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	if err != nil {
		return 0, unavailable("counting attempt", err)
	}
	return n, nil
}

func (e *Ephemeral) update(ctx context.Context, op, q string, args ...any) error {
	res, err := e.db.ExecContext(ctx, q, args...)
	if err != nil {
		return unavailable(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// SetHeldEnrollment stores the sealed secret of an enrollment in progress.
func (e *Ephemeral) SetHeldEnrollment(ctx context.Context, id string, sealed []byte) error {
	return e.update(ctx, "storing enrollment secret", `UPDATE held SET enroll = ? WHERE id = ? AND exp > ?`, sealed, id, e.nowNanos())
}

// MarkHeldVerified records that the second factor passed.
func (e *Ephemeral) MarkHeldVerified(ctx context.Context, id string, at time.Time) error {
	return e.update(ctx, "marking verified", `UPDATE held SET ver = ? WHERE id = ? AND exp > ?`, sqlstore.Nanos(at), id, e.nowNanos())
}

// SetHeldSMS stores a new text-message code's hash.
func (e *Ephemeral) SetHeldSMS(ctx context.Context, id, phone string, hash []byte, sentAt, expires time.Time) error {
	return e.update(ctx, "storing text-message code",
		`UPDATE held SET phone = ?, smsh = ?, smssent = ?, smsexp = ?, smsn = 0 WHERE id = ? AND exp > ?`,
		phone, hash, sqlstore.Nanos(sentAt), sqlstore.Nanos(expires), id, e.nowNanos())
}

// UseHeldSMS counts, checks and consumes a code in one UPDATE.
func (e *Ephemeral) UseHeldSMS(ctx context.Context, id string, hash []byte, at time.Time, maxAttempts int) (store.SMSResult, error) {
	var n int
	var consumed bool
	err := e.db.QueryRowContext(ctx, `UPDATE held
		SET smsn = smsn + 1,
		    smsh = CASE WHEN smsh = ? AND smsn + 1 <= ? THEN NULL ELSE smsh END
		WHERE id = ? AND exp > ? AND smsh IS NOT NULL AND length(smsh) > 0 AND smsexp > ?
		RETURNING smsn, smsh IS NULL`, hash, maxAttempts, id, e.nowNanos(), at.UnixNano()).Scan(&n, &consumed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := e.Held(ctx, id); err != nil {
			return store.SMSExpired, err
		}
		return store.SMSExpired, nil
	case err != nil:
		return store.SMSExpired, unavailable("checking text-message code", err)
	case consumed:
		return store.SMSAccepted, nil
	case n > maxAttempts:
		return store.SMSExhausted, nil
	}
	return store.SMSWrong, nil
}

// TakeHeld removes and returns the held login in one DELETE.
func (e *Ephemeral) TakeHeld(ctx context.Context, id string) (*store.Held, error) {
	h, err := scanHeld(e.db.QueryRowContext(ctx, `DELETE FROM held WHERE id = ? AND exp > ? RETURNING `+heldCols, id, e.nowNanos()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, unavailable("taking held login", err)
	}
	return h, nil
}

// DeleteHeld discards a held login.
func (e *Ephemeral) DeleteHeld(ctx context.Context, id string) error {
	if _, err := e.db.ExecContext(ctx, `DELETE FROM held WHERE id = ?`, id); err != nil {
		return unavailable("discarding held login", err)
	}
	return nil
}

// PopExpiredHeld removes and returns expired held logins, and drops lapsed
// counters, bans and revocations on the way.
func (e *Ephemeral) PopExpiredHeld(ctx context.Context, at time.Time, max int) ([]*store.Held, error) {
	rows, err := e.db.QueryContext(ctx, `DELETE FROM held WHERE id IN (SELECT id FROM held WHERE exp <= ? LIMIT ?) RETURNING `+heldCols, at.UnixNano(), max)
	if err != nil {
		return nil, unavailable("collecting expired held logins", err)
	}
	var out []*store.Held
	for rows.Next() {
		h, err := scanHeld(rows)
		if err != nil {
			continue
		}
		out = append(out, h)
	}
	rows.Close()
	now := at.UnixNano()
	e.db.ExecContext(ctx, `DELETE FROM hits WHERE end_at <= ?`, now)
	e.db.ExecContext(ctx, `DELETE FROM bans WHERE until_at <= ?`, now)
	e.db.ExecContext(ctx, `DELETE FROM revocations WHERE until_at <= ?`, now)
	e.db.ExecContext(ctx, `DELETE FROM tokens WHERE until_at <= ?`, now)
	return out, nil
}

// HeldCount reports the held logins waiting now (metrics).
func (e *Ephemeral) HeldCount(ctx context.Context) (int, error) {
	var n int
	if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM held WHERE exp > ?`, e.nowNanos()).Scan(&n); err != nil {
		return 0, unavailable("counting held logins", err)
	}
	return n, nil
}

// Hit counts an event for key in its fixed window, in one statement.
func (e *Ephemeral) Hit(ctx context.Context, key string, at time.Time, window time.Duration) (int, error) {
	var n int
	err := e.db.QueryRowContext(ctx, `INSERT INTO hits (key, n, end_at) VALUES (?, 1, ?)
		ON CONFLICT(key) DO UPDATE SET
		  n = CASE WHEN end_at <= ? THEN 1 ELSE n + 1 END,
		  end_at = CASE WHEN end_at <= ? THEN excluded.end_at ELSE end_at END
		RETURNING n`, key, at.Add(window).UnixNano(), at.UnixNano(), at.UnixNano()).Scan(&n)
	if err != nil {
		return 0, unavailable("counting", err)
	}
	return n, nil
}

// Reserve bans key until until unless it is banned at at: one upsert that
// changes a row only when no ban is in force, so exactly one caller wins.
func (e *Ephemeral) Reserve(ctx context.Context, key string, at, until time.Time) (time.Time, bool, error) {
	var got int64
	err := e.db.QueryRowContext(ctx, `INSERT INTO bans (key, until_at) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET until_at = excluded.until_at WHERE bans.until_at <= ?
		RETURNING until_at`, key, until.UnixNano(), at.UnixNano()).Scan(&got)
	if err == nil {
		return until, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, unavailable("reserving", err)
	}
	cur, banned, err := e.BannedUntil(ctx, key, at)
	if err != nil {
		return time.Time{}, false, err
	}
	if !banned { // lifted in between: report it as taken a moment ago
		cur = at
	}
	return cur, false, nil
}

// ResetHits forgets key's count.
func (e *Ephemeral) ResetHits(ctx context.Context, key string) error {
	if _, err := e.db.ExecContext(ctx, `DELETE FROM hits WHERE key = ?`, key); err != nil {
		return unavailable("resetting count", err)
	}
	return nil
}

// Ban bans key until until, never shortening a ban.
func (e *Ephemeral) Ban(ctx context.Context, key string, until time.Time) error {
	_, err := e.db.ExecContext(ctx, `INSERT INTO bans (key, until_at) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET until_at = max(until_at, excluded.until_at)`, key, until.UnixNano())
	if err != nil {
		return unavailable("banning", err)
	}
	return nil
}

// Unban lifts key's ban and forgets its count.
func (e *Ephemeral) Unban(ctx context.Context, key string) error {
	if _, err := e.db.ExecContext(ctx, `DELETE FROM bans WHERE key = ?`, key); err != nil {
		return unavailable("unbanning", err)
	}
	return e.ResetHits(ctx, key)
}

// BannedUntil reports key's ban at at.
func (e *Ephemeral) BannedUntil(ctx context.Context, key string, at time.Time) (time.Time, bool, error) {
	var until int64
	err := e.db.QueryRowContext(ctx, `SELECT until_at FROM bans WHERE key = ?`, key).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, unavailable("reading ban", err)
	}
	u := time.Unix(0, until).UTC()
	if !at.Before(u) {
		return time.Time{}, false, nil
	}
	return u, true, nil
}

// Revoke records a revocation and mirrors it in memory.
func (e *Ephemeral) Revoke(ctx context.Context, key [32]byte, at, until time.Time) error {
	var a, u int64
	err := e.db.QueryRowContext(ctx, `INSERT INTO revocations (bind, at, until_at) VALUES (?, ?, ?)
		ON CONFLICT(bind) DO UPDATE SET at = max(at, excluded.at), until_at = max(until_at, excluded.until_at)
		RETURNING at, until_at`, key[:], at.UnixNano(), until.UnixNano()).Scan(&a, &u)
	if err != nil {
		return unavailable("revoking", err)
	}
	e.rev.Add(key, time.Unix(0, a).UTC(), time.Unix(0, u).UTC())
	return nil
}

// RevokedAt answers from memory: no database on the hot path.
func (e *Ephemeral) RevokedAt(key [32]byte) (time.Time, bool) { return e.rev.RevokedAt(key) }

// Ping checks the database.
func (e *Ephemeral) Ping(ctx context.Context) error {
	if err := e.db.PingContext(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close does nothing: the DB that made this store owns the connection.
func (e *Ephemeral) Close() error { return nil }

// PutToken records a released token's hash.
func (e *Ephemeral) PutToken(ctx context.Context, hash [32]byte, user string, until time.Time) error {
	_, err := e.db.ExecContext(ctx, `INSERT INTO tokens (hash, user, until_at) VALUES (?, ?, ?)
		ON CONFLICT(hash) DO UPDATE SET user = excluded.user, until_at = excluded.until_at`, hash[:], user, until.UnixNano())
	if err != nil {
		return unavailable("registering token", err)
	}
	return nil
}

// Token returns the user of a live released token.
func (e *Ephemeral) Token(ctx context.Context, hash [32]byte, at time.Time) (string, error) {
	var user string
	err := e.db.QueryRowContext(ctx, `SELECT user FROM tokens WHERE hash = ? AND until_at > ?`, hash[:], at.UnixNano()).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", unavailable("reading token", err)
	}
	return user, nil
}

// DeleteToken forgets a token.
func (e *Ephemeral) DeleteToken(ctx context.Context, hash [32]byte) error {
	if _, err := e.db.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash[:]); err != nil {
		return unavailable("forgetting token", err)
	}
	return nil
}
