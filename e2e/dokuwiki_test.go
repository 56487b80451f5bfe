package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vestibule-gw/vestibule/config"
)

// startDokuWiki runs a private copy of Debian's DokuWiki under PHP's
// built-in server, with one user alice / wonderland.
func startDokuWiki(t *testing.T) string {
	t.Helper()
	php, err := exec.LookPath("php")
	if _, serr := os.Stat("/usr/share/dokuwiki/doku.php"); err != nil || serr != nil {
		if os.Getenv("VESTIBULE_REQUIRE_SERVICES") != "" {
			t.Fatal("DokuWiki is not installed (apt-get install dokuwiki php-cli) but VESTIBULE_REQUIRE_SERVICES is set")
		}
		t.Skip("DokuWiki is not installed: apt-get install dokuwiki php-cli, or run scripts/test.sh")
	}
	dir := t.TempDir()
	for _, c := range [][]string{
		{"cp", "-rL", "/usr/share/dokuwiki", dir + "/wiki"},
		{"cp", "-rL", "/etc/dokuwiki", dir + "/conf"},
		{"cp", "-r", "/var/lib/dokuwiki/data", dir + "/data"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	hash, err := exec.Command(php, "-r", `echo password_hash("wonderland", PASSWORD_BCRYPT);`).Output()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("wiki/inc/preload.php", fmt.Sprintf("<?php\ndefine('DOKU_CONF', '%s/conf/');\n", dir))
	local, _ := os.ReadFile(filepath.Join(dir, "conf/local.php"))
	write("conf/local.php", string(local)+fmt.Sprintf("\n$conf['savedir'] = '%s/data';\n$conf['useacl'] = 1;\n$conf['authtype'] = 'authplain';\n$conf['superuser'] = '@admin';\n", dir))
	write("conf/users.auth.php", "alice:"+string(hash)+":Alice:alice@example.com:admin,user\n")
	// A page only signed-in users may read: its text shows whether a
	// request reached DokuWiki as alice.
	write("conf/acl.auth.php", "*\t@ALL\t1\n*\t@user\t8\nsecret\t@ALL\t0\nsecret\t@user\t1\n")
	write("data/pages/secret.txt", "====== Secret ======\n"+dokuSecret+"\n")
	return startOnFreePort(t, "DokuWiki", "/doku.php", func(port int) *exec.Cmd {
		return exec.Command(php, "-S", fmt.Sprintf("127.0.0.1:%d", port), "-t", dir+"/wiki")
	})
}

func dokuLogin(t *testing.T, c *client, base string) resp {
	t.Helper()
	c.do("GET", base+"/doku.php?id=start&do=login", nil, "")
	return c.do("POST", base+"/doku.php?id=start&do=login", url.Values{
		"sectok": {""}, "id": {"start"}, "do": {"login"}, "u": {"alice"}, "p": {"wonderland"}}, "")
}

// TestDokuWiki: the shipped examples/dokuwiki.yaml in front of a real
// DokuWiki, which keeps its session id at login and adds an auth cookie.
func TestDokuWiki(t *testing.T) {
	wiki := startDokuWiki(t)
	gw := exampleGateway(t, "dokuwiki.yaml", func(c *config.Config, gwURL string) {
		c.Upstream.URL, c.PublicURL = wiki, gwURL
	})

	c := newClient(t)
	p := dokuLogin(t, c, gw)
	if p.status != http.StatusSeeOther || p.loc != "/.vestibule/verify" {
		t.Fatalf("DokuWiki's login answer was not held: %d %s", p.status, p.loc)
	}
	if p := c.do("GET", gw+"/doku.php?id=start", nil, "text/plain"); strings.Contains(p.body, "Log Out") {
		t.Fatal("the kept DokuWiki session is signed in before the second factor")
	}
	_, _, p = c.enrollRelease(gw)
	if p.status != http.StatusFound || p.loc != gw+"/doku.php?id=start" {
		t.Fatalf("release: %d %s", p.status, p.loc)
	}
	if p := c.do("GET", gw+"/doku.php?id=start", nil, ""); !strings.Contains(p.body, "Log Out") {
		t.Fatalf("DokuWiki after 2FA is not signed in: %d %.300s", p.status, p.body)
	}

	// A session made at DokuWiki directly gains nothing through the gateway.
	direct := newClient(t)
	if p := dokuLogin(t, direct, wiki); p.status != http.StatusFound {
		t.Fatalf("direct login at DokuWiki: %d", p.status)
	}
	thief := newClient(t)
	thief.copyCookies(direct, wiki, gw)
	if p := thief.do("GET", gw+"/doku.php?id=start", nil, ""); strings.Contains(p.body, "Log Out") {
		t.Fatal("a DokuWiki session made without the gateway is signed in through it")
	}
}
