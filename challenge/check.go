package challenge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/store"
)

// The second-factor decision, in one place. Every surface that checks a
// code (the verify and recovery pages, enrollment confirmation, step-up,
// the text-message page, the Parse JSON protocol) builds an Attempt and
// calls Checker.Check, which runs the one security-critical sequence:
//
//  1. the method's free look (Prechecker): not enrolled, secret unreadable,
//     or the right code of a time step already used (a replay is no guess:
//     nothing is counted);
//  2. count the attempt against the held login (HeldAttempt), or against
//     the attempt's budget key when there is no held login (step-up);
//     beyond MaxAttempts the held login is ended: Exhausted;
//  3. reserve the attempt with the regulator (per user and client IP); a
//     ban ends the held login: Banned;
//  4. the method verifies the code and consumes what it used (the TOTP
//     step, the text-message code, the recovery code), atomically in the
//     store;
//  5. a wrong code is a failure for the regulator (maybe a ban), and the
//     last allowed one ends the held login: Wrong, Banned or Exhausted; a
//     replay found only now gives the reservation back: Replayed;
//  6. a right code gives the user's failures back, runs the attempt's
//     Confirm (an enrollment stores the factor it confirms), and marks the
//     held login verified: Accepted.
//
// The checker writes the audit events of that sequence (code_accepted or
// recovery_code_used, code_rejected, code_replayed, attempts_exhausted);
// the surfaces only render the Result.

// Kind is what a check decided.
type Kind int

const (
	// Accepted: the code was right and is used up; the held login is
	// marked verified (and Confirm ran).
	Accepted Kind = iota
	// Wrong: the code was not right; attempts remain (Result.Left).
	Wrong
	// Replayed: the right code of a time step already used. Not a guess:
	// the regulator's reservation was given back.
	Replayed
	// Exhausted: the attempt budget is spent; the held login is ended.
	Exhausted
	// Banned: the user or the client address is banned until
	// Result.Until; the held login is ended.
	Banned
	// Expired: the held login is gone (expired, or completed by another
	// request).
	Expired
	// NotEnrolled: the user has nothing this method can check.
	NotEnrolled
	// Unavailable: a store failed, a secret could not be opened, or
	// Confirm failed (Result.Err says which).
	Unavailable
)

