package store

import (
	"errors"
	"time"
)

// ErrSignCount: a passkey assertion whose signature counter did not grow
// past the stored one (a cloned authenticator, or a replayed assertion).
var ErrSignCount = errors.New("passkey signature counter did not increase")

// Passkey is one WebAuthn credential (passkey or security key) of a user,
// as Vestibule persists it: its own record, not the WebAuthn library's type,
// so the schema is ours to migrate.
type Passkey struct {
	User string
	// ID is the credential id the authenticator chose (globally unique).
	ID []byte
	// PublicKey is the credential's COSE-encoded public key.
	PublicKey []byte
	// SignCount is the authenticator's signature counter at the last use
	// (0 for authenticators that don't count, as most synced passkeys).
	SignCount uint32
	// AAGUID names the authenticator model (all zero when not attested).
	AAGUID []byte
	// Transports the browser reported (usb, nfc, ble, internal, hybrid).
	Transports []string
	// BackupEligible and BackupState are the BE and BS flags: a passkey
	// that may be, and is, synced to other devices.
	BackupEligible bool
	BackupState    bool
	// UserHandle is the WebAuthn user id the credential was made for.
	UserHandle []byte
	// Name is what the user called it ("YubiKey", "Laptop").
	Name      string
	CreatedAt time.Time
	// LastUsed is when it last signed in (zero: never).
	LastUsed time.Time
}

// SignIn is one completed sign-in (both factors), for the security page.
type SignIn struct {
	User      string
	At        time.Time
	IP        string
	UserAgent string
	// Factor is the second factor that passed: totp, sms, recovery, webauthn
	// (or device for a remembered device).
	Factor string
}

// SignInsKept is how many recent sign-ins are kept per user.
const SignInsKept = 20
