package passkey

import (
	"errors"

	"github.com/vestibule-gw/vestibule/store"
)

// ErrRefused is matched (errors.Is) by every error that refuses what the
// browser sent: a wrong attempt, to be counted like a wrong code. An error
// from Finish that is not ErrRefused means the gateway could not check the
// attempt (unavailable), and the attempt should not count against the user.
var ErrRefused = errors.New("passkey refused")

// The refusals. Each is an ErrRefused; the log may name which one, the user
// sees one generic failure.
var (
	// ErrMalformed: the response is not a WebAuthn response of the
	// expected kind (unreadable JSON, bad encoding, too large).
	ErrMalformed = refusal("passkey response malformed", nil)
	// ErrChallenge: the response does not answer this session: another
	// sign-in's challenge, a replay, a session altered or made for another
	// user or the other ceremony.
	ErrChallenge = refusal("passkey response does not answer this session's challenge", nil)
	// ErrExpired: the session's time ran out.
	ErrExpired = refusal("passkey session expired", nil)
	// ErrUnknownCredential: the credential is not one of this user's (another
	// user's, or unknown), or its user handle is another user's.
	ErrUnknownCredential = refusal("passkey credential is not one of this user's", nil)
	// ErrOrigin: the browser ran the ceremony on an origin that is not
	// allowed (or in a cross-origin frame).
	ErrOrigin = refusal("passkey response made on an origin that is not allowed", nil)
	// ErrRelyingParty: the authenticator scoped the credential to another
	// relying party id.
	ErrRelyingParty = refusal("passkey response made for another relying party", nil)
	// ErrUserVerification: user verification is required and the
	// authenticator did not verify the user (no PIN, no biometric).
	ErrUserVerification = refusal("passkey user verification required but not performed", nil)
	// ErrSignature: the assertion's signature does not verify with the
	// stored public key.
	ErrSignature = refusal("passkey signature does not verify", nil)
	// ErrSignCount: the signature counter did not grow (a cloned
	// authenticator or a replayed assertion); it wraps store.ErrSignCount.
	ErrSignCount = refusal("passkey signature counter did not increase", store.ErrSignCount)
	// ErrAlreadyRegistered: registration returned a credential the user
	// already has.
	ErrAlreadyRegistered = refusal("passkey already registered", nil)
	// ErrInvalid: the response fails another WebAuthn check (flags,
	// attestation, algorithm).
	ErrInvalid = refusal("passkey response invalid", nil)
)

// ErrNoCredentials: BeginLogin for a user with no passkey. Not a refusal:
// the caller should not have offered a passkey sign-in.
var ErrNoCredentials = errors.New("passkey sign-in for a user without passkeys")

type refused struct {
	msg  string
	wrap error
}

func refusal(msg string, wrap error) error { return &refused{msg, wrap} }

func (e *refused) Error() string        { return e.msg }
func (e *refused) Unwrap() error        { return e.wrap }
func (e *refused) Is(target error) bool { return target == ErrRefused }
