package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vestibule-gw/vestibule/config"
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

// TestConfigReload: bypass rules and limits change while serving; keys
// that need a restart are named, not applied.
func TestConfigReload(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.setCookie("demo_session", directLogin(t, e.appSrv.URL, "alice", "wonderland")) // never released
	if got := b.do("GET", "/whoami", nil, "Accept", "text/plain").body; strings.TrimSpace(got) != "anonymous" {
		t.Fatalf("premise: %q", got)
	}
	next := *e.cfg
	next.Bypass = append(append([]config.Bypass(nil), e.cfg.Bypass...), config.Bypass{Path: "/whoami", Methods: []string{"GET"}})
	next.Upstream.URL = "http://127.0.0.1:9"
	next.Branding.Accent = "#0b6e4f"
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	fingerprint := func() string {
		_, m := adminGet(t, e.srv.AdminHandler(), "/metrics")
		i := strings.Index(m, `vestibule_config_info{fingerprint="`)
		if i < 0 {
			t.Fatal("no vestibule_config_info in /metrics")
		}
		return m[i : i+len(`vestibule_config_info{fingerprint="`)+16]
	}
	before := fingerprint()
	restart, err := e.srv.Reload(&next)
	if err != nil {
		t.Fatal(err)
	}
	if after := fingerprint(); after == before {
		t.Error("the config fingerprint in /metrics did not change with the reload")
	}
	if strings.Join(restart, ",") != "upstream" {
		t.Errorf("needs restart: %v", restart)
	}
	// /whoami is now public: the unreleased cookie may reach it.
	if got := b.do("GET", "/whoami", nil, "Accept", "text/plain").body; strings.TrimSpace(got) != "alice" {
		t.Errorf("new bypass rule not applied: %q", got)
	}
	// The branding is applied to the pages at once.
	if css := b.get("/.vestibule/brand.css"); !strings.Contains(css.body, "--accent:#0b6e4f") {
		t.Errorf("brand.css after reload: %q", css.body)
	}
	// A logo file that can't be read keeps the running config.
	bad := next
	bad.Branding.LogoFile = "/nonexistent/logo.png"
	if _, err := e.srv.Reload(&bad); err == nil || !strings.Contains(err.Error(), "branding.logo_file") {
		t.Errorf("reload with a missing logo: %v", err)
	}
	// The upstream change was not applied: the app still answers.
	if p := b.get("/healthz"); p.status != http.StatusOK {
		t.Errorf("upstream changed by a reload: %d", p.status)
	}
}
