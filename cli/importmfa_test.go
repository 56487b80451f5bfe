package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

// TestParseImportMFA: users of Parse's mfa adapter (authData.mfa as the
// adapter stores it: secret and recovery for TOTP, mobile for SMS,
// pending for an unconfirmed number) are enrolled in the gateway, the
// secret sealed; authData.mfa is then removed at Parse; a second run finds
// them enrolled.
func TestParseImportMFA(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	users := []map[string]any{
		{"objectId": "aaa111", "username": "ann", "authData": map[string]any{"mfa": map[string]any{"secret": secret, "recovery": []string{"r1", "r2"}}}},
		{"objectId": "bbb222", "username": "ben", "authData": map[string]any{"mfa": map[string]any{"mobile": "+447400123456"}}},
		{"objectId": "ccc333", "username": "cat", "authData": map[string]any{"mfa": map[string]any{"pending": map[string]any{"+447400999999": map[string]any{"token": "123456"}}}}},
		{"objectId": "ddd444", "username": "dan"},
	}
	var mu sync.Mutex
	var cleared []string
	parse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Parse-Application-Id") != "app" || r.Header.Get("X-Parse-Master-Key") != "mk" {
			http.Error(w, `{"code":119}`, http.StatusForbidden)
			return
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/parse/classes/_User":
			var out []any
			if r.URL.Query().Get("skip") == "0" && r.URL.Query().Get("order") == "objectId" {
				for _, u := range users {
					out = append(out, u)
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"results": out})
		case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/parse/users/"):
			b, _ := io.ReadAll(r.Body)
			if string(b) != `{"authData":{"mfa":null}}` {
				t.Errorf("clearing sent %s", b)
			}
			mu.Lock()
			cleared = append(cleared, strings.TrimPrefix(r.URL.Path, "/parse/users/"))
			mu.Unlock()
			io.WriteString(w, `{"updatedAt":"2026-12-02T00:00:00.000Z"}`)
		default:
			http.Error(w, "unexpected", 500)
		}
	}))
	defer parse.Close()

	dir := t.TempDir()
	keyB := bytes.Repeat([]byte{7}, 32)
	key := base64.StdEncoding.EncodeToString(keyB)
	cfgPath := filepath.Join(dir, "c.yaml")
	dbPath := filepath.Join(dir, "v.db")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
upstream: {url: %q}
parse: {enabled: true}
gate: {keys: ["%s"]}
secrets: {encryption_keys: ["%s"]}
store: {sqlite: %q}
`, parse.URL, key, key, dbPath)), 0o600)
	env := func(k string) (string, bool) {
		switch k {
		case "PARSE_APP_ID":
			return "app", true
		case "PARSE_MASTER_KEY":
			return "mk", true
		}
		return "", false
	}
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"parse", "import-mfa", "-config", cfgPath, "-dry-run"}, &out, io.Discard, env, nil); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "would import 2, skipped 1, failed 0") || len(cleared) != 0 {
		t.Fatalf("dry run:\n%s", out.String())
	}
	out.Reset()
	if err := Run(t.Context(), []string{"parse", "import-mfa", "-config", cfgPath}, &out, io.Discard, env, nil); err != nil {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	report := out.String()
	for _, want := range []string{"aaa111 (ann): enrolled: authenticator (TOTP)", "2 recovery codes are not carried over", "bbb222 (ben): enrolled: text messages to +44", "ccc333 (cat): skipped", "imported 2, skipped 1, failed 0"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "ddd444") || strings.Contains(report, secret) || strings.Contains(report, "7400123456") {
		t.Errorf("report:\n%s", report)
	}
	if strings.Join(cleared, ",") != "aaa111,bbb222" {
		t.Errorf("cleared at Parse: %v", cleared)
	}
	db, err := sqlite.Open(t.Context(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ann, err := db.Enrollment(t.Context(), "aaa111")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ann.TOTPSecret, []byte(secret)) {
		t.Error("the secret is stored in the clear")
	}
	sealer, _ := seal.New([][]byte{keyB}, nil)
	if plain, err := sealer.Open(ann.TOTPSecret, []byte("aaa111")); err != nil || string(plain) != secret {
		t.Errorf("sealed secret opens to %q (%v)", plain, err)
	}
	if ben, err := db.Enrollment(t.Context(), "bbb222"); err != nil || ben.Phone != "+447400123456" || len(ben.TOTPSecret) != 0 {
		t.Errorf("SMS user: %+v %v", ben, err)
	}
	if _, err := db.Enrollment(t.Context(), "ccc333"); err != store.ErrNotFound {
		t.Errorf("unconfirmed user enrolled: %v", err)
	}
	out.Reset()
	if err := Run(t.Context(), []string{"parse", "import-mfa", "-config", cfgPath}, &out, io.Discard, env, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "imported 0, skipped 3") {
		t.Errorf("second run:\n%s", out.String())
	}
}
