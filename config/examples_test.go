package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamples: every example config parses and validates with its
// secrets supplied.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d example configs", len(files))
	}
	vars := map[string]string{"VESTIBULE_COOKIE_KEY": key32, "VESTIBULE_ENCRYPTION_KEY": key32, "PGPASSWORD": "pw",
		"TWILIO_ACCOUNT_SID": "ACx", "TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM": "+15005550006"}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseWith(data, f, env(vars))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
