package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vestibule-gw/vestibule/demoapp"
)

func adminGet(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestAdminHealthReadyMetrics(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	admin := e.srv.AdminHandler()
	if code, body := adminGet(t, admin, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	code, body := adminGet(t, admin, "/readyz")
	var checks map[string]string
	json.Unmarshal([]byte(body), &checks)
	if code != 200 || checks["durable_store"] != "ok" || checks["ephemeral_store"] != "ok" || checks["upstream"] != "ok" {
		t.Fatalf("readyz: %d %s", code, body)
	}

	b := e.browser()
	b.login("alice", "wonderland")
	b.enroll()
	b.get("/logout")
	b.login("alice", "wonderland")
	b.verify("000000")
	b.whoami()

	_, m := adminGet(t, admin, "/metrics")
	for _, want := range []string{
		`vestibule_logins_total{outcome="held"} 2`,
		`vestibule_logins_total{outcome="released"} 1`,
		`vestibule_challenges_total{factor="totp",result="failed"} 1`,
		`vestibule_events_total{event="enrollment"} 1`,
		`vestibule_held_logins 1`,
		`vestibule_http_requests_total{class="3xx"}`,
		`vestibule_upstream_response_seconds_count`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The upstream gone: not ready.
	e.appSrv.Close()
	if code, body := adminGet(t, admin, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"upstream":"unreachable"`) {
		t.Fatalf("readyz with the app down: %d %s", code, body)
	}
}
