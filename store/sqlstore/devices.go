package sqlstore

import (
	"context"

	"github.com/vestibule-gw/vestibule/store"
)

// SeeDevice records an issue or a use of a remembered device: the first
// time stays Created, the latest use wins the address and browser.
func (s *Store) SeeDevice(ctx context.Context, d store.Device) error {
	ua := d.UserAgent
	if len(ua) > store.MaxUserAgent {
		ua = ua[:store.MaxUserAgent]
	}
	_, err := s.exec(ctx, s.db, "recording device", `INSERT INTO vestibule_devices (username, id, created_at, last_seen, last_ip, user_agent) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (username, id) DO UPDATE SET
		  last_ip = CASE WHEN excluded.last_seen >= vestibule_devices.last_seen THEN excluded.last_ip ELSE vestibule_devices.last_ip END,
		  user_agent = CASE WHEN excluded.last_seen >= vestibule_devices.last_seen THEN excluded.user_agent ELSE vestibule_devices.user_agent END,
		  last_seen = CASE WHEN excluded.last_seen > vestibule_devices.last_seen THEN excluded.last_seen ELSE vestibule_devices.last_seen END`,
		d.User, d.ID, Nanos(d.LastSeen), Nanos(d.LastSeen), d.LastIP, ua)
	return err
}

// Devices lists the user's remembered devices, most recently seen first.
func (s *Store) Devices(ctx context.Context, user string) ([]store.Device, error) {
	rows, err := s.db.QueryContext(ctx, s.d.Q(`SELECT id, created_at, last_seen, last_ip, user_agent, revoked FROM vestibule_devices WHERE username = ? ORDER BY last_seen DESC, id`), user)
	if err != nil {
		return nil, s.unavailable("listing devices", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d := store.Device{User: user}
		var created, seen, revoked int64
		if err := rows.Scan(&d.ID, &created, &seen, &d.LastIP, &d.UserAgent, &revoked); err != nil {
			return nil, s.unavailable("listing devices", err)
		}
		d.Created, d.LastSeen, d.Revoked = Time(created), Time(seen), Time(revoked)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.unavailable("listing devices", err)
	}
	return out, nil
}

// RevokeDevice forgets one of the user's remembered devices at the store's
// clock; ErrNotFound when the user has no such device, or it was already
// forgotten (the first revocation's time stays).
func (s *Store) RevokeDevice(ctx context.Context, user, id string) error {
	n, err := s.exec(ctx, s.db, "revoking device", `UPDATE vestibule_devices SET revoked = ? WHERE username = ? AND id = ? AND revoked = 0`,
		Nanos(s.now()), user, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
