package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"context"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/internal/testsvc"
)

// parseModules is where scripts/test.sh installs parse-server and the
// Parse JS SDK (npm ci in e2e/parse).
const parseModules = "parse/node_modules"

// startParseServer runs the real Parse Server from npm on PostgreSQL, on a
// loopback port, and returns its URL (with the mount path).
func startParseServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(parseModules, ".bin", "parse-server")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("VESTIBULE_REQUIRE_SERVICES") != "" {
			t.Fatalf("parse-server is not installed in e2e/parse (npm ci) but VESTIBULE_REQUIRE_SERVICES is set")
		}
		t.Skip("parse-server is not installed: (cd e2e/parse && npm ci), or run scripts/test.sh")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed but e2e/parse has its modules")
	}
	db := testsvc.PostgresDatabase(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d/parse", port)
	cmd := exec.Command("node", bin, "--appId", "e2eapp", "--masterKey", randomKey(), "--databaseURI", db,
		"--port", fmt.Sprint(port), "--host", "127.0.0.1", "--mountPath", "/parse", "--serverURL", base, "--allowClientClassCreation", "true")
	logs := &syncBuffer{}
	runUntilUp(t, "Parse Server", cmd, logs, base+"/health")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Parse Server log:\n%s", logs)
		}
	})
	return base
}

// TestParseServerWithJSSDK: a Node program using the real Parse JS SDK signs
// up, enrolls, logs in with a code, saves and queries objects and logs out
// through the gateway in front of the real Parse Server; a token obtained
// without the second factor is refused.
func TestParseServerWithJSSDK(t *testing.T) {
	parseURL := startParseServer(t)
	gwURL := exampleGateway(t, "parse-server.yaml", func(cfg *config.Config, gwURL string) {
		cfg.PublicURL = gwURL
		cfg.Upstream.URL = strings.TrimSuffix(parseURL, "/parse")
		cfg.SMS.Enabled = false
		cfg.Parse.GraphQLPath = ""
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "parse/client.mjs")
	cmd.Env = append(os.Environ(), "GATEWAY="+gwURL, "DIRECT="+parseURL, "APP_ID=e2eapp")
	out, err := cmd.CombinedOutput()
	t.Logf("client:\n%s", out)
	if err != nil {
		t.Fatalf("the JS SDK client failed: %v", err)
	}
	if !strings.Contains(string(out), "all checks passed") {
		t.Fatal("the client did not finish")
	}
}
