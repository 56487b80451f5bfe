CREATE TABLE vestibule_enrollments (
	username        TEXT PRIMARY KEY,
	totp_secret     BYTEA NOT NULL,
	last_step       BIGINT NOT NULL DEFAULT 0,
	created_at      BIGINT NOT NULL,
	last_used       BIGINT NOT NULL DEFAULT 0,
	devices_revoked BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE vestibule_recovery_codes (
	username TEXT NOT NULL REFERENCES vestibule_enrollments(username) ON DELETE CASCADE,
	hash     BYTEA NOT NULL,
	used_at  BIGINT,
	PRIMARY KEY (username, hash)
);
