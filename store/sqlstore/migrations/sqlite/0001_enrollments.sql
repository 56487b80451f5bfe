CREATE TABLE enrollments (
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
) WITHOUT ROWID;
