package passkey

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/vestibule-gw/vestibule/store"
)

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