var kindNames = [...]string{"accepted", "wrong", "replayed", "exhausted", "banned", "expired", "not_enrolled", "unavailable"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Result is a check's decision and what a page or the JSON API needs to
// render it.
type Result struct {
	Kind Kind
	// Factor is the factor that decided, as the audit log names it
	// ("totp", "sms", "recovery", or the method's name when none matched).
	Factor string
	// Attempt is this attempt's number on the held login (or the budget);
	// 0 when none was counted. Left is how many remain after it.
	Attempt, Left int
	// Until is when a ban ends (Banned).
	Until time.Time
	// Proof is what the method found (Accepted: the TOTP step, the
	// confirmed phone number; Wrong: a text-message code's own outcome).
	Proof Proof
	// Err is why the check was Unavailable: wrapped with what was being
	// done; errSecretUnreadable when a sealed secret did not open; or the
	// error Confirm returned.
	Err error
}

// errSecretUnreadable: a sealed TOTP secret did not open (wrong
// encryption key?). The checker logs it (event secret_unreadable).
var errSecretUnreadable = errors.New("sealed secret unreadable")

// errNotEnrolled: a method found nothing of the user's to check.
var errNotEnrolled = errors.New("not enrolled")

// Proof is what a Method found about a code.
type Proof struct {
	// Valid: the code was right, and what it used is consumed.
	Valid bool
	// Replayed: the right code of a TOTP step already used.
	Replayed bool
	// Factor is the factor that matched when a method tries several
	// ("": the method's own Factor).
	Factor string
	// Step is the TOTP time step matched.
	Step int64
	// Phone is the number a confirmed text-message code went to (E.164),
	// for an enrollment.
	Phone string
	// Remaining is how many unused recovery codes are left.
	Remaining int
	// SMS is a text-message code's outcome in the store, and Detail its
	// name for the log ("": the method has none).
	SMS    store.SMSResult
	Detail string
}

// Method checks one kind of second factor. Verify runs after the attempt
// was counted and reserved: it checks a.Code and, when it is right,
// consumes what it used (atomically in the store, so two requests racing
// with one code get one Valid). It returns errNotEnrolled when the user has
// nothing it can check, store.ErrNotFound when the held login is gone, and
// errSecretUnreadable when a secret does not open. A passkey assertion
// (webauthn) is one more Method: its Verify checks the assertion and
// consumes the challenge.
type Method interface {
	// Factor names the method in the audit log.
	Factor() string
	Verify(ctx context.Context, a Attempt) (Proof, error)
}

// Prechecker is a Method that can look before anything is counted: the
// right code of a used time step (Proof.Replayed), a user who is not
// enrolled (errNotEnrolled) or a secret that does not open. A Proof that
// is not Replayed and a nil error go on to counting.
type Prechecker interface {
	Precheck(ctx context.Context, a Attempt) (Proof, error)
}

// Attempt is one submitted code.
type Attempt struct {
	// Held is the held login the code is for; nil for a released session
	// (step-up), which names User and Budget instead.
	Held *store.Held
	// User is whose factor is checked when Held is nil.
	User string
	// Budget is the counter key of a session without a held login (each
	// key gets MaxAttempts per BudgetWindow).
	Budget string
	Method Method
	Code   string
	// ClientIP and UserAgent describe the client (regulation, audit).
	ClientIP, UserAgent string
	// Confirm, if set, runs once the code is accepted, before the held
	// login is marked verified: an enrollment stores the factor the code
	// confirmed. Its error ends the check as Unavailable with that Err,
	// and the login is not marked verified.
	Confirm func(ctx context.Context, p Proof) error
}

func (a Attempt) user() string {
	if a.Held != nil {
		return a.Held.User
	}
	return a.User
}

// CheckStore is what the checker needs of the ephemeral store.
type CheckStore interface {
	HeldAttempt(ctx context.Context, id string) (int, error)
	MarkHeldVerified(ctx context.Context, id string, at time.Time) error
	DeleteHeld(ctx context.Context, id string) error
	Hit(ctx context.Context, key string, at time.Time, window time.Duration) (int, error)
}

var _ CheckStore = store.Ephemeral(nil)

// Checker runs the second-factor decision.
type Checker struct {
	Store CheckStore // Required.
	// Regulator limits failures per user and client IP across held logins
	// (nil: only MaxAttempts).
	Regulator *regulate.Regulator
	// MaxAttempts is the number of codes per held login or budget key.
	MaxAttempts int
	// BudgetWindow is how long a budget key's count lasts.
	BudgetWindow time.Duration
	Now          func() time.Time
	Log          *slog.Logger
	// OnAbandon, if set, is told of a held login the check ended
	// (attempts_exhausted, banned).
	OnAbandon func(ctx context.Context, h *store.Held, reason string)
}

// Check decides one attempt (see the sequence above).
func (c *Checker) Check(ctx context.Context, a Attempt) Result {
	res := Result{Factor: a.Method.Factor()}
	if pc, ok := a.Method.(Prechecker); ok {
		p, err := pc.Precheck(ctx, a)
		if err != nil {
			return c.failed(ctx, a, res, "reading enrollment", err)
		}
		if p.Replayed {
			res.Kind, res.Proof = Replayed, p
			c.logReplayed(ctx, a)
			return res
		}
	}

	// Count the attempt before the code is looked at.
	var err error
	if a.Held != nil {
		res.Attempt, err = c.Store.HeldAttempt(ctx, a.Held.ID)
	} else {
		res.Attempt, err = c.Store.Hit(ctx, a.Budget, c.Now(), c.BudgetWindow)
	}
	if err != nil {
		return c.failed(ctx, a, res, "counting attempt", err)
	}
	res.Left = max(0, c.MaxAttempts-res.Attempt)
	if res.Attempt > c.MaxAttempts {
		c.exhausted(ctx, a)
		res.Kind = Exhausted
		return res
	}
	var reg *regulate.Attempt
	if c.Regulator != nil {
		if reg, err = c.Regulator.Begin(ctx, a.user(), a.ClientIP); err != nil {
			if until, ok := regulate.IsBanned(err); ok {
				return c.banned(ctx, a, res, until)
			}
			return c.failed(ctx, a, res, "counting attempt", err)
		}
	}

	p, err := a.Method.Verify(ctx, a)
	res.Proof = p
	if p.Factor != "" {
		res.Factor = p.Factor
	}
	if err != nil && errors.Is(err, errNotEnrolled) && reg != nil {
		// Counted (the method could only tell after the count): a code for
		// a user with nothing to check is a failure, as a wrong one is.
		if ferr := reg.Fail(ctx); ferr != nil {
			if until, ok := regulate.IsBanned(ferr); ok {
				return c.banned(ctx, a, res, until)
			}
			c.Log.ErrorContext(ctx, "recording failed attempt", "event", "store_error", "err", ferr)
		}
		return c.failed(ctx, a, res, "checking code", err)
	}
	if err != nil {
		// Neither right nor wrong: the reservation is given back.
		if reg != nil {
			reg.Cancel(context.WithoutCancel(ctx))
		}
		return c.failed(ctx, a, res, "checking code", err)
	}
	switch {
	case p.Replayed: // another request used this step a moment ago
		if reg != nil {
			if err := reg.Cancel(ctx); err != nil {
				c.Log.ErrorContext(ctx, "giving back an attempt", "event", "store_error", "err", err)
			}
		}
		c.logReplayed(ctx, a)
		res.Kind = Replayed
		return res
	case !p.Valid:
		return c.wrong(ctx, a, res, reg)
	}

	if reg != nil {
		if err := reg.Succeed(ctx); err != nil {
			c.Log.ErrorContext(ctx, "clearing failed attempts", "event", "store_error", "err", err)
		}
	}
	c.logAccepted(ctx, a, res)
	if a.Confirm != nil {
		if err := a.Confirm(ctx, p); err != nil {
			res.Kind, res.Err = Unavailable, err
			return res
		}
	}
	if a.Held != nil {
		if err := c.Store.MarkHeldVerified(ctx, a.Held.ID, c.Now()); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				res.Kind = Expired
				return res
			}
			return c.failed(ctx, a, res, "marking login verified", err)
		}
	}
	res.Kind = Accepted
	return res
}

