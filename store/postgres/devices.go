package postgres

import (
	"context"

	"github.com/vestibule-gw/vestibule/store"
)

var _ store.DeviceLog = (*DB)(nil)

// SeeDevice records an issue or a use of a remembered device.
func (s *DB) SeeDevice(ctx context.Context, d store.Device) error {
	ua := d.UserAgent
	if len(ua) > store.MaxUserAgent {
		ua = ua[:store.MaxUserAgent]
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO vestibule_devices (username, id, created_at, last_seen, last_ip, user_agent) VALUES ($1, $2, $3, $3, $4, $5)
		ON CONFLICT (username, id) DO UPDATE SET
		  last_ip = CASE WHEN EXCLUDED.last_seen >= vestibule_devices.last_seen THEN EXCLUDED.last_ip ELSE vestibule_devices.last_ip END,
		  user_agent = CASE WHEN EXCLUDED.last_seen >= vestibule_devices.last_seen THEN EXCLUDED.user_agent ELSE vestibule_devices.user_agent END,
		  last_seen = GREATEST(vestibule_devices.last_seen, EXCLUDED.last_seen)`,
		d.User, d.ID, nanos(d.LastSeen), d.LastIP, ua)
	if err != nil {
		return unavailable("recording device", err)
	}
	return nil
}

// Devices lists the user's remembered devices, most recently seen first.
func (s *DB) Devices(ctx context.Context, user string) ([]store.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, created_at, last_seen, last_ip, user_agent FROM vestibule_devices WHERE username = $1 ORDER BY last_seen DESC, id`, user)
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
