package challenge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/passkey"
	"github.com/vestibule-gw/vestibule/store"
)

// Passkeys and security keys (WebAuthn) as the second factor (#16). The
// ceremony's session (passkey.RP's opaque, MAC-protected value) waits in
// the pending-challenge cookie, bound to the held login, and is used once:
// its first use claims a marker in the ephemeral store (so a session sent
// twice, to any replica, passes at most once), and it expires with the
// held login. The browser half is static/passkey.js.

// factorWebAuthn names passkeys in the audit log, the metrics and the JSON
// protocol's methods.
const factorWebAuthn = "webauthn"

// PasskeyRP is what the gate pages need of the WebAuthn relying party.
type PasskeyRP interface {
	BeginRegistration(user string, existing []store.Passkey) (options, session []byte, err error)
	FinishRegistration(session []byte, user string, response []byte) (store.Passkey, error)
	BeginLogin(user string, creds []store.Passkey) (options, session []byte, err error)
	FinishLogin(session []byte, user string, creds []store.Passkey, response []byte) (passkey.Assertion, error)
}

var _ PasskeyRP = (*passkey.RP)(nil)

// passkeyStore is what the passkey methods need of the durable store.
type passkeyStore interface {
	Passkeys(ctx context.Context, user string) ([]store.Passkey, error)
	AddPasskey(ctx context.Context, p store.Passkey) error
	UsePasskey(ctx context.Context, user string, id []byte, signCount uint32, backupState bool, at time.Time) error
}

var _ passkeyStore = store.Durable(nil)

// Marker claims single-use markers in the ephemeral store (store.Counters'
// Hit: the first hit of a key in its window counts 1).
type Marker interface {
	Hit(ctx context.Context, key string, at time.Time, window time.Duration) (int, error)
}

var _ Marker = store.Ephemeral(nil)

// errSessionUsed: a ceremony session was used already.
var errSessionUsed = errors.New("passkey session used already")

// claimSession marks a ceremony session used, until until; errSessionUsed
// when it was. Every replica sees the same marker.
func claimSession(ctx context.Context, m Marker, session []byte, now, until time.Time) error {
	if len(session) == 0 {
		return errSessionUsed
	}
	sum := sha256.Sum256(session)
	n, err := m.Hit(ctx, "passkey-session:"+hex.EncodeToString(sum[:16]), now, max(until.Sub(now), time.Second))
	if err != nil {
		return fmt.Errorf("claiming passkey session: %w", err)
	}
	if n > 1 {
		return errSessionUsed
	}
	return nil
}

// passkeyMethod checks a passkey assertion: Attempt.Code is the browser's
// response (the PublicKeyCredential's JSON) and session the ceremony
// session the page kept. Verify claims the session first (single use: a
// second use is Replayed, and not looked at), then checks the assertion
// against the user's passkeys and stores the new signature counter, which
// must grow on a passkey that counts (else a refusal, audited).
type passkeyMethod struct {
	rp      PasskeyRP
	store   passkeyStore
	marks   Marker
	session []byte
	// until is when the session's marker may be forgotten (the held
	// login's expiry, or the step-up budget's window).
	until time.Time
	now   func() time.Time
	log   *slog.Logger
}

func (passkeyMethod) Factor() string { return factorWebAuthn }

// Precheck: a user with no passkey has nothing to check.
func (m passkeyMethod) Precheck(ctx context.Context, a Attempt) (Proof, error) {
	creds, err := m.store.Passkeys(ctx, a.user())
	if err != nil {
		return Proof{}, err
	}
	if len(creds) == 0 {
		return Proof{}, errNotEnrolled
	}
	return Proof{}, nil
}

func (m passkeyMethod) Verify(ctx context.Context, a Attempt) (Proof, error) {
	now := m.now()
	switch err := claimSession(ctx, m.marks, m.session, now, m.until); {
	case errors.Is(err, errSessionUsed):
		return Proof{Replayed: true}, nil
	case err != nil:
		return Proof{}, err
	}
	creds, err := m.store.Passkeys(ctx, a.user())
	if err != nil {
		return Proof{}, err
	}
	if len(creds) == 0 {
		return Proof{}, errNotEnrolled
	}
	as, err := m.rp.FinishLogin(m.session, a.user(), creds, []byte(a.Code))
	if err != nil {
		if errors.Is(err, passkey.ErrRefused) {
			if errors.Is(err, store.ErrSignCount) {
				m.signCount(ctx, a, err)
			}
			return Proof{Detail: refusalDetail(err)}, nil
		}
		return Proof{}, err
	}
	switch err := m.store.UsePasskey(ctx, a.user(), as.CredentialID, as.SignCount, as.BackupState, now); {
	case errors.Is(err, store.ErrSignCount): // another sign-in with it a moment ago, or a clone
		m.signCount(ctx, a, err)
		return Proof{Detail: "sign_count"}, nil
	case errors.Is(err, store.ErrNotFound): // removed a moment ago
		return Proof{Detail: "unknown_credential"}, nil
	case err != nil:
		return Proof{}, err
	}
	return Proof{Valid: true}, nil
}

