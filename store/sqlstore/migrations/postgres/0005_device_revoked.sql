-- Issue 16: one remembered device forgotten (the security page), not only
-- all of a user's before a time (vestibule_enrollments.devices_revoked).
ALTER TABLE vestibule_devices ADD COLUMN revoked BIGINT NOT NULL DEFAULT 0;
