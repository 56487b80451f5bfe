package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestExamplesRunSideBySide: each example sets its own admin.listen (no two
// host-run examples share a port), logs abandoned logins out or says why
// not, and keeps its data where it can be written outside the container.
func TestExamplesRunSideBySide(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	vars := map[string]string{"VESTIBULE_COOKIE_KEY": key32, "VESTIBULE_ENCRYPTION_KEY": key32, "PGPASSWORD": "pw",
		"TWILIO_ACCOUNT_SID": "ACx", "TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM": "+15005550006"}
	explicitAdmin := regexp.MustCompile(`(?m)^admin:\s*\{\s*listen:`)
	ports := map[string]string{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			text := string(data)
			c, err := ParseWith(data, f, env(vars))
			if err != nil {
				t.Fatal(err)
			}
			if !explicitAdmin.MatchString(text) {
				t.Error("admin.listen not set: a second gateway on the host would clash on the default 127.0.0.1:9091")
			}
			if filepath.Base(f) != "config.fleet.yaml" { // one container per replica
				if other, dup := ports[c.Admin.Listen]; dup {
					t.Errorf("admin.listen %s is also %s's", c.Admin.Listen, other)
				}
				ports[c.Admin.Listen] = filepath.Base(f)
			}
			if !c.Login.LogoutAbandoned && !strings.Contains(text, "logout_abandoned") {
				t.Error("neither logout_abandoned: true nor a word on why not")
			}
			if c.Store.Postgres == "" && filepath.IsAbs(c.Store.SQLite) {
				t.Errorf("store.sqlite %q exists only in the container; a relative path works in both", c.Store.SQLite)
			}
		})
	}
}
