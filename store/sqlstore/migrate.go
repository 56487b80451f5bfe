package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrate brings the schema up to date in one transaction: the version
// table says how many migrations ran; the rest run in order.
func (s *Store) migrate(ctx context.Context) error {
	d := s.d
	all, err := d.migrations()
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return d.Unavailable("migrate", err)
	}
	defer tx.Rollback()
	if d.lock != "" {
		if _, err := tx.ExecContext(ctx, d.lock); err != nil {
			return d.Unavailable("migrate", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+d.versionTable+` (version INTEGER NOT NULL)`); err != nil {
		return d.Unavailable("migrate (is this a "+d.name+" database?)", err)
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM `+d.versionTable).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+d.versionTable+` (version) VALUES (0)`); err != nil {
			return d.Unavailable("migrate", err)
		}
	case err != nil:
		return d.Unavailable("migrate", err)
	}
	if v > len(all) {
		return fmt.Errorf("%s: schema version %d is newer than this build knows (%d); upgrade vestibule", d.name, v, len(all))
	}
	for _, m := range all[v:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return d.Unavailable("migration "+m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.Q(`UPDATE `+d.versionTable+` SET version = ?`), len(all)); err != nil {
		return d.Unavailable("migrate", err)
	}
	if err := tx.Commit(); err != nil {
		return d.Unavailable("migrate", err)
	}
	return nil
}
