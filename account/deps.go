package account

import (
	"context"
	"net/http"
	"time"

	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/store"
)

// Store is what the security page reads and changes in the durable store.
// Every method names the user; nothing here can reach another user's
// records.
type Store interface {
	// Enrollment returns the user's factors (ErrNotFound: none).
	Enrollment(ctx context.Context, user string) (store.Enrollment, error)
	// Passkeys lists the user's passkeys, oldest first.
	Passkeys(ctx context.Context, user string) ([]store.Passkey, error)
	// RenamePasskey and DeletePasskey change one of the user's passkeys
	// (ErrNotFound: the user has none with that id).
	RenamePasskey(ctx context.Context, user string, id []byte, name string) error
	DeletePasskey(ctx context.Context, user string, id []byte) error
	// AddPasskey stores a new passkey (ErrExists: its credential id is
	// already stored).
	AddPasskey(ctx context.Context, p store.Passkey) error
	// SetTOTP replaces the sealed authenticator secret (keeping the other
	// factors and the recovery codes); RemoveTOTP removes it.
	SetTOTP(ctx context.Context, user string, sealed []byte, at time.Time) error
	RemoveTOTP(ctx context.Context, user string) error
	// UseTOTPStep consumes the time step of the code that confirmed a new
	// authenticator, so that code does not sign in again.
	UseTOTPStep(ctx context.Context, user string, step int64, at time.Time) error
	// SetPhone replaces the verified number; RemovePhone removes it.
	SetPhone(ctx context.Context, user, phone string, at time.Time) error
	RemovePhone(ctx context.Context, user string) error
	// ReplaceRecoveryCodes replaces every recovery code (old ones stop working).
	ReplaceRecoveryCodes(ctx context.Context, user string, hashes [][]byte) error
	// SignIns lists the user's recent sign-ins, newest first.
	SignIns(ctx context.Context, user string, limit int) ([]store.SignIn, error)
	// Devices lists the user's remembered devices; RevokeDevice forgets
	// one (its cookie no longer skips the second factor).
	Devices(ctx context.Context, user string) ([]store.Device, error)
	RevokeDevice(ctx context.Context, user, id string) error
}

// Sessions ends gate sessions: Revoke voids every gate cookie under key
// issued before at, until until (the ephemeral store implements it; the
// key is gate.UserKey for all of a user's sessions).
type Sessions interface {
	Revoke(ctx context.Context, key [32]byte, at, until time.Time) error
}

// Counters count attempts at a confirmation code (the ephemeral store
// implements it): the first Hit of key in a window returns 1.
type Counters interface {
	Hit(ctx context.Context, key string, at time.Time, window time.Duration) (int, error)
}

// Issuer makes the gate cookie for a session (*gate.Issuer implements it).
type Issuer interface {
	Cookie(user string, bind [32]byte, verified time.Time) (*http.Cookie, error)
}

// Sealer encrypts the authenticator secret at rest (seal.Sealer).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Notifier tells the user on another channel of each change: the signed
// security-event webhook (*notify.Notifier; a nil one does nothing).
type Notifier interface {
	Notify(ctx context.Context, ev notify.Event)
}

// Texter sends a confirmation code by text message to a new number under
// the gateway's text-message limits (country and number-type checks,
// cooldown, hourly caps, the guarded sender): the challenge handler
// implements it. It returns the code sent, or a message for the user and
// an HTTP status when nothing was sent.
type Texter interface {
	SendConfirmation(r *http.Request, user, to string) (code, refusal string, status int)
}

// Registrar runs the WebAuthn registration of a new passkey (passkey.RP
// implements it). Begin returns the options for the browser and an opaque
// session value the caller keeps until Finish; Finish checks the browser's
// response (errors matching passkey.ErrRefused are the browser's fault)
// and returns the record to store.
type Registrar interface {
	BeginRegistration(userName string, existing []store.Passkey) (options, session []byte, err error)
	FinishRegistration(session []byte, userName string, response []byte) (store.Passkey, error)
}

// ClaimsFunc returns the gate claims of a request that carries a released
// session (the proxy puts them on every request under the prefix).
type ClaimsFunc func(r *http.Request) (gate.Claims, bool)
