package store

import (
	"context"
	"errors"
	"time"
)

// ErrSignCount: a passkey assertion whose signature counter did not grow
// past the stored one (a cloned authenticator, or a replayed assertion).
var ErrSignCount = errors.New("passkey signature counter did not increase")

// Passkeys is what a durable store keeps of the users' WebAuthn
// credentials. Every method is atomic in the backend.
type Passkeys interface {
	// AddPasskey stores a new passkey of p.User, creating an enrollment
	// with no other factor when the user has none. ErrExists when a
	// passkey with that credential id exists (of any user: ids are
	// globally unique).
	AddPasskey(ctx context.Context, p Passkey) error
	// Passkeys lists the user's passkeys, oldest first (by CreatedAt).
	Passkeys(ctx context.Context, user string) ([]Passkey, error)
	// PasskeyByID returns the passkey with credential id id, or
	// ErrNotFound.
	PasskeyByID(ctx context.Context, id []byte) (Passkey, error)
	// UsePasskey records a sign-in with the user's passkey id, in one
	// conditional update: when the stored or the new signature count is
	// not zero, the new one must be greater than the stored one, else
	// ErrSignCount and nothing changes. On success the count, BackupState
	// and LastUsed (of the passkey and the enrollment) are updated.
	// ErrNotFound when the user has no passkey id.
	UsePasskey(ctx context.Context, user string, id []byte, signCount uint32, backupState bool, at time.Time) error
	// RenamePasskey renames the user's passkey id; ErrNotFound if none.
	RenamePasskey(ctx context.Context, user string, id []byte, name string) error
	// DeletePasskey removes the user's passkey id; ErrNotFound if none.
	DeletePasskey(ctx context.Context, user string, id []byte) error
}

// SignIns are the recent completed sign-ins of each user, for the security
// page: at most SignInsKept per user.
type SignIns interface {
	// AddSignIn records a sign-in and drops the user's sign-ins beyond the
	// newest SignInsKept, in one transaction. UserAgent is cut to
	// MaxUserAgent.
	AddSignIn(ctx context.Context, s SignIn) error
	// SignIns lists the user's sign-ins, newest first, at most limit
	// (all that are kept when limit is not positive).
	SignIns(ctx context.Context, user string, limit int) ([]SignIn, error)
}

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
