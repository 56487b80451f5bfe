package cli

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite testdata/transcript.golden from this run")

// TestTranscript runs every command's ordinary and failing cases and
// compares what each printed (stdout, stderr) and returned with
// testdata/transcript.golden: a command's output and exit status are its
// interface to scripts and operators. Paths, times and keys are replaced
// by placeholders; `go test -run TestTranscript -update` rewrites it.
func TestTranscript(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))
	env := func(k string) (string, bool) {
		switch k {
		case "VESTIBULE_COOKIE_KEY", "VESTIBULE_ENCRYPTION_KEY":
			return key, true
		}
		return "", false
	}
	write := func(name, storeYAML, extra string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`
public_url: https://app.example.com
upstream: {url: "http://127.0.0.1:1"}
session_cookies: [s]
login: {user: {normalize: [nfkc, trim, casefold]}}
gate: {keys: ["${VESTIBULE_COOKIE_KEY}"]}
secrets: {encryption_keys: ["${VESTIBULE_ENCRYPTION_KEY}"]}
store: `+storeYAML+`
`+extra), 0o600)
		return p
	}
	dbPath := filepath.Join(dir, "v.db")
	lite := write("lite.yaml", `{sqlite: "`+dbPath+`"}`, "")
	mem := write("mem.yaml", `{sqlite: "`+dbPath+`", ephemeral: memory}`, "")
	parse := write("parse.yaml", `{sqlite: "`+dbPath+`"}`, "parse: {enabled: true}\n")
	bad := write("bad.yaml", `{sqlite: "`+dbPath+`"}`, "listen: nowhere\n")
	db, err := sqlite.Open(t.Context(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	db.Enroll(t.Context(), store.Enrollment{User: "alice", TOTPSecret: []byte("sealed"), CreatedAt: at, RecoveryHashes: [][]byte{{1}, {2}}})
	db.Enroll(t.Context(), store.Enrollment{User: "carol", TOTPSecret: []byte("sealed"), CreatedAt: at, LastUsed: at.Add(time.Hour)})
	db.Close()

	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer sick.Close()

	cases := [][]string{
		{},
		{"frobnicate"},
		{"users"},
		{"users", "frob"},
		{"version"},
		{"help"},
		{"config", "check", "-config", lite},
		{"config", "check", "-config", bad},
		{"config", "check", "-config", filepath.Join(dir, "missing.yaml")},
		{"serve", "-config", bad},
		{"serve", "-h"},
		{"demo", "-h"},
		{"users", "list", "-config", lite},
		{"users", "list", "-config", lite, "extra"},
		{"users", "show", "-config", lite, "alice"},
		{"users", "show", "-config", lite, "-user", "Carol "},
		{"users", "show", "-config", lite, "bob"},
		{"users", "show", "-config", lite},
		{"users", "show", "-h"},
		{"users", "reset", "-config", lite, "-user", "bob"},
		{"users", "reset", "-h"},
		{"users", "recovery-codes", "-config", lite, "-user", "bob"},
		{"users", "recovery-codes", "-h"},
		{"users", "set-phone", "-config", lite, "-user", "alice", "-number", "12"},
		{"users", "set-phone", "-config", lite, "-user", "bob", "-number", "+447400123456"},
		{"users", "set-phone", "-config", lite, "-user", "alice", "-number", "+44 7400 123456"},
		{"users", "show", "-config", lite, "alice"},
		{"users", "unlock", "-config", lite, "-user", "alice"},
		{"users", "unlock", "-config", mem, "-user", "alice"},
		{"users", "unlock", "-h"},
		{"devices", "revoke", "-config", lite, "-user", "alice"},
		{"devices", "revoke", "-config", mem, "-user", "carol"},
		{"devices", "revoke", "-config", lite, "-user", "bob"},
		{"devices", "revoke", "-h"},
		{"users", "reset", "-config", lite, "carol"},
		{"users", "list", "-config", lite},
		{"ips", "list", "-config", lite},
		{"ips", "list", "-config", lite, "extra"},
		{"ips", "list", "-config", mem},
		{"ips", "list", "-h"},
		{"ips", "unlock", "-config", lite},
		{"ips", "unlock", "-config", lite, "not-an-ip"},
		{"ips", "unlock", "192.0.2.1", "-config", lite},
		{"ips", "unlock", "-config", lite, "[::ffff:192.0.2.1]"},
		{"ips", "unlock", "-h"},
		{"users", "invite", "-config", lite},
		{"users", "invite", "-config", lite, "a", "b"},
		{"users", "invite", "-config", lite, "-ttl", "1m", "dave"},
		{"users", "invite", "-config", bad, "dave"},
		{"users", "invite", "-h"},
		{"parse", "import-mfa", "-config", lite},
		{"parse", "import-mfa", "-config", parse},
		{"parse", "import-mfa", "-config", parse, "-master-key-file", filepath.Join(dir, "missing")},
		{"parse", "import-mfa", "-h"},
		{"health", "-url", healthy.URL},
		{"health", "-url", sick.URL},
		{"health", "-h"},
		{"keys"},
		{"devices"},
	}
	var got strings.Builder
	for _, args := range cases {
		var out, errOut bytes.Buffer
		err := Run(t.Context(), args, &out, &errOut, env, nil)
		fmt.Fprintf(&got, "$ vestibule %s\n", strings.Join(args, " "))
		if out.Len() > 0 {
			fmt.Fprintf(&got, "[stdout]\n%s", ensureNewline(out.String()))
		}
		if errOut.Len() > 0 {
			fmt.Fprintf(&got, "[stderr]\n%s", ensureNewline(errOut.String()))
		}
		if err != nil {
			fmt.Fprintf(&got, "[exit 1] vestibule: %v\n", err)
		} else {
			fmt.Fprintf(&got, "[exit 0]\n")
		}
		got.WriteString("\n")
	}
	transcript := normalize(got.String(), map[string]string{
		dir: "$DIR", healthy.URL: "$HEALTHY", sick.URL: "$SICK", key: "$KEY",
	})
	golden := filepath.Join("testdata", "transcript.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(transcript), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if transcript != string(want) {
		t.Errorf("the commands' output changed; diff testdata/transcript.golden against:\n%s", transcript)
	}
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

var (
	reLogTime = regexp.MustCompile(`time=\S+`)
	reStamp   = regexp.MustCompile(`\d{4}-\d\d-\d\d (\d\d:\d\d(:\d\d)?) UTC`)
	reToken   = regexp.MustCompile(`\?t=[A-Za-z0-9%_-]+`)
)

// normalize replaces what differs from run to run with placeholders (the
// fixed enrollment dates of 2026-03-04 stay).
func normalize(s string, fixed map[string]string) string {
	for from, to := range fixed {
		s = strings.ReplaceAll(s, from, to)
	}
	s = reLogTime.ReplaceAllString(s, "time=$$TIME")
	s = reStamp.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "2026-03-04") {
			return m
		}
		return "$WHEN"
	})
	return reToken.ReplaceAllString(s, "?t=$$TOKEN")
}
