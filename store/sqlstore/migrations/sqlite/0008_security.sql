-- Issue 16: when the TOTP secret was set, passkeys, recent sign-ins.
ALTER TABLE vestibule_enrollments ADD COLUMN totp_set_at INTEGER NOT NULL DEFAULT 0;
UPDATE vestibule_enrollments SET totp_set_at = created_at WHERE length(totp_secret) > 0;
CREATE TABLE vestibule_passkeys (
	id BLOB PRIMARY KEY, username TEXT NOT NULL REFERENCES vestibule_enrollments(username) ON DELETE CASCADE,
	public_key BLOB NOT NULL, sign_count INTEGER NOT NULL DEFAULT 0, aaguid BLOB NOT NULL, transports TEXT NOT NULL DEFAULT '',
	backup_eligible INTEGER NOT NULL DEFAULT 0, backup_state INTEGER NOT NULL DEFAULT 0, user_handle BLOB NOT NULL,
	name TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, last_used INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX vestibule_passkeys_user ON vestibule_passkeys (username, created_at);
CREATE TABLE vestibule_sign_ins (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL, at INTEGER NOT NULL,
	ip TEXT NOT NULL, user_agent TEXT NOT NULL, factor TEXT NOT NULL
);
CREATE INDEX vestibule_sign_ins_user ON vestibule_sign_ins (username, at);
