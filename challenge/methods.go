package challenge

import (
	"context"
	"errors"
	"time"

	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/store"
)

// The Methods the checker verifies codes with. Each declares the little
// it needs of the stores.

// Factor names in the audit log.
const (
	factorTOTP     = "totp"
	factorSMS      = "sms"
	factorRecovery = "recovery"
)

// factorStore is what the TOTP and recovery-code methods need of the
// durable store.
type factorStore interface {
	Enrollment(ctx context.Context, user string) (store.Enrollment, error)
	UseTOTPStep(ctx context.Context, user string, step int64, at time.Time) error
	UseRecoveryCode(ctx context.Context, user string, hash []byte, at time.Time) (remaining int, err error)
}

var _ factorStore = store.Durable(nil)

// smsCodeStore is what the text-message method needs of the ephemeral
// store.
type smsCodeStore interface {
	UseHeldSMS(ctx context.Context, id string, hash []byte, at time.Time, maxAttempts int) (store.SMSResult, error)
}

var _ smsCodeStore = store.Ephemeral(nil)

// totpMethod checks a code of the user's enrolled authenticator and uses
// its time step (a code, or an earlier one, never works twice).
type totpMethod struct {
	store  factorStore
	sealer Sealer
	totp   factor.TOTP
	now    func() time.Time
}

func (totpMethod) Factor() string { return factorTOTP }

// secret reads the user's enrollment and opens its TOTP secret.
func (m totpMethod) secret(ctx context.Context, user string) (store.Enrollment, string, error) {
	enr, err := m.store.Enrollment(ctx, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return enr, "", errNotEnrolled
	case err != nil:
		return enr, "", err
	case len(enr.TOTPSecret) == 0:
		return enr, "", errNotEnrolled
	}
	b, err := m.sealer.Open(enr.TOTPSecret, []byte(user))
	if err != nil {
		return enr, "", errSecretUnreadable
	}
	return enr, string(b), nil
}

// Precheck finds the right code of a time step the user already used (the
// same 30-second window as the last accepted code, or an earlier one).
// Knowing a used code tells nobody anything new, so it costs no attempt.
func (m totpMethod) Precheck(ctx context.Context, a Attempt) (Proof, error) {
	enr, secret, err := m.secret(ctx, a.user())
	if err != nil {
		return Proof{}, err
	}
	step, ok := m.totp.Verify(secret, a.Code, m.now())
	return Proof{Replayed: ok && enr.LastStep > 0 && step <= enr.LastStep, Step: step}, nil
}

func (m totpMethod) Verify(ctx context.Context, a Attempt) (Proof, error) {
	_, secret, err := m.secret(ctx, a.user())
	if err != nil {
		return Proof{}, err
	}
	now := m.now()
	step, ok := m.totp.Verify(secret, a.Code, now)
	if !ok {
		return Proof{}, nil
	}
	switch err := m.store.UseTOTPStep(ctx, a.user(), step, now); {
	case errors.Is(err, store.ErrReplay):
		return Proof{Replayed: true, Step: step}, nil
	case err != nil:
		return Proof{}, err
	}
	return Proof{Valid: true, Step: step}, nil
}

// recoveryMethod uses one of the user's recovery codes.
type recoveryMethod struct {
	store factorStore
	now   func() time.Time
}

func (recoveryMethod) Factor() string { return factorRecovery }

func (m recoveryMethod) Verify(ctx context.Context, a Attempt) (Proof, error) {
	code, ok := factor.NormalizeRecoveryCode(a.Code)
	if !ok {
		return Proof{}, nil
	}
	remaining, err := m.store.UseRecoveryCode(ctx, a.user(), factor.HashRecoveryCode(code), m.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Proof{}, nil
	case err != nil:
		return Proof{}, err
	}
	return Proof{Valid: true, Remaining: remaining}, nil
}

// smsMethod checks the text-message code sent for the held login; the
// store counts the code's own attempts and uses it once.
type smsMethod struct {
	store smsCodeStore
	// hash is what is stored of a code (Handler.smsHash).
	hash        func(heldID, code string, stored []byte) []byte
	maxAttempts int // per code
	now         func() time.Time
}

func (smsMethod) Factor() string { return factorSMS }

var smsResultNames = [...]string{"accepted", "wrong", "expired", "exhausted"}

func (m smsMethod) Verify(ctx context.Context, a Attempt) (Proof, error) {
	code := factor.Digits(a.Code)
	res, err := m.store.UseHeldSMS(ctx, a.Held.ID, m.hash(a.Held.ID, code, a.Held.SMSHash), m.now(), m.maxAttempts)
	if err != nil {
		return Proof{}, err
	}
	p := Proof{Valid: res == store.SMSAccepted, SMS: res}
	if !p.Valid && int(res) < len(smsResultNames) {
		p.Detail = smsResultNames[res]
	}
	return p, nil
}

// enrollTOTPMethod checks the first code of an authenticator being
// enrolled, against the secret sealed into the held login. Nothing is
// used up here: the step becomes the new enrollment's last step (Confirm).
type enrollTOTPMethod struct {
	sealer Sealer
	totp   factor.TOTP
	now    func() time.Time
}

func (enrollTOTPMethod) Factor() string { return factorTOTP }

func (m enrollTOTPMethod) Verify(_ context.Context, a Attempt) (Proof, error) {
	secret, err := m.sealer.Open(a.Held.EnrollSecret, []byte(a.Held.User))
	if err != nil {
		return Proof{}, errSecretUnreadable
	}
	step, ok := m.totp.Verify(string(secret), a.Code, m.now())
	return Proof{Valid: ok, Step: step}, nil
}
