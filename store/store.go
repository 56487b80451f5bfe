package store

import (
	"context"
	"net/http"
	"time"
)

// Durable holds what must survive a restart: who is enrolled, their sealed
// TOTP secret, the last TOTP step they used and their recovery-code hashes.
// The embedded implementation is SQLite (store/sqlite); a PostgreSQL one can
// implement the same interface.
//
// Every method that consumes something (a TOTP step, a recovery code) is a
// single atomic check-and-update in the backend, never read-then-write in Go.
type Durable interface {
	// Enrollment returns the user's enrollment, or ErrNotFound.
	Enrollment(ctx context.Context, user string) (Enrollment, error)
	// Enroll stores a complete enrollment for e.User, replacing any earlier
	// one (its secret, recovery codes and last step) in one transaction.
	Enroll(ctx context.Context, e Enrollment) error
	// EnrollNew stores a first enrollment, atomically: ErrExists when the
	// user is already enrolled (two first enrollments racing: one wins).
	// One with neither TOTP secret nor phone is the enrollment of a first
	// passkey, which the caller adds next (AddPasskey).
	EnrollNew(ctx context.Context, e Enrollment) error
	// UseTOTPStep records that the user just used the TOTP code of time step
	// step. It fails with ErrReplay unless step is greater than the last step
	// recorded, and with ErrNotFound when the user is not enrolled.
	UseTOTPStep(ctx context.Context, user string, step int64, at time.Time) error
	// UseRecoveryCode consumes the unused recovery code whose hash is hash.
	// It fails with ErrNotFound when no unused code of the user has that hash.
	// On success it returns how many unused codes remain.
	UseRecoveryCode(ctx context.Context, user string, hash []byte, at time.Time) (remaining int, err error)
	// SetPhone sets the user's verified phone number (E.164) for text
	// message codes, creating an enrollment without TOTP if there is none.
	SetPhone(ctx context.Context, user, phone string, at time.Time) error
	// RevokeDevices voids every remembered-device cookie of the user issued
	// before at; ErrNotFound when the user is not enrolled.
	RevokeDevices(ctx context.Context, user string, at time.Time) error
	// Enrollments lists every enrollment, by user name (admin listing).
	Enrollments(ctx context.Context) ([]Enrollment, error)
	// ReplaceRecoveryCodes replaces the user's recovery-code hashes with a
	// new set (the old ones stop working); ErrNotFound if not enrolled.
	ReplaceRecoveryCodes(ctx context.Context, user string, hashes [][]byte) error
	// Reset removes the user's enrollment (factor reset) with everything
	// kept of it: recovery codes, passkeys and recent sign-ins; ErrNotFound
	// if none.
	Reset(ctx context.Context, user string) error

	// Factors changes one factor of an enrollment; see there.
	Factors
	// Passkeys are the user's WebAuthn credentials; see there.
	Passkeys
	// SignIns are the user's recent sign-ins; see there.
	SignIns

	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// Factors changes one factor of an enrollment and leaves the others
// (recovery codes, phone, passkeys) as they are: the security page.
type Factors interface {
	// SetTOTP replaces the user's sealed TOTP secret alone: TOTPSetAt
	// becomes at and LastStep 0. It creates an enrollment with only this
	// secret when the user has none (as SetPhone does).
	SetTOTP(ctx context.Context, user string, sealedSecret []byte, at time.Time) error
	// RemoveTOTP removes the user's TOTP secret (and its last step and
	// TOTPSetAt); ErrNotFound when the user has none.
	RemoveTOTP(ctx context.Context, user string) error
	// RemovePhone removes the user's phone number; ErrNotFound when the
	// user has none.
	RemovePhone(ctx context.Context, user string) error
}

// Enrollment is one user's second-factor state.
type Enrollment struct {
	User string
	// TOTPSecret is the sealed (encrypted) TOTP secret, never plain text;
	// empty for a user who uses text messages only.
	TOTPSecret []byte
	// Phone is the verified number for text-message codes (E.164; "": none).
	Phone string
	// LastStep is the last TOTP time step accepted (0: none yet).
	LastStep int64
	// RecoveryHashes are the hashes of the unused recovery codes. Enroll
	// stores them; Enrollment returns only the unused ones.
	RecoveryHashes [][]byte
	CreatedAt      time.Time
	// LastUsed is when a second factor of this user last succeeded (zero: never).
	LastUsed time.Time
	// DevicesRevoked voids remembered-device cookies issued before it.
	DevicesRevoked time.Time
	// TOTPSetAt is when the current TOTP secret was set (zero: no secret).
	// Enroll and EnrollNew take it from the enrollment, or CreatedAt when
	// it is zero and there is a secret.
	TOTPSetAt time.Time
	// Passkeys is how many passkeys the user has (read only: AddPasskey
	// and DeletePasskey change it). A user with passkeys and nothing else
	// is enrolled.
	Passkeys int
}

// Ephemeral holds short-lived state: held logins and revocations of released
// app sessions. The embedded implementation lives in memory (store/memory);
// a Redis one can implement the same interface.
type Ephemeral interface {
	// CreateHeld stores a new held login; it expires at h.Expires.
	CreateHeld(ctx context.Context, h *Held) error
	// Held returns the held login with that id, or ErrNotFound when it is
	// unknown or expired.
	Held(ctx context.Context, id string) (*Held, error)
	// HeldAttempt atomically counts one second-factor attempt against the
	// held login and returns the new count (1 for the first attempt).
	// ErrNotFound when it is unknown or expired.
	HeldAttempt(ctx context.Context, id string) (int, error)
	// SetHeldEnrollment stores the sealed TOTP secret of an enrollment in
	// progress on the held login. ErrNotFound when it is unknown or expired.
	SetHeldEnrollment(ctx context.Context, id string, sealedSecret []byte) error
	// MarkHeldVerified records that the second factor passed for the held
	// login, so that it may be released. ErrNotFound when unknown or expired.
	MarkHeldVerified(ctx context.Context, id string, at time.Time) error
	// SetHeldSMS stores the hash of a text-message code just sent for the
	// held login (to phone, valid until expires), replacing any earlier
	// code and its attempt count. ErrNotFound when unknown or expired.
	SetHeldSMS(ctx context.Context, id, phone string, hash []byte, sentAt, expires time.Time) error
	// UseHeldSMS checks a text-message code's hash against the held login's,
	// atomically: it counts the attempt, refuses beyond maxAttempts or after
	// the code expired, and consumes the code when it matches (single use).
	// ErrNotFound when the held login is unknown or expired.
	UseHeldSMS(ctx context.Context, id string, hash []byte, at time.Time, maxAttempts int) (SMSResult, error)
	// TakeHeld atomically removes and returns the held login: exactly one of
	// several concurrent callers gets it, the others get ErrNotFound.
	TakeHeld(ctx context.Context, id string) (*Held, error)
	// PopExpiredHeld atomically removes and returns up to max held logins
	// that have expired at at, so the gateway can log them out at the app.
	// Expired logins an implementation has already dropped are not returned.
	PopExpiredHeld(ctx context.Context, at time.Time, max int) ([]*Held, error)
	// DeleteHeld discards the held login; deleting an unknown one is no error.
	DeleteHeld(ctx context.Context, id string) error

	// Revocations is the in-process view of revoked app sessions; see there.
	Revocations
	// Counters back the per-user and per-IP failure limits; see there.
	Counters
	// Tokens is the registry of released bearer tokens (Parse mode); see there.
	Tokens
	// Revoke marks every gate cookie bound to the app session with binding
	// key key and issued before at as no longer valid, until until.
	Revoke(ctx context.Context, key [32]byte, at, until time.Time) error

	Ping(ctx context.Context) error
	Close() error
}

// Counters are atomic fixed-window counters and bans, keyed by strings
// such as "user:alice" or "ip:192.0.2.1".
type Counters interface {
	// Hit counts one event for key and returns the count in the current
	// window, 1 for the first. A window starts at the first hit and lasts
	// window; the hit after it starts a new one.
	Hit(ctx context.Context, key string, at time.Time, window time.Duration) (int, error)
	// Unhit takes back one event that Hit counted for key in the window
	// current at at (a reservation that turned out not to be used: a text
	// message the provider did not accept, an attempt that was not a
	// failure). Nothing happens when that window has ended or the count is 0.
	Unhit(ctx context.Context, key string, at time.Time) error
	// ResetHits forgets key's count.
	ResetHits(ctx context.Context, key string) error
	// Ban bans key until until (a later ban extends, an earlier one doesn't
	// shorten).
	Ban(ctx context.Context, key string, until time.Time) error
	// Reserve bans key until until unless it is banned at at, atomically:
	// of concurrent callers exactly one gets ok (a resend cooldown taken
	// before the send). When key is already banned it returns the end of
	// that ban and false, and changes nothing.
	Reserve(ctx context.Context, key string, at, until time.Time) (banned time.Time, ok bool, err error)
	// Unban lifts key's ban and forgets its count (an administrator's unlock).
	Unban(ctx context.Context, key string) error
	// BannedUntil reports whether key is banned at at, and until when.
	BannedUntil(ctx context.Context, key string, at time.Time) (time.Time, bool, error)
	// Bans lists the bans in force at at whose key starts with prefix, by
	// key (an administrator's listing).
	Bans(ctx context.Context, prefix string, at time.Time) ([]Ban, error)
}

// Ban is one ban in force: its key ("ip:192.0.2.1", "user:alice") and end.
type Ban struct {
	Key   string
	Until time.Time
}

// Tokens is the registry of bearer session tokens (Parse session tokens)
// the gateway released after a second factor. Only a hash of each token is
// kept, with the user it belongs to, until the session's end.
type Tokens interface {
	// PutToken records a released token (by hash) for user until until;
	// putting it again replaces the user and lifetime.
	PutToken(ctx context.Context, hash [32]byte, user string, until time.Time) error
	// Token returns the user of a released token that is live at at, or
	// ErrNotFound.
	Token(ctx context.Context, hash [32]byte, at time.Time) (string, error)
	// DeleteToken forgets a token (logout); an unknown one is no error.
	DeleteToken(ctx context.Context, hash [32]byte) error
}

// Revocations answers, without a network round trip, whether gate cookies
// bound to an app session issued at a given time have been revoked. It is on
// the hot path of every verified request, so implementations keep an
// in-process copy (a network store feeds it by subscription).
type Revocations interface {
	// RevokedAt returns when the app session with binding key key was last
	// revoked, and false when it never was (or the revocation has lapsed).
	RevokedAt(key [32]byte) (time.Time, bool)
}

// Held is a held login: the upstream app's successful first-factor answer,
// kept by the gateway until the second factor passes.
type Held struct {
	ID   string
	User string
	// Kind is what was held: "" for a cookie login (a browser page flow),
	// KindParse for a Parse Server answer carrying a session token.
	Kind string
	// Session holds the app session cookies (name to value) as they will be
	// once the held response is released; the gate cookie is bound to them.
	Session map[string]string
	// Response is the upstream's answer to the login, released after 2FA.
	Response HeldResponse
	// Next is where the browser should go after release when the held
	// response is not itself a redirect (informational; may be empty).
	Next string
	// RemoteIP and UserAgent describe the client that logged in (audit).
	RemoteIP  string
	UserAgent string
	Created   time.Time
	Expires   time.Time
	// Attempts counts second-factor attempts made against this login.
	Attempts int
	// EnrollSecret is the sealed TOTP secret of an enrollment in progress.
	EnrollSecret []byte
	// Verified is when the second factor passed (zero: not yet).
	Verified time.Time
	// Phone is where text-message codes for this login go: from the app's
	// login answer or the user's enrollment (E.164; may be empty).
	Phone string
	// SMSHash, SMSSent, SMSExpires and SMSAttempts describe the last
	// text-message code sent (its hash only).
	SMSHash     []byte
	SMSSent     time.Time
	SMSExpires  time.Time
	SMSAttempts int
}

// KindParse marks a held Parse Server login answer (see Held.Kind).
const KindParse = "parse"

// IsAPI reports whether the held login goes on through the gateway's JSON
// API (a Parse login: the app asks api/verify, and a code entered in a
// browser only marks it verified) rather than the gate pages, which
// release it (a cookie login).
func (h *Held) IsAPI() bool { return h.Kind == KindParse }

// SMSResult is the outcome of checking a text-message code.
type SMSResult int

const (
	SMSAccepted  SMSResult = iota // the code matched and is now used
	SMSWrong                      // wrong code; attempts remain
	SMSExpired                    // no code, or it expired
	SMSExhausted                  // too many attempts on this code
)

// HeldResponse is a complete upstream response.
type HeldResponse struct {
	Status int
	Header http.Header
	Body   []byte
}
