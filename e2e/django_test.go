package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
)

// startDjango runs a real Django project (Debian's python3-django) with its
// admin on a loopback port, and returns its URL.
func startDjango(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import django").Run(); err != nil {
		if os.Getenv("VESTIBULE_REQUIRE_SERVICES") != "" {
			t.Fatalf("Django is not installed (apt-get install python3-django) but VESTIBULE_REQUIRE_SERVICES is set")
		}
		t.Skip("Django is not installed: apt-get install python3-django, or run scripts/test.sh")
	}
	dir := t.TempDir()
	run := func(env []string, args ...string) {
		t.Helper()
		cmd := exec.Command(py, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run(nil, "-m", "django", "startproject", "adminsite", ".")
	settings := filepath.Join(dir, "adminsite", "settings.py")
	s, _ := os.ReadFile(settings)
	s = append(s, []byte("\nALLOWED_HOSTS = ['*']\nDEBUG = False\n")...)
	os.WriteFile(settings, s, 0o600)
	run(nil, "manage.py", "migrate", "--noinput")
	run([]string{"DJANGO_SUPERUSER_PASSWORD=correct horse battery"}, "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
	return startOnFreePort(t, "Django", "/admin/login/", func(port int) *exec.Cmd {
		cmd := exec.Command(py, "manage.py", "runserver", "--noreload", "--insecure", fmt.Sprintf("127.0.0.1:%d", port))
		cmd.Dir = dir
		return cmd
	})
}

// runUntilUp starts cmd (killed when the test ends), logging to logs, and
// waits (bounded) until probe answers over HTTP.
// Whoever runs cmd may Wait for it (a replica that is killed).
func runUntilUp(t *testing.T, what string, cmd *exec.Cmd, logs *syncBuffer, probe string) {
	t.Helper()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(probe); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", what, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startOnFreePort runs the server mk makes for a free loopback port until
// it answers at base+path, and returns base. A port taken by someone else
// between picking and binding it (tests of other packages run at the same
// time) makes the server exit at once: it is tried again on another port.
func startOnFreePort(t *testing.T, what, path string, mk func(port int) *exec.Cmd) string {
	t.Helper()
	for range 3 {
		port := freePort(t)
		logs := &syncBuffer{}
		if tryUntilUp(t, what, mk(port), logs, fmt.Sprintf("http://127.0.0.1:%d%s", port, path)) {
			return fmt.Sprintf("http://127.0.0.1:%d", port)
		}
		t.Logf("%s exited at once on port %d (taken?), trying another:\n%s", what, port, logs)
	}
	t.Fatalf("%s did not start on any of three ports", what)
	return ""
}

// tryUntilUp is runUntilUp reporting false when the process exits before
// or right after its probe answered (then the answer was someone else's).
// It waits for cmd itself: nobody else may.
func tryUntilUp(t *testing.T, what string, cmd *exec.Cmd, logs *syncBuffer, probe string) bool {
	t.Helper()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := http.Get(probe); err == nil {
			resp.Body.Close()
			// Still ours a moment later?
			select {
			case <-exited:
				return false
			case <-time.After(200 * time.Millisecond):
				return true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", what, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var djangoCSRF = regexp.MustCompile(`name="csrfmiddlewaretoken" value="([^"]+)"`)

// djangoLogin posts the admin login form through base.
func djangoLogin(t *testing.T, c *client, base string) resp {
	t.Helper()
	p := c.do("GET", base+"/admin/login/?next=/admin/", nil, "")
	m := djangoCSRF.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no Django login form (%d): %.300s", p.status, p.body)
	}
	return c.do("POST", base+"/admin/login/?next=/admin/", url.Values{
		"csrfmiddlewaretoken": {m[1]}, "username": {"admin"}, "password": {"correct horse battery"}, "next": {"/admin/"}}, "")
}

// TestDjangoAdmin: the shipped examples/django-admin.yaml in front of a
// real Django admin: the login is held, enrollment releases it, the admin
// opens; a session made at Django directly is refused; logout ends it.
func TestDjangoAdmin(t *testing.T) {
	app := startDjango(t)
	gw := exampleGateway(t, "django-admin.yaml", func(c *config.Config, _ string) {
		c.Upstream.URL, c.PublicURL = app, "http://127.0.0.1"
	})

	c := newClient(t)
	p := djangoLogin(t, c, gw)
	if p.status != http.StatusSeeOther || p.loc != "/.vestibule/verify" {
		t.Fatalf("Django's login answer was not held: %d %s", p.status, p.loc)
	}
	if p := c.do("GET", gw+"/admin/", nil, ""); p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Fatalf("/admin/ while held: %d", p.status)
	}
	// Enroll and release: the browser lands on Django's own redirect.
	_, _, p = c.enrollRelease(gw)
	if p.status != http.StatusFound || p.loc != "/admin/" {
		t.Fatalf("release: %d %s", p.status, p.loc)
	}
	if p := c.do("GET", gw+"/admin/", nil, ""); p.status != 200 || !strings.Contains(p.body, "Site administration") {
		t.Fatalf("the admin after 2FA: %d %.300s", p.status, p.body)
	}

	// A session made at Django directly, without the gateway, gains nothing.
	direct := newClient(t)
	if p := djangoLogin(t, direct, app); p.status != http.StatusFound {
		t.Fatalf("direct login at Django: %d", p.status)
	}
	thief := newClient(t)
	thief.copyCookies(direct, app, gw)
	if p := thief.do("GET", gw+"/admin/", nil, ""); p.status == 200 {
		t.Fatal("a Django session made without the gateway opened the admin")
	}

	// Logout through the gateway ends the gate session.
	c.do("GET", gw+"/admin/logout/", nil, "")
	if p := c.do("GET", gw+"/admin/", nil, ""); p.status == 200 {
		t.Fatal("the admin is still open after logout")
	}
}
