package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/server"
)

// exampleEnrollment is the enrollment section a shipped example chose.
func exampleEnrollment(t *testing.T, file string) config.Enrollment {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseWith(data, file, func(string) (string, bool) { return randomKey(), true })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Enrollment
}

// inviteLink issues an invitation as `vestibule users invite` does.
func inviteLink(t *testing.T, cfg *config.Config, user string) string {
	t.Helper()
	p, err := server.EnrollmentPolicy(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := p.Invites.Issue(user, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return "/.vestibule/invite?t=" + url.QueryEscape(tok)
}

type forwardedFor struct{ ip string }

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return http.DefaultTransport.RoundTrip(r)
}

// TestDokuWikiEnrollmentNetworks: the shipped DokuWiki example enrolls only
// from its office networks (the client address read through the trusted
// proxy) or with an invitation, in front of the real DokuWiki.
func TestDokuWikiEnrollmentNetworks(t *testing.T) {
	wiki := startDokuWiki(t)
	policy := exampleEnrollment(t, "dokuwiki.yaml")
	if policy.Mode != "networks" {
		t.Fatalf("examples/dokuwiki.yaml chose %q", policy.Mode)
	}
	var cfg *config.Config
	start := func(t *testing.T) string {
		return exampleGateway(t, "dokuwiki.yaml", func(c *config.Config, gwURL string) {
			c.Upstream.URL, c.PublicURL = wiki, gwURL
			c.Enrollment = policy
			c.Server.TrustedProxies = []string{"127.0.0.1/32"} // this test is the proxy
			cfg = c
		})
	}

	t.Run("from the internet", func(t *testing.T) {
		gw := start(t)
		c := newClient(t)
		c.c.Transport = forwardedFor{"203.0.113.9"}
		if p := dokuLogin(t, c, gw); p.status != http.StatusSeeOther || p.loc != "/.vestibule/verify" {
			t.Fatalf("login not held: %d %s", p.status, p.loc)
		}
		p := c.do("GET", gw+"/.vestibule/verify", nil, "")
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "IT help desk, ext. 4242") {
			t.Fatalf("enrollment from outside the networks: %d %.400s", p.status, p.body)
		}
		if p := c.do("GET", gw+"/doku.php?id=start", nil, ""); strings.Contains(p.body, "Log Out") {
			t.Fatal("signed in to DokuWiki after a refused enrollment")
		}

		// An invitation lets the same client enroll.
		inv := newClient(t)
		inv.c.Transport = forwardedFor{"203.0.113.9"}
		if p := inv.do("GET", gw+inviteLink(t, cfg, "alice"), nil, ""); p.status != http.StatusOK {
			t.Fatalf("invitation link: %d %.300s", p.status, p.body)
		}
		dokuLogin(t, inv, gw)
		if _, _, p := inv.enrollRelease(gw); p.status != http.StatusFound {
			t.Fatalf("release after an invitation: %d %s", p.status, p.loc)
		}
		if p := inv.do("GET", gw+"/doku.php?id=start", nil, ""); !strings.Contains(p.body, "Log Out") {
			t.Fatal("DokuWiki not signed in after enrolling with an invitation")
		}
	})

	t.Run("from the office", func(t *testing.T) {
		gw := start(t)
		c := newClient(t)
		c.c.Transport = forwardedFor{"10.20.30.40"}
		dokuLogin(t, c, gw)
		if _, _, p := c.enrollRelease(gw); p.status != http.StatusFound {
			t.Fatalf("release from the office network: %d %s", p.status, p.loc)
		}
		if p := c.do("GET", gw+"/doku.php?id=start", nil, ""); !strings.Contains(p.body, "Log Out") {
			t.Fatal("DokuWiki not signed in after enrolling from the office")
		}
	})
}

// TestDjangoAdminEnrollmentInvite: the shipped Django example enrolls only
// through an invitation; a refused login is logged out at Django.
func TestDjangoAdminEnrollmentInvite(t *testing.T) {
	app := startDjango(t)
	policy := exampleEnrollment(t, "django-admin.yaml")
	if policy.Mode != "invite" {
		t.Fatalf("examples/django-admin.yaml chose %q", policy.Mode)
	}
	var cfg *config.Config
	gw := exampleGateway(t, "django-admin.yaml", func(c *config.Config, _ string) {
		c.Upstream.URL, c.PublicURL = app, "http://127.0.0.1"
		c.Enrollment = policy
		c.Login.LogoutAbandoned = true
		cfg = c
	})
	c := newClient(t)
	if p := djangoLogin(t, c, gw); p.status != http.StatusSeeOther {
		t.Fatalf("login not held: %d %s", p.status, p.loc)
	}
	if p := c.do("GET", gw+"/.vestibule/verify", nil, ""); p.status != http.StatusForbidden || !strings.Contains(p.body, "invitation link") {
		t.Fatalf("enrollment without an invitation: %d %.400s", p.status, p.body)
	}
	inv := newClient(t)
	if p := inv.do("GET", gw+inviteLink(t, cfg, "admin"), nil, ""); p.status != http.StatusOK {
		t.Fatalf("invitation link: %d", p.status)
	}
	djangoLogin(t, inv, gw)
	if _, _, p := inv.enrollRelease(gw); p.status != http.StatusFound || p.loc != "/admin/" {
		t.Fatalf("release after an invitation: %d %s", p.status, p.loc)
	}
	if p := inv.do("GET", gw+"/admin/", nil, ""); p.status != 200 || !strings.Contains(p.body, "Site administration") {
		t.Fatalf("the admin after enrolling with an invitation: %d", p.status)
	}
}
