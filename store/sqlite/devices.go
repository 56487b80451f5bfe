package sqlite

import (
	"context"

	"github.com/vestibule-gw/vestibule/store"
)

var _ store.DeviceLog = (*DB)(nil)

// SeeDevice records an issue or a use of a remembered device.
func (s *DB) SeeDevice(ctx context.Context, d store.Device) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO devices (user, id, created_at, last_seen, last_ip, user_agent) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(user, id) DO UPDATE SET last_ip = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_ip ELSE last_ip END,
		  user_agent = CASE WHEN excluded.last_seen >= last_seen THEN excluded.user_agent ELSE user_agent END,
		  last_seen = max(last_seen, excluded.last_seen)`,
		d.User, d.ID, nanos(d.LastSeen), nanos(d.LastSeen), d.LastIP, truncate(d.UserAgent))
	if err != nil {
		return unavailable("recording device", err)
	}
	return nil
}

// Devices lists the user's remembered devices, most recently seen first.
func (s *DB) Devices(ctx context.Context, user string) ([]store.Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, created_at, last_seen, last_ip, user_agent FROM devices WHERE user = ? ORDER BY last_seen DESC, id`, user)
	if err != nil {
		return nil, unavailable("listing devices", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d := store.Device{User: user}
		var created, seen int64
		if err := rows.Scan(&d.ID, &created, &seen, &d.LastIP, &d.UserAgent); err != nil {
			return nil, unavailable("listing devices", err)
		}
		d.Created, d.LastSeen = fromNanos(created), fromNanos(seen)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("listing devices", err)
	}
	return out, nil
}

func truncate(ua string) string {
	if len(ua) > store.MaxUserAgent {
		return ua[:store.MaxUserAgent]
	}
	return ua
}
