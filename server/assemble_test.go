package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/internal/testsvc"
)

// failingAfterStores are configs that New refuses only after it opened
// the stores: each later step of the assembly fails once.
var failingAfterStores = []struct {
	name   string
	mutate func(c *config.Config)
	want   string // in New's error
}{
	{"trusted proxies", func(c *config.Config) { c.Server.TrustedProxies = []string{"not-a-network"} }, "server."},
	{"sms log sender", func(c *config.Config) {
		c.SMS.Enabled, c.SMS.Sender, c.SMS.AllowLogSender = true, "log", false
	}, "sms.sender"},
	{"logo file", func(c *config.Config) { c.Branding.LogoFile = "/nonexistent/logo.png" }, "branding.logo_file"},
	{"open_until", func(c *config.Config) { c.Enrollment.OpenUntil = "someday" }, "enrollment.open_until"},
	{"success header", func(c *config.Config) { c.Login.Success.Headers = map[string]string{"Location": "("} }, "login.success.headers.Location"},
	{"bypass pattern", func(c *config.Config) { c.Bypass = []config.Bypass{{Pattern: "^("}} }, "bypass[0].pattern"},
	{"identity regexp", func(c *config.Config) { c.Login.Identity = config.Identity{Path: "/me", Regexp: "("} }, "login.identity.regexp"},
	{"parse mount", func(c *config.Config) { c.Parse.Enabled, c.Parse.Mount = true, "parse" }, "mount"},
}

// assemblyConfig is a valid config on a SQLite file in dir.
func assemblyConfig(t *testing.T, db string) *config.Config {
	t.Helper()
	yml := fmt.Sprintf(baseConfig, "http://127.0.0.1", "http://127.0.0.1:1", key32(), testEncKey, db)
	cfg, err := config.Parse([]byte(yml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// openFilesUnder lists this process's open files below dir (Linux).
func openFilesUnder(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd to count open files: %v", err)
	}
	var open []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			open = append(open, target)
		}
	}
	return open
}

// TestNewFailingClosesStores: a New that fails after opening the SQLite
// file leaves no file of it open, whichever step failed.
func TestNewFailingClosesStores(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range failingAfterStores {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := assemblyConfig(t, filepath.Join(dir, "v.db"))
			// The same config without the fault opens the file: the
			// check below can see it.
			srv, err := New(t.Context(), cfg, Deps{Logger: quiet})
			if err != nil {
				t.Fatalf("New with the valid config: %v", err)
			}
			if len(openFilesUnder(t, dir)) == 0 {
				t.Fatal("a running gateway holds no file of its SQLite store: the check would prove nothing")
			}
			srv.Close()

			tc.mutate(cfg)
			srv, err = New(t.Context(), cfg, Deps{Logger: quiet})
			if err == nil {
				srv.Close()
				t.Fatal("New accepted the faulty config")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want it to name %s", err, tc.want)
			}
			if open := openFilesUnder(t, dir); len(open) > 0 {
				t.Errorf("New failed (%v) but left open: %v", err, open)
			}
		})
	}
}

// TestNewFailingClosesRedis: a New that fails after connecting to Redis
// leaves no connection to it.
func TestNewFailingClosesRedis(t *testing.T) {
	rs := testsvc.StartRedis(t)
	admin := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rs.Port)})
	defer admin.Close()
	// others counts the server's clients besides admin's own connection.
	others := func() int {
		list, err := admin.ClientList(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(strings.TrimSpace(list), "\n")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	cfg := assemblyConfig(t, filepath.Join(dir, "v.db"))
	cfg.Store.Redis = rs.URL()
	srv, err := New(t.Context(), cfg, Deps{Logger: quiet})
	if err != nil {
		t.Fatalf("New with the valid config: %v", err)
	}
	if others() == 0 {
		t.Fatal("a running gateway holds no Redis connection: the check would prove nothing")
	}
	srv.Close()
	waitForNoClients(t, others)

	cfg.Server.TrustedProxies = []string{"not-a-network"}
	if srv, err := New(t.Context(), cfg, Deps{Logger: quiet}); err == nil {
		srv.Close()
		t.Fatal("New accepted the faulty config")
	}
	waitForNoClients(t, others)
	if open := openFilesUnder(t, dir); len(open) > 0 {
		t.Errorf("New failed but left open: %v", open)
	}
}

// waitForNoClients waits until Redis has seen the connections close (it
// learns of a closed socket on its next event-loop turn).
func waitForNoClients(t *testing.T, others func() int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for n := others(); n > 0; n = others() {
		select {
		case <-ctx.Done():
			t.Fatalf("%d connections to Redis still open", n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
