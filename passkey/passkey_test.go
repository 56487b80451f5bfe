package passkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

const testOrigin = "https://login.example.com"

var testKey = bytes.Repeat([]byte{7}, 32)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newRP(t testing.TB, mod func(*Config)) (*RP, *clock) {
	t.Helper()
	c := &clock{time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	cfg := Config{PublicURL: testOrigin, RPName: "Example", Now: c.now}
	if mod != nil {
		mod(&cfg)
	}
	rp, err := New(cfg, testKey)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rp, c
}

// register runs a whole registration for name with auth and returns the
// stored passkey and the authenticator's key.
func register(t testing.TB, rp *RP, auth *softAuthenticator, name string, existing []store.Passkey) (store.Passkey, *softKey) {
	t.Helper()
	opts, sess, err := rp.BeginRegistration(name, existing)
	if err != nil {
		t.Fatalf("BeginRegistration(%s): %v", name, err)
	}
	resp, k := auth.create(t, opts, tweak{})
	p, err := rp.FinishRegistration(sess, name, resp)
	if err != nil {
		t.Fatalf("FinishRegistration(%s): %v", name, err)
	}
	return p, k
}

func TestRegistration(t *testing.T) {
	rp, clk := newRP(t, nil)
	auth := newSoftAuthenticator(testOrigin)
	p, k := register(t, rp, auth, "alice", nil)

	if p.User != "alice" || !bytes.Equal(p.ID, k.id) || len(p.PublicKey) == 0 || p.SignCount != 0 {
		t.Errorf("passkey = user %q id %x key %d bytes count %d; want alice, %x, a key, 0", p.User, p.ID, len(p.PublicKey), p.SignCount, k.id)
	}
	if !bytes.Equal(p.AAGUID, auth.aaguid) || strings.Join(p.Transports, ",") != "internal,hybrid" {
		t.Errorf("AAGUID %q transports %q; want %q, internal,hybrid", p.AAGUID, p.Transports, auth.aaguid)
	}
	if !bytes.Equal(p.UserHandle, k.handle) || len(p.UserHandle) != 32 || bytes.Contains(p.UserHandle, []byte("alice")) {
		t.Errorf("user handle %x: want the 32-byte handle the authenticator was given (%x), not the name", p.UserHandle, k.handle)
	}
	if !p.CreatedAt.Equal(clk.t) || p.Name != "" {
		t.Errorf("created %v name %q; want %v and no name (the caller's)", p.CreatedAt, p.Name, clk.t)
	}

	// The second registration: the first is excluded, the handle stays.
	opts, _, err := rp.BeginRegistration("alice", []store.Passkey{p})
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		RP struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		User struct {
			ID, Name string
		} `json:"user"`
		Challenge string `json:"challenge"`
		Exclude   []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
		Selection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		Attestation string `json:"attestation"`
		Timeout     int    `json:"timeout"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if o.RP.ID != "login.example.com" || o.RP.Name != "Example" || o.User.Name != "alice" {
		t.Errorf("rp %+v user %+v", o.RP, o.User)
	}
	if o.User.ID != b64.EncodeToString(p.UserHandle) {
		t.Errorf("second registration's user.id %q, want the first's handle %q", o.User.ID, b64.EncodeToString(p.UserHandle))
	}
	if len(o.Exclude) != 1 || o.Exclude[0].ID != b64.EncodeToString(p.ID) {
		t.Errorf("excludeCredentials %+v, want exactly %s", o.Exclude, b64.EncodeToString(p.ID))
	}
	if c, err := b64.DecodeString(o.Challenge); err != nil || len(c) != 32 {
		t.Errorf("challenge %q: want 32 base64url bytes", o.Challenge)
	}
	if o.Selection.ResidentKey != "preferred" || o.Selection.UserVerification != "preferred" || o.Attestation != "none" || o.Timeout != int(DefaultTimeout/time.Millisecond) {
		t.Errorf("selection %+v attestation %q timeout %d", o.Selection, o.Attestation, o.Timeout)
	}
}

func TestUserHandle(t *testing.T) {
	rp, _ := newRP(t, nil)
	other, err := New(Config{PublicURL: testOrigin, RPName: "Example"}, bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a, b := rp.UserHandle("alice", nil), rp.UserHandle("bob", nil)
	switch {
	case len(a) != 32:
		t.Errorf("handle is %d bytes, want 32", len(a))
	case !bytes.Equal(a, rp.UserHandle("alice", nil)):
		t.Error("the same user got two handles")
	case bytes.Equal(a, b):
		t.Error("two users share a handle")
	case bytes.Equal(a, other.UserHandle("alice", nil)):
		t.Error("the handle does not depend on the key")
	}
	kept := []store.Passkey{{User: "bob", UserHandle: []byte("bob's")}, {User: "alice"}, {User: "alice", UserHandle: []byte("an older handle")}}
	if got := rp.UserHandle("alice", kept); string(got) != "an older handle" {
		t.Errorf("with passkeys the handle is %q, want theirs", got)
	}
	if got := rp.UserHandle("carol", kept); !bytes.Equal(got, rp.UserHandle("carol", nil)) {
		t.Errorf("carol took the handle %q of another user's passkey", got)
	}
}

func TestRegistrationRefused(t *testing.T) {
	cases := []struct {
		name  string
		uv    string
		tw    tweak
		mod   func(sess []byte) []byte
		later time.Duration
		as    string // who finishes (empty: alice, who began)
		want  error
	}{
		{name: "wrong origin", tw: tweak{origin: "https://evil.example.net"}, want: ErrOrigin},
		{name: "another user's session", as: "bob", want: ErrChallenge},
		{name: "sibling origin not configured", tw: tweak{origin: "https://other.example.com"}, want: ErrOrigin},
		{name: "cross-origin frame", tw: tweak{crossOrig: true}, want: ErrOrigin},
		{name: "wrong rp id hash", tw: tweak{rpID: "example.net"}, want: ErrRelyingParty},
		{name: "other challenge", tw: tweak{challenge: b64.EncodeToString(bytes.Repeat([]byte{1}, 32))}, want: ErrChallenge},
		{name: "assertion type", tw: tweak{ceremony: "webauthn.get"}, want: ErrChallenge},
		{name: "uv required, not given", uv: "required", tw: tweak{noUV: true}, want: ErrUserVerification},
		{name: "no user presence", tw: tweak{noUP: true}, want: ErrInvalid},
		{name: "expired", later: DefaultTimeout, want: ErrExpired},
		{name: "session altered", mod: func(s []byte) []byte { s[3] ^= 1; return s }, want: ErrChallenge},
		{name: "session cut", mod: func(s []byte) []byte { return s[:20] }, want: ErrChallenge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rp, clk := newRP(t, func(c *Config) { c.UserVerification = tc.uv })
			auth := newSoftAuthenticator(testOrigin)
			opts, sess, err := rp.BeginRegistration("alice", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := auth.create(t, opts, tc.tw)
			if tc.mod != nil {
				sess = tc.mod(sess)
			}
			clk.t = clk.t.Add(tc.later)
			as := "alice"
			if tc.as != "" {
				as = tc.as
			}
			p, err := rp.FinishRegistration(sess, as, resp)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrRefused) {
				t.Fatalf("FinishRegistration = %+v, %v; want %v (a refusal)", p.ID, err, tc.want)
			}
		})
	}

	t.Run("already registered", func(t *testing.T) {
		rp, _ := newRP(t, nil)
		auth := newSoftAuthenticator(testOrigin)
		p, _ := register(t, rp, auth, "alice", nil)
		opts, sess, err := rp.BeginRegistration("alice", []store.Passkey{p})
		if err != nil {
			t.Fatal(err)
		}
		resp, k := auth.create(t, opts, tweak{})
		// An authenticator that ignored excludeCredentials and answered
		// with the registered credential id.
		resp = bytes.ReplaceAll(resp, []byte(b64.EncodeToString(k.id)), []byte(b64.EncodeToString(p.ID)))
		if _, err := rp.FinishRegistration(sess, "alice", resp); !errors.Is(err, ErrAlreadyRegistered) {
			t.Fatalf("re-registering: %v, want ErrAlreadyRegistered", err)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		rp, _ := newRP(t, nil)
		_, sess, err := rp.BeginRegistration("alice", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range []string{"", "{", `{"id":"x"}`, strings.Repeat(" ", MaxResponseLen+1)} {
			if _, err := rp.FinishRegistration(sess, "alice", []byte(body)); !errors.Is(err, ErrMalformed) {
				t.Errorf("body %.20q: %v, want ErrMalformed", body, err)
			}
		}
	})
}

// signIn sets up alice (and bob) with a passkey each.
type signInFixture struct {
	rp           *RP
	clk          *clock
	auth         *softAuthenticator
	alice, bob   store.Passkey
	aliceK, bobK *softKey
}

func newSignIn(t testing.TB, uv string) *signInFixture {
	t.Helper()
	f := &signInFixture{auth: newSoftAuthenticator(testOrigin)}
	f.rp, f.clk = newRP(t, func(c *Config) { c.UserVerification = uv })
	f.alice, f.aliceK = register(t, f.rp, f.auth, "alice", nil)
	f.bob, f.bobK = register(t, f.rp, f.auth, "bob", nil)
	return f
}

func TestSignIn(t *testing.T) {
	f := newSignIn(t, "")
	second, secondK := register(t, f.rp, f.auth, "alice", []store.Passkey{f.alice})
	creds := []store.Passkey{f.alice, second}

	opts, sess, err := f.rp.BeginLogin("alice", creds)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		RPID  string `json:"rpId"`
		Allow []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"allowCredentials"`
		UserVerification string `json:"userVerification"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if o.RPID != "login.example.com" || o.UserVerification != "preferred" || len(o.Allow) != 2 ||
		o.Allow[0].ID != b64.EncodeToString(f.alice.ID) || o.Allow[1].ID != b64.EncodeToString(second.ID) || o.Allow[0].Type != "public-key" {
		t.Fatalf("request options %s: want rpId, preferred UV, and exactly alice's two credentials", opts)
	}

	resp := f.auth.get(t, opts, secondK, tweak{})
	got, err := f.rp.FinishLogin(sess, "alice", creds, resp)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if !bytes.Equal(got.CredentialID, second.ID) || got.SignCount != 1 || !got.UserVerified || got.BackupState {
		t.Errorf("assertion %+v: want the second passkey, count 1, verified, not backed up", got)
	}

	for _, creds := range [][]store.Passkey{nil, {f.alice, f.bob}} {
		if _, _, err := f.rp.BeginLogin("carol", creds); !errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrRefused) {
			t.Errorf("BeginLogin for carol with %d passkeys of others: %v, want ErrNoCredentials (not a refusal)", len(creds), err)
		}
	}
}

// TestSignInSynced: a synced passkey (backup eligible and backed up, no
// counter) signs in again and again with a counter of 0.
func TestSignInSynced(t *testing.T) {
	rp, _ := newRP(t, nil)
	auth := newSoftAuthenticator(testOrigin)
	opts, sess, err := rp.BeginRegistration("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, k := auth.create(t, opts, tweak{be: true, bs: true})
	p, err := rp.FinishRegistration(sess, "alice", resp)
	if err != nil {
		t.Fatal(err)
	}
	if !p.BackupEligible || !p.BackupState {
		t.Fatalf("BE %v BS %v, want both", p.BackupEligible, p.BackupState)
	}
	zero := uint32(0)
	for i := range 2 {
		opts, sess, err := rp.BeginLogin("alice", []store.Passkey{p})
		if err != nil {
			t.Fatal(err)
		}
		got, err := rp.FinishLogin(sess, "alice", []store.Passkey{p}, auth.get(t, opts, k, tweak{count: &zero}))
		if err != nil {
			t.Fatalf("sign-in %d: %v", i, err)
		}
		if got.SignCount != 0 || !got.BackupState {
			t.Errorf("sign-in %d: %+v, want count 0, backed up", i, got)
		}
	}
}

func TestSignInRefused(t *testing.T) {
	five, three, one := uint32(5), uint32(3), uint32(1)
	cases := []struct {
		name   string
		uv     string
		user   string // who signs in (empty: alice)
		bobKey bool   // answer with bob's passkey
		stored uint32 // alice's stored counter
		tw     tweak
		mod    func(f *signInFixture, sess []byte) []byte
		later  time.Duration
		want   error
	}{
		{name: "other user's credential", bobKey: true, want: ErrUnknownCredential},
		{name: "other user's handle", tw: tweak{userHandle: bytes.Repeat([]byte{9}, 32)}, want: ErrUnknownCredential},
		{name: "cloned credential (counter went back)", stored: 5, tw: tweak{count: &three}, want: ErrSignCount},
		{name: "replayed counter", stored: 5, tw: tweak{count: &five}, want: ErrSignCount},
		{name: "counter stopped", stored: 1, tw: tweak{count: new(uint32)}, want: ErrSignCount},
		{name: "wrong origin", tw: tweak{origin: "https://evil.example.net"}, want: ErrOrigin},
		{name: "http origin", tw: tweak{origin: "http://login.example.com"}, want: ErrOrigin},
		{name: "wrong rp id hash", tw: tweak{rpID: "example.net"}, want: ErrRelyingParty},
		{name: "other challenge (replayed assertion)", tw: tweak{challenge: b64.EncodeToString(bytes.Repeat([]byte{1}, 32))}, want: ErrChallenge},
		{name: "creation type", tw: tweak{ceremony: "webauthn.create"}, want: ErrChallenge},
		{name: "expired session", later: DefaultTimeout, want: ErrExpired},
		{name: "a second before expiry passes", later: DefaultTimeout - time.Second},
		{name: "tampered signature", tw: tweak{badSig: true}, want: ErrSignature},
		{name: "uv required, not given", uv: "required", tw: tweak{noUV: true}, want: ErrUserVerification},
		{name: "session altered", mod: func(_ *signInFixture, s []byte) []byte { s[len(s)-1] ^= 1; return s }, want: ErrChallenge},
		{name: "registration session", mod: func(f *signInFixture, _ []byte) []byte {
			_, s, _ := f.rp.BeginRegistration("alice", nil)
			return s
		}, want: ErrChallenge},
		{name: "alice's session, bob signing in", user: "bob", want: ErrChallenge},
		{name: "counter 1 after 0 passes", tw: tweak{count: &one}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newSignIn(t, tc.uv)
			f.alice.SignCount = tc.stored
			opts, sess, err := f.rp.BeginLogin("alice", []store.Passkey{f.alice})
			if err != nil {
				t.Fatal(err)
			}
			k := f.aliceK
			if tc.bobKey {
				k = f.bobK
			}
			resp := f.auth.get(t, opts, k, tc.tw)
			if tc.mod != nil {
				sess = tc.mod(f, sess)
			}
			f.clk.t = f.clk.t.Add(tc.later)
			user, creds := "alice", []store.Passkey{f.alice}
			if tc.user == "bob" {
				user, creds = "bob", []store.Passkey{f.bob}
			}
			got, err := f.rp.FinishLogin(sess, user, creds, resp)
			if tc.want == nil {
				if err != nil || !bytes.Equal(got.CredentialID, f.alice.ID) {
					t.Fatalf("FinishLogin = %+v, %v; want alice's passkey", got, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrRefused) {
				t.Fatalf("FinishLogin = %+v, %v; want %v (a refusal)", got, err, tc.want)
			}
			if tc.want == ErrSignCount && !errors.Is(err, store.ErrSignCount) {
				t.Errorf("%v does not wrap store.ErrSignCount", err)
			}
		})
	}
}

// TestSignInOtherUsersPasskeyListed: even when the caller hands over
// another user's passkey with this user's, it does not sign this user in.
func TestSignInOtherUsersPasskeyListed(t *testing.T) {
	f := newSignIn(t, "")
	creds := []store.Passkey{f.alice, f.bob}
	opts, sess, err := f.rp.BeginLogin("alice", creds)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(opts, []byte(b64.EncodeToString(f.bob.ID))) {
		t.Errorf("alice's request options list bob's passkey: %s", opts)
	}
	if _, err := f.rp.FinishLogin(sess, "alice", creds, f.auth.get(t, opts, f.bobK, tweak{})); !errors.Is(err, ErrUnknownCredential) {
		t.Fatalf("bob's passkey for alice: %v, want ErrUnknownCredential", err)
	}
}

// TestErrorsCarryNoSecrets: refusals name the reason, never the session,
// the challenge or the response.
func TestErrorsCarryNoSecrets(t *testing.T) {
	f := newSignIn(t, "")
	opts, sess, err := f.rp.BeginLogin("alice", []store.Passkey{f.alice})
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ Challenge string }
	json.Unmarshal(opts, &o)
	for _, tw := range []tweak{{badSig: true}, {challenge: b64.EncodeToString(bytes.Repeat([]byte{1}, 32))}, {rpID: "x.example"}} {
		resp := f.auth.get(t, opts, f.aliceK, tw)
		_, err := f.rp.FinishLogin(sess, "alice", []store.Passkey{f.alice}, resp)
		if err == nil {
			t.Fatal("accepted")
		}
		sum := sha256.Sum256([]byte("x.example"))
		for _, secret := range []string{o.Challenge, b64.EncodeToString(sess), string(f.alice.PublicKey), string(sum[:])} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains secret material", err)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		key  string // "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"parent domain", func(c *Config) { c.RPID = "example.com" }, ""},
		{"localhost", func(c *Config) { c.PublicURL = "http://localhost:8080" }, ""},
		{"more origins", func(c *Config) { c.RPID = "example.com"; c.Origins = []string{"https://other.example.com:8443"} }, ""},
		{"required uv", func(c *Config) { c.UserVerification = "required" }, ""},
		{"bad public url", func(c *Config) { c.PublicURL = "login.example.com" }, "public_url"},
		{"ip address", func(c *Config) { c.PublicURL = "https://192.0.2.1" }, "rp_id"},
		{"rp id not a parent", func(c *Config) { c.RPID = "example.net" }, "rp_id"},
		{"rp id a child", func(c *Config) { c.RPID = "a.login.example.com" }, "rp_id"},
		{"suffix that is no parent", func(c *Config) { c.RPID = "ple.com" }, "rp_id"},
		{"origin elsewhere", func(c *Config) { c.Origins = []string{"https://evil.example.net"} }, "rp_id"},
		{"origin with a path", func(c *Config) { c.Origins = []string{"https://login.example.com/x"} }, "origins"},
		{"plain http", func(c *Config) { c.PublicURL = "http://login.example.com" }, "origins"},
		{"no name", func(c *Config) { c.RPName = " " }, "rp_name"},
		{"uv", func(c *Config) { c.UserVerification = "always" }, "user_verification"},
		{"attestation", func(c *Config) { c.Attestation = "enterprise" }, "attestation"},
		{"timeout", func(c *Config) { c.Timeout = time.Second }, "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{PublicURL: testOrigin, RPName: "Example"}
			tc.mod(&c)
			err := c.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(c, testKey); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.key+": ") {
				t.Fatalf("Validate = %v, want a problem with %s", err, tc.key)
			}
			if _, err := New(c, testKey); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	if _, err := New(Config{PublicURL: testOrigin, RPName: "x"}, make([]byte, 16)); err == nil {
		t.Error("New accepted a 16-byte key")
	}
}

// TestRandom: challenges come from Config.Random; when it fails, Begin
// fails with an error that is not a refusal (unavailable).
func TestRandom(t *testing.T) {
	fixed := bytes.Repeat([]byte{0xab}, 32)
	rp, _ := newRP(t, func(c *Config) { c.Random = bytes.NewReader(append(append([]byte{}, fixed...), fixed...)) })
	opts, _, err := rp.BeginRegistration("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(opts, []byte(`"challenge":"`+b64.EncodeToString(fixed)+`"`)) {
		t.Errorf("creation options %s: want the challenge read from Config.Random", opts)
	}
	p := store.Passkey{User: "alice", ID: []byte("id"), PublicKey: []byte("k")}
	if opts, _, err = rp.BeginLogin("alice", []store.Passkey{p}); err != nil || !bytes.Contains(opts, []byte(b64.EncodeToString(fixed))) {
		t.Errorf("request options %s, %v: want the challenge read from Config.Random", opts, err)
	}
	// The reader is used up now.
	if _, _, err := rp.BeginRegistration("alice", nil); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("BeginRegistration with a failing random source: %v, want an error that is no refusal", err)
	}
	if _, _, err := rp.BeginLogin("alice", []store.Passkey{p}); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("BeginLogin with a failing random source: %v, want an error that is no refusal", err)
	}
}
