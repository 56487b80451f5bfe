-- The durable tables get PostgreSQL's names (vestibule_ prefix, username:
-- "user" is reserved there), so one set of queries serves both dialects.
-- RENAME updates the foreign key of recovery codes too.
ALTER TABLE enrollments RENAME COLUMN user TO username;
ALTER TABLE enrollments RENAME TO vestibule_enrollments;
ALTER TABLE recovery_codes RENAME COLUMN user TO username;
ALTER TABLE recovery_codes RENAME TO vestibule_recovery_codes;
ALTER TABLE devices RENAME COLUMN user TO username;
ALTER TABLE devices RENAME TO vestibule_devices;
