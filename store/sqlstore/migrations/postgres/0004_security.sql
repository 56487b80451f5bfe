-- Issue 16: when the TOTP secret was set, passkeys, recent sign-ins.
ALTER TABLE vestibule_enrollments ADD COLUMN totp_set_at BIGINT NOT NULL DEFAULT 0;
UPDATE vestibule_enrollments SET totp_set_at = created_at WHERE length(totp_secret) > 0;
CREATE TABLE vestibule_passkeys (
	id              BYTEA PRIMARY KEY,
	username        TEXT NOT NULL REFERENCES vestibule_enrollments(username) ON DELETE CASCADE,
	public_key      BYTEA NOT NULL,
	sign_count      BIGINT NOT NULL DEFAULT 0,
	aaguid          BYTEA NOT NULL,
	transports      TEXT NOT NULL DEFAULT '',
	backup_eligible BOOLEAN NOT NULL DEFAULT FALSE,
	backup_state    BOOLEAN NOT NULL DEFAULT FALSE,
	user_handle     BYTEA NOT NULL,
	name            TEXT NOT NULL DEFAULT '',
	created_at      BIGINT NOT NULL,
	last_used       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX vestibule_passkeys_user ON vestibule_passkeys (username, created_at);
CREATE TABLE vestibule_sign_ins (
	seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	username   TEXT NOT NULL,
	at         BIGINT NOT NULL,
	ip         TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	factor     TEXT NOT NULL
);
CREATE INDEX vestibule_sign_ins_user ON vestibule_sign_ins (username, at);