// wrong records a wrong code: a failure for the regulator, and the end of
// the held login when it earned a ban or was the last attempt.
func (c *Checker) wrong(ctx context.Context, a Attempt, res Result, reg *regulate.Attempt) Result {
	attrs := []any{"event", audit.CodeRejected, "factor", res.Factor}
	if a.Held == nil {
		attrs = append(attrs, "step_up", true)
	}
	attrs = append(attrs, "user", a.user(), "attempt", res.Attempt)
	if res.Proof.Detail != "" {
		attrs = append(attrs, "result", res.Proof.Detail)
	}
	msg := "second factor rejected"
	if a.Held == nil {
		msg = "step-up code rejected"
	}
	c.Log.WarnContext(ctx, msg, append(attrs, "remote_ip", a.ClientIP, "user_agent", a.UserAgent)...)
	if reg != nil {
		if err := reg.Fail(ctx); err != nil {
			if until, ok := regulate.IsBanned(err); ok {
				return c.banned(ctx, a, res, until)
			}
			c.Log.ErrorContext(ctx, "recording failed attempt", "event", "store_error", "err", err)
		}
	}
	if a.Held != nil && res.Attempt >= c.MaxAttempts {
		c.exhausted(ctx, a)
		res.Kind = Exhausted
		return res
	}
	res.Kind = Wrong
	return res
}

