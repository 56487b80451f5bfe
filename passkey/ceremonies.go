package passkey

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/vestibule-gw/vestibule/store"
)

// The two ceremonies: registration (navigator.credentials.create) and
// sign-in (navigator.credentials.get), each a Begin and a Finish.

// BeginRegistration starts adding a passkey for userName, who has the
// passkeys existing (store.Passkey.User set): the browser is told to refuse
// them again (excludeCredentials), and asked for a discoverable credential
// (residentKey preferred) with the configured user verification and
// attestation. options is the JSON of the PublicKeyCredentialCreationOptions for
// navigator.credentials.create (base64url byte fields, as
// static/passkey.js reads them); session is for FinishRegistration: keep it
// server-side, bound to this user's held login, and use it once.
func (rp *RP) BeginRegistration(userName string, existing []store.Passkey) (options, session []byte, err error) {
	existing = own(userName, existing)
	u := &user{name: userName, handle: rp.UserHandle(userName, existing)}
	exclude := make([]protocol.CredentialDescriptor, len(existing))
	ids := make([][]byte, len(existing))
	for i, p := range existing {
		c := credential(p)
		exclude[i] = c.Descriptor()
		ids[i] = bytes.Clone(p.ID)
	}
	challenge, err := rp.challenge()
	if err != nil {
		return nil, nil, err
	}
	creation, sd, err := rp.wa.BeginRegistration(u,
		webauthn.WithExclusions(exclude),
		func(o *protocol.PublicKeyCredentialCreationOptions) error { o.Challenge = challenge; return nil },
	)
	if err != nil {
		return nil, nil, fmt.Errorf("beginning passkey registration: %w", err)
	}
	options, err = json.Marshal(creation.Response)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding passkey registration options: %w", err)
	}
	s := rp.newSession(ceremonyCreate, userName, u.handle, sd.Challenge, ids, sd.UserVerification)
	for _, p := range sd.CredParams {
		s.Algs = append(s.Algs, int64(p.Algorithm))
	}
	session, err = rp.sealSession(s)
	if err != nil {
		return nil, nil, err
	}
	return options, session, nil
}

// FinishRegistration checks the browser's response (the JSON of the
// PublicKeyCredential, as static/passkey.js posts it) against session and
// returns the passkey to persist; the caller names it (Name) and stores it.
// Errors that refuse the response are ErrRefused.
func (rp *RP) FinishRegistration(session []byte, userName string, response []byte) (store.Passkey, error) {
	s, err := rp.openSession(session, ceremonyCreate, userName)
	if err != nil {
		return store.Passkey{}, fmt.Errorf("finishing passkey registration: %w", err)
	}
	if len(response) > MaxResponseLen {
		return store.Passkey{}, fmt.Errorf("finishing passkey registration: %w: over %d bytes", ErrMalformed, MaxResponseLen)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return store.Passkey{}, fmt.Errorf("finishing passkey registration: %w", ErrMalformed)
	}
	authData := parsed.Response.AttestationObject.AuthData
	for _, id := range s.Creds {
		if bytes.Equal(id, parsed.RawID) || bytes.Equal(id, authData.AttData.CredentialID) {
			return store.Passkey{}, fmt.Errorf("finishing passkey registration: %w", ErrAlreadyRegistered)
		}
	}
	if err := rp.check(s, parsed.Response.CollectedClientData, protocol.CreateCeremony, authData); err != nil {
		return store.Passkey{}, fmt.Errorf("finishing passkey registration: %w", err)
	}
	c, err := rp.wa.CreateCredential(&user{name: userName, handle: s.Handle}, rp.library(s), parsed)
	if err != nil {
		return store.Passkey{}, fmt.Errorf("finishing passkey registration: %w", classify(err))
	}
	return record(userName, s.Handle, c, rp.now()), nil
}

// Assertion is a sign-in that passed: which passkey, and what to write
// back to it.
type Assertion struct {
	// CredentialID is the passkey's id (store.Passkey.ID).
	CredentialID []byte
	// SignCount is the authenticator's new signature counter; the caller
	// stores it only if it still grows past the stored one (atomically:
	// two sign-ins racing must not both pass), else store.ErrSignCount.
	SignCount uint32
	// BackupState is the BS flag now (a passkey may become synced later).
	BackupState bool
	// UserVerified: this sign-in verified the user (PIN, biometric).
	UserVerified bool
}

