ALTER TABLE vestibule_enrollments ADD COLUMN phone TEXT NOT NULL DEFAULT '';
