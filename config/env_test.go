package config

import "testing"

// TestListenFromEnvironment: VESTIBULE_LISTEN and VESTIBULE_ADMIN_LISTEN
// win over whatever the file says, ${...} or not; empty counts as unset;
// "off" turns the admin listener off.
func TestListenFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name          string
		yaml          string
		env           map[string]string
		listen, admin string
	}{
		{"defaults", "", nil, "127.0.0.1:8080", "127.0.0.1:9091"},
		{"file", "listen: 127.0.0.1:7000\nadmin: {listen: 127.0.0.1:7001}\n", nil, "127.0.0.1:7000", "127.0.0.1:7001"},
		{"environment over file", "listen: 127.0.0.1:7000\nadmin: {listen: 127.0.0.1:7001}\n",
			map[string]string{EnvListen: "0.0.0.0:8080", EnvAdminListen: "0.0.0.0:9091"}, "0.0.0.0:8080", "0.0.0.0:9091"},
		{"environment over defaults", "", map[string]string{EnvListen: "127.0.0.1:8181"}, "127.0.0.1:8181", "127.0.0.1:9091"},
		{"environment over ${...} fallback", "listen: ${VESTIBULE_LISTEN:-127.0.0.1:1}\n", map[string]string{EnvListen: "127.0.0.1:2"}, "127.0.0.1:2", "127.0.0.1:9091"},
		{"empty is unset", "listen: 127.0.0.1:7000\n", map[string]string{EnvListen: "", EnvAdminListen: " "}, "127.0.0.1:7000", "127.0.0.1:9091"},
		{"admin off", "", map[string]string{EnvAdminListen: "off"}, "127.0.0.1:8080", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			c, err := ParseWith([]byte(tc.yaml), "c.yaml", env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tc.listen || c.Admin.Listen != tc.admin {
				t.Errorf("listen %q admin %q, want %q %q", c.Listen, c.Admin.Listen, tc.listen, tc.admin)
			}
		})
	}
}