// BeginLogin starts a sign-in by userName with one of creds (their
// passkeys, store.Passkey.User set; at least one, else ErrNoCredentials).
// options is the JSON of the PublicKeyCredentialRequestOptions for
// navigator.credentials.get, allowCredentials listing exactly those;
// session is for FinishLogin: keep it server-side, bound to the held login,
// and use it once.
func (rp *RP) BeginLogin(userName string, creds []store.Passkey) (options, session []byte, err error) {
	u := rp.libraryUser(userName, creds)
	if len(u.creds) == 0 {
		return nil, nil, ErrNoCredentials
	}
	challenge, err := rp.challenge()
	if err != nil {
		return nil, nil, err
	}
	assertion, sd, err := rp.wa.BeginLogin(u, webauthn.WithChallenge(challenge))
	if err != nil {
		return nil, nil, fmt.Errorf("beginning passkey sign-in: %w", err)
	}
	options, err = json.Marshal(assertion.Response)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding passkey sign-in options: %w", err)
	}
	session, err = rp.sealSession(rp.newSession(ceremonyGet, userName, u.handle, sd.Challenge, sd.AllowedCredentialIDs, sd.UserVerification))
	if err != nil {
		return nil, nil, err
	}
	return options, session, nil
}

// FinishLogin checks the browser's response (the JSON of the
// PublicKeyCredential) against session and user's passkeys creds (as
// stored now: their counters matter). A response that does not pass is an
// ErrRefused error naming the reason: ErrUnknownCredential (another user's
// or an unknown passkey), ErrSignature, ErrChallenge, ErrExpired,
// ErrOrigin, ErrRelyingParty, ErrUserVerification, ErrSignCount (wraps
// store.ErrSignCount), ErrMalformed, ErrInvalid.
func (rp *RP) FinishLogin(session []byte, userName string, creds []store.Passkey, response []byte) (Assertion, error) {
	s, err := rp.openSession(session, ceremonyGet, userName)
	if err != nil {
		return Assertion{}, fmt.Errorf("finishing passkey sign-in: %w", err)
	}
	if len(response) > MaxResponseLen {
		return Assertion{}, fmt.Errorf("finishing passkey sign-in: %w: over %d bytes", ErrMalformed, MaxResponseLen)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Assertion{}, fmt.Errorf("finishing passkey sign-in: %w", ErrMalformed)
	}
	creds = own(userName, creds)
	var stored *store.Passkey
	for i := range creds {
		if bytes.Equal(creds[i].ID, parsed.RawID) {
			stored = &creds[i]
			break
		}
	}
	allowed := false
	for _, id := range s.Creds {
		allowed = allowed || bytes.Equal(id, parsed.RawID)
	}
	if stored == nil || !allowed {
		return Assertion{}, fmt.Errorf("finishing passkey sign-in: %w", ErrUnknownCredential)
	}
	if h := parsed.Response.UserHandle; len(h) > 0 && !bytes.Equal(h, s.Handle) {
		return Assertion{}, fmt.Errorf("finishing passkey sign-in: %w: user handle differs", ErrUnknownCredential)
	}
	authData := parsed.Response.AuthenticatorData
	if err := rp.check(s, parsed.Response.CollectedClientData, protocol.AssertCeremony, authData); err != nil {
		return Assertion{}, fmt.Errorf("finishing passkey sign-in: %w", err)
	}
	if _, err := rp.wa.ValidateLogin(rp.libraryUser(userName, creds), rp.library(s), parsed); err != nil {
		return Assertion{}, fmt.Errorf("finishing passkey sign-in: %w", classify(err))
	}
	// The counter: once either side counts, it must grow.
	if n := authData.Counter; (n != 0 || stored.SignCount != 0) && n <= stored.SignCount {
		return Assertion{}, fmt.Errorf("finishing passkey sign-in: %w: %d after %d", ErrSignCount, n, stored.SignCount)
	}
	return Assertion{
		CredentialID: bytes.Clone(stored.ID),
		SignCount:    authData.Counter,
		BackupState:  authData.Flags.HasBackupState(),
		UserVerified: authData.Flags.HasUserVerified(),
	}, nil
}

// libraryUser is userName with their passkeys as the library sees them.
func (rp *RP) libraryUser(userName string, creds []store.Passkey) *user {
	creds = own(userName, creds)
	u := &user{name: userName, handle: rp.UserHandle(userName, creds)}
	for _, p := range creds {
		u.creds = append(u.creds, credential(p))
	}
	return u
}
