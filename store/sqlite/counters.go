package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sqlstore"
)

// Unhit takes back one event of key's current window, in one statement.
func (e *Ephemeral) Unhit(ctx context.Context, key string, at time.Time) error {
	if _, err := e.db.ExecContext(ctx, `UPDATE hits SET n = n - 1 WHERE key = ? AND end_at > ? AND n > 0`, key, at.UnixNano()); err != nil {
		return unavailable("taking back a count", err)
	}
	return nil
}

// Bans lists the bans in force at at whose key starts with prefix.
func (e *Ephemeral) Bans(ctx context.Context, prefix string, at time.Time) ([]store.Ban, error) {
	// substr rather than LIKE: a key may hold % or _.
	rows, err := e.db.QueryContext(ctx, `SELECT key, until_at FROM bans WHERE substr(key, 1, ?) = ? AND until_at > ? ORDER BY key`,
		len(prefix), prefix, at.UnixNano())
	if err != nil {
		return nil, unavailable("listing bans", err)
	}
	defer rows.Close()
	var out []store.Ban
	for rows.Next() {
		var k string
		var until int64
		if err := rows.Scan(&k, &until); err != nil {
			return nil, unavailable("listing bans", err)
		}
		if strings.HasPrefix(k, prefix) {
			out = append(out, store.Ban{Key: k, Until: time.Unix(0, until).UTC()})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("listing bans", err)
	}
	return out, nil
}

// ReloadRevocations merges the live revocations made at or after since
// (zero: all) into the in-process view: another process (an
// administrator's command) may have added some. The gateway calls it every
// few seconds, off the hot path.
func (e *Ephemeral) ReloadRevocations(ctx context.Context, since time.Time) error {
	rows, err := e.db.QueryContext(ctx, `SELECT bind, at, until_at FROM revocations WHERE until_at > ? AND at >= ?`,
		e.now().UnixNano(), sqlstore.Nanos(since))
	if err != nil {
		return unavailable("loading revocations", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		var at, until int64
		if err := rows.Scan(&b, &at, &until); err != nil {
			return unavailable("loading revocations", err)
		}
		if len(b) == 32 {
			e.rev.Add([32]byte(b), time.Unix(0, at).UTC(), time.Unix(0, until).UTC())
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable("loading revocations", err)
	}
	e.rev.Prune()
	return nil
}