// banned ends the held login of a banned user or address.
func (c *Checker) banned(ctx context.Context, a Attempt, res Result, until time.Time) Result {
	if a.Held != nil {
		c.end(ctx, a.Held, "banned")
	}
	res.Kind, res.Until = Banned, until
	return res
}

// exhausted ends the held login whose attempts are spent.
func (c *Checker) exhausted(ctx context.Context, a Attempt) {
	if a.Held == nil {
		c.Log.WarnContext(ctx, "step-up attempts exhausted", "event", audit.AttemptsExhausted, "step_up", true,
			"user", a.User, "remote_ip", a.ClientIP, "user_agent", a.UserAgent)
		return
	}
	c.Log.WarnContext(ctx, "held login discarded after too many attempts", "event", audit.AttemptsExhausted, "user", a.Held.User,
		"remote_ip", a.ClientIP, "user_agent", a.UserAgent)
	c.end(ctx, a.Held, "attempts_exhausted")
}

// end discards a held login and tells OnAbandon (logged out at the app).
func (c *Checker) end(ctx context.Context, held *store.Held, reason string) {
	if err := c.Store.DeleteHeld(ctx, held.ID); err != nil {
		c.Log.ErrorContext(ctx, "discarding held login", "event", "store_error", "err", err)
	}
	if c.OnAbandon != nil {
		c.OnAbandon(ctx, held, reason)
	}
}

// failed turns a method's or a store's error into its Result.
func (c *Checker) failed(ctx context.Context, a Attempt, res Result, doing string, err error) Result {
	switch {
	case errors.Is(err, errNotEnrolled):
		res.Kind = NotEnrolled
	case errors.Is(err, store.ErrNotFound):
		res.Kind = Expired
	case errors.Is(err, errSecretUnreadable):
		c.Log.ErrorContext(ctx, "opening TOTP secret failed (wrong encryption key?)", "event", "secret_unreadable", "user", a.user())
		res.Kind, res.Err = Unavailable, err
	default:
		res.Kind, res.Err = Unavailable, fmt.Errorf("%s: %w", doing, err)
	}
	return res
}

func (c *Checker) logReplayed(ctx context.Context, a Attempt) {
	if a.Held == nil {
		c.Log.InfoContext(ctx, "step-up code of a used time step sent again; not counted", "event", audit.CodeReplayed,
			"step_up", true, "user", a.User, "remote_ip", a.ClientIP, "user_agent", a.UserAgent)
		return
	}
	c.Log.InfoContext(ctx, "TOTP code of a used time step sent again; not counted", "event", audit.CodeReplayed,
		"user", a.Held.User, "remote_ip", a.ClientIP, "user_agent", a.UserAgent)
}

func (c *Checker) logAccepted(ctx context.Context, a Attempt, res Result) {
	switch {
	case res.Factor == factorRecovery:
		c.Log.InfoContext(ctx, "recovery code used", "event", audit.RecoveryCodeUsed, "user", a.user(), "remaining", res.Proof.Remaining,
			"remote_ip", a.ClientIP, "user_agent", a.UserAgent)
	case a.Held == nil:
		c.Log.InfoContext(ctx, "step-up passed", "event", audit.CodeAccepted, "factor", res.Factor, "step_up", true,
			"user", a.User, "remote_ip", a.ClientIP, "user_agent", a.UserAgent)
	default:
		c.Log.InfoContext(ctx, "second factor accepted", "event", audit.CodeAccepted, "factor", res.Factor, "user", a.Held.User,
			"remote_ip", a.ClientIP, "user_agent", a.UserAgent)
	}
}
