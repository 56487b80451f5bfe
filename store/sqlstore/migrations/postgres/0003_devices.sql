CREATE TABLE vestibule_devices (
	username TEXT NOT NULL, id TEXT NOT NULL, created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL,
	last_ip TEXT NOT NULL, user_agent TEXT NOT NULL, PRIMARY KEY (username, id)
);
