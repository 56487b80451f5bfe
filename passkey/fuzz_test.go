package passkey

import (
	"errors"
	"testing"

	"github.com/vestibule-gw/vestibule/store"
)

// FuzzFinish: whatever a browser posts, Finish does not panic, and every
// error is a refusal (a wrong attempt), never "unavailable"; a response
// that passes is alice's passkey.
func FuzzFinish(f *testing.F) {
	fx := newSignIn(f, "")
	creds := []store.Passkey{fx.alice}
	loginOpts, loginSess, err := fx.rp.BeginLogin("alice", creds)
	if err != nil {
		f.Fatal(err)
	}
	regOpts, regSess, err := fx.rp.BeginRegistration("alice", creds)
	if err != nil {
		f.Fatal(err)
	}
	one := uint32(1)
	f.Add(fx.auth.get(f, loginOpts, fx.aliceK, tweak{count: &one}))
	f.Add(fx.auth.get(f, loginOpts, fx.aliceK, tweak{badSig: true}))
	reg, _ := fx.auth.create(f, regOpts, tweak{})
	f.Add(reg)
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, response []byte) {
		got, err := fx.rp.FinishLogin(loginSess, "alice", creds, response)
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("FinishLogin: %v is no refusal", err)
		}
		if err == nil && string(got.CredentialID) != string(fx.alice.ID) {
			t.Fatalf("FinishLogin passed for %x, not alice's passkey", got.CredentialID)
		}
		if _, err := fx.rp.FinishRegistration(regSess, "alice", response); err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("FinishRegistration: %v is no refusal", err)
		}
	})
}
