package cli

import (
	"bytes"
	"encoding/base64"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sqlite"
)

// TestUsersPasskeys: users show lists passkeys; remove-factor removes one
// factor at a time (a passkey by id or name, every passkey, the phone,
// the authenticator, the recovery codes) and never the last one, unless
// -allow-none (then the user is reset); users reset removes passkeys too.
func TestUsersPasskeys(t *testing.T) {
	db := filepath.Join(t.TempDir(), "v.db")
	cfg := adminConfig(t, `{sqlite: "`+db+`"}`)
	lite, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(lite.Enroll(t.Context(), store.Enrollment{User: "alice", TOTPSecret: []byte("sealed"), Phone: "+447400123456",
		RecoveryHashes: [][]byte{[]byte("h1"), []byte("h2")}, CreatedAt: now}))
	for i, name := range []string{"YubiKey", "Laptop", "Laptop"} {
		must(lite.AddPasskey(t.Context(), store.Passkey{User: "alice", ID: []byte{byte(i + 1), 9, 9}, PublicKey: []byte("k"), Name: name,
			SignCount: uint32(i), BackupEligible: i == 1, CreatedAt: now.Add(time.Duration(i) * time.Second)}))
	}
	must(lite.AddPasskey(t.Context(), store.Passkey{User: "bob", ID: []byte{7, 7, 7}, PublicKey: []byte("k"), Name: "Only", CreatedAt: now}))
	lite.Close()
	run := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := Run(t.Context(), append(args, "-config", cfg), &out, io.Discard, noEnv, nil)
		return out.String(), err
	}
	id := func(b ...byte) string { return base64.RawURLEncoding.EncodeToString(b) }

	out, err := run("users", "show", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"factors:             totp,sms,webauthn", "passkeys:            3", "YubiKey", "synced passkey", "device-bound", id(1, 9, 9), id(3, 9, 9)} {
		if !strings.Contains(out, want) {
			t.Errorf("users show lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct {
		args    []string
		wantErr string // "" succeeds
		want    string
	}{
		{[]string{"alice", "webauthn:Laptop"}, `2 passkeys are named "Laptop"`, ""},
		{[]string{"alice", "webauthn:Nope"}, `no passkey with the id or name "Nope"`, ""},
		{[]string{"alice", "fingerprint"}, `unknown factor "fingerprint"`, ""},
		{[]string{"alice", "webauthn:" + id(2, 9, 9)}, "", "alice: removed 1 passkey(s)"},
		{[]string{"alice", "webauthn:Laptop"}, "", "alice: removed 1 passkey(s)"},
		{[]string{"alice", "recovery"}, "", "alice: removed 2 recovery codes"},
		{[]string{"alice", "sms"}, "", "alice: removed phone number (sms)"},
		{[]string{"alice", "sms"}, `user "alice" has no phone number`, ""},
		{[]string{"alice", "webauthn"}, "", "alice: removed 1 passkey(s)"},
		{[]string{"alice", "totp"}, "it is the user's last second factor", ""},
		{[]string{"bob", "webauthn:Only"}, "it is the user's last second factor", ""},
		{[]string{"bob", "webauthn:Only", "-allow-none"}, "", "the last factor: the user was reset"},
	} {
		out, err := run(append([]string{"users", "remove-factor"}, tc.args...)...)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("remove-factor %v: %v, want %q", tc.args, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || !strings.Contains(out, tc.want)):
			t.Errorf("remove-factor %v: %v, output %q, want %q", tc.args, err, out, tc.want)
		}
	}
	lite, err = sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	enr, err := lite.Enrollment(t.Context(), "alice")
	ps, _ := lite.Passkeys(t.Context(), "alice")
	if err != nil || len(enr.TOTPSecret) == 0 || enr.Phone != "" || len(enr.RecoveryHashes) != 0 || len(ps) != 0 {
		t.Errorf("alice after the removals: %+v (%v), %d passkeys; want only the authenticator", enr, err, len(ps))
	}
	if _, err := lite.Enrollment(t.Context(), "bob"); err == nil {
		t.Error("bob is still enrolled after -allow-none removed his last factor")
	}

	// users reset removes passkeys with the rest.
	must(lite.AddPasskey(t.Context(), store.Passkey{User: "alice", ID: []byte{5, 5, 5}, PublicKey: []byte("k"), CreatedAt: now}))
	if _, err := run("users", "reset", "-user", "alice"); err != nil {
		t.Fatal(err)
	}
	if ps, _ := lite.Passkeys(t.Context(), "alice"); len(ps) != 0 {
		t.Errorf("users reset left %d passkeys", len(ps))
	}
}
