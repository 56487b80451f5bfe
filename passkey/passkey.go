package passkey

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/vestibule-gw/vestibule/store"
)

// MinKeyLen is the shortest key New accepts.
const MinKeyLen = 32

// MaxResponseLen bounds the browser's JSON response Finish reads.
const MaxResponseLen = 64 << 10

// RP runs the ceremonies of one relying party. It is safe for concurrent
// use.
type RP struct {
	wa         *webauthn.WebAuthn
	rpID       string
	origins    []string
	uv         protocol.UserVerificationRequirement
	timeout    time.Duration
	now        func() time.Time
	random     io.Reader
	handleKey  []byte
	sessionKey []byte
}

// New checks cfg and returns its relying party. key (at least 32 bytes,
// such as a key derived for "passkey") derives the users' WebAuthn user
// handles and authenticates the session values; keep it stable: a new key
// gives users without a passkey yet new handles, and makes sessions in
// flight fail.
func New(cfg Config, key []byte) (*RP, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("passkey key: want at least %d bytes, got %d", MinKeyLen, len(key))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	origins, host, _ := cfg.origins()
	rp := &RP{
		rpID:       cfg.rpID(host),
		origins:    origins,
		uv:         protocol.VerificationPreferred,
		timeout:    cfg.timeout(),
		now:        cfg.Now,
		random:     cfg.Random,
		handleKey:  mac(key, []byte("vestibule passkey user handle")),
		sessionKey: mac(key, []byte("vestibule passkey session")),
	}
	if cfg.UserVerification == "required" {
		rp.uv = protocol.VerificationRequired
	}
	if rp.now == nil {
		rp.now = time.Now
	}
	if rp.random == nil {
		rp.random = rand.Reader
	}
	attestation := protocol.PreferNoAttestation
	if cfg.Attestation != "" {
		attestation = protocol.ConveyancePreference(cfg.Attestation)
	}
	timeouts := webauthn.TimeoutConfig{Timeout: rp.timeout, TimeoutUVD: rp.timeout}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  rp.rpID,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             origins,
		AttestationPreference: attestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: rp.uv,
		},
		// Expiry is checked here against the injected clock, not by the
		// library against time.Now.
		Timeouts: webauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
		// No extension is asked for, and none is used: an output a client
		// adds unasked (some password managers do) is no reason to refuse.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	})
	if err != nil {
		return nil, fmt.Errorf("passkey relying party: %w", err)
	}
	rp.wa = wa
	return rp, nil
}

// RPID is the relying party id credentials are scoped to.
func (rp *RP) RPID() string { return rp.rpID }

// UserHandle is the WebAuthn user handle of userName (32 bytes, not the
// name): the one their existing passkeys carry, else an HMAC of the name
// under the key. The same user gets the same handle across registrations.
func (rp *RP) UserHandle(userName string, existing []store.Passkey) []byte {
	for _, p := range own(userName, existing) {
		if len(p.UserHandle) > 0 {
			return bytes.Clone(p.UserHandle)
		}
	}
	return mac(rp.handleKey, []byte(userName))
}

// own returns the passkeys of creds stored for userName (store.Passkey.User):
// every method takes only the user's own, whatever else the caller passed.
func own(userName string, creds []store.Passkey) []store.Passkey {
	var out []store.Passkey
	for _, p := range creds {
		if p.User == userName {
			out = append(out, p)
		}
	}
	return out
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// user is the library's view of a Vestibule user.
type user struct {
	name   string
	handle []byte
	creds  []webauthn.Credential
}

var _ webauthn.User = (*user)(nil)

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.name }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credential converts a stored passkey to the library's credential.
func credential(p store.Passkey) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:        p.ID,
		PublicKey: p.PublicKey,
		Transport: transports,
		Flags: webauthn.CredentialFlags{
			UserPresent:    true,
			BackupEligible: p.BackupEligible,
			BackupState:    p.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
}

// record converts a newly registered credential to the stored passkey.
func record(userName string, handle []byte, c *webauthn.Credential, now time.Time) store.Passkey {
	transports := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		transports[i] = string(t)
	}
	return store.Passkey{
		User:           userName,
		ID:             bytes.Clone(c.ID),
		PublicKey:      bytes.Clone(c.PublicKey),
		SignCount:      c.Authenticator.SignCount,
		AAGUID:         bytes.Clone(c.Authenticator.AAGUID),
		Transports:     transports,
		BackupEligible: c.Flags.BackupEligible,
		BackupState:    c.Flags.BackupState,
		UserHandle:     bytes.Clone(handle),
		CreatedAt:      now,
	}
}

// classify maps what the library refused to one of the refusals; the
// library's short detail (never a key or a challenge) is kept for the log.
func classify(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		kind := ErrInvalid
		if pe.Type == protocol.ErrAssertionSignature.Type {
			kind = ErrSignature
		}
		return fmt.Errorf("%w (%s: %s)", kind, pe.Type, pe.Details)
	}
	return fmt.Errorf("%w (%v)", ErrInvalid, err)
}