// signCount audits a signature counter that did not grow: a cloned
// authenticator, or an assertion replayed.
func (m passkeyMethod) signCount(ctx context.Context, a Attempt, err error) {
	m.log.WarnContext(ctx, "passkey signature counter did not increase (cloned authenticator?)", "event", audit.PasskeySignCount,
		"user", a.user(), "err", err.Error(), "remote_ip", a.ClientIP, "user_agent", a.UserAgent)
}

// refusalDetail names a passkey refusal for the log: the refusal's own
// text up to the library's detail.
func refusalDetail(err error) string {
	for _, e := range []error{passkey.ErrMalformed, passkey.ErrChallenge, passkey.ErrExpired, passkey.ErrUnknownCredential,
		passkey.ErrOrigin, passkey.ErrRelyingParty, passkey.ErrUserVerification, passkey.ErrSignature, passkey.ErrSignCount,
		passkey.ErrAlreadyRegistered} {
		if errors.Is(err, e) {
			return strings.ReplaceAll(e.Error(), " ", "_")
		}
	}
	return "invalid"
}

// enrollPasskeyMethod checks the registration of a first passkey: Code is
// the browser's response to the registration options. Nothing is stored
// here; the enrollment's Confirm stores Proof.Passkey.
type enrollPasskeyMethod struct {
	reg     *Registration
	session []byte
	until   time.Time
	name    string
}

func (enrollPasskeyMethod) Factor() string { return factorWebAuthn }

func (m enrollPasskeyMethod) Verify(ctx context.Context, a Attempt) (Proof, error) {
	p, err := m.reg.check(ctx, m.session, a.user(), m.name, []byte(a.Code), m.until)
	switch {
	case errors.Is(err, errSessionUsed):
		return Proof{Replayed: true}, nil
	case errors.Is(err, passkey.ErrRefused):
		return Proof{Detail: refusalDetail(err)}, nil
	case err != nil:
		return Proof{}, err
	}
	return Proof{Valid: true, Passkey: &p}, nil
}

// Registration adds a passkey to a user in two steps, for any page with a
// place to keep the ceremony's session between them (the gate pages keep
// it in the pending-challenge cookie): Begin gives the options for the
// page's data-passkey-options and the session to keep; Finish checks the
// browser's answer against it, once, and stores the passkey. A refused
// answer is an error matching passkey.ErrRefused; ErrSessionUsed a session
// used before; any other error means it could not be checked or stored.
type Registration struct {
	RP     PasskeyRP
	Store  RegistrationStore
	Marker Marker
	Now    func() time.Time
}

// RegistrationStore is what Registration needs of the durable store.
type RegistrationStore interface {
	Passkeys(ctx context.Context, user string) ([]store.Passkey, error)
	AddPasskey(ctx context.Context, p store.Passkey) error
}

// ErrSessionUsed: Registration.Finish with a session that was used before.
var ErrSessionUsed = errSessionUsed

// DefaultPasskeyName is the name of a passkey its user did not name.
const DefaultPasskeyName = "Passkey"

// Begin starts registering another passkey for user (their existing ones
// are excluded).
func (g *Registration) Begin(ctx context.Context, user string) (options, session []byte, err error) {
	existing, err := g.Store.Passkeys(ctx, user)
	if err != nil {
		return nil, nil, fmt.Errorf("reading passkeys: %w", err)
	}
	return g.RP.BeginRegistration(user, existing)
}

// Finish checks response against session (claimed once, its marker kept
// until until) and stores the new passkey under name (trimmed, at most 64
// characters; "": DefaultPasskeyName).
func (g *Registration) Finish(ctx context.Context, session []byte, user, name string, response []byte, until time.Time) (store.Passkey, error) {
	p, err := g.check(ctx, session, user, name, response, until)
	if err != nil {
		return p, err
	}
	if err := g.Store.AddPasskey(ctx, p); err != nil {
		return p, fmt.Errorf("storing passkey: %w", err)
	}
	return p, nil
}

func (g *Registration) check(ctx context.Context, session []byte, user, name string, response []byte, until time.Time) (store.Passkey, error) {
	if err := claimSession(ctx, g.Marker, session, g.Now(), until); err != nil {
		return store.Passkey{}, err
	}
	p, err := g.RP.FinishRegistration(session, user, response)
	if err != nil {
		return p, err
	}
	p.Name = passkeyName(name)
	return p, nil
}

// passkeyName is a user's name for a passkey, tidied.
func passkeyName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	if r := []rune(name); len(r) > 64 {
		name = string(r[:64])
	}
	if name == "" {
		return DefaultPasskeyName
	}
	return name
}
