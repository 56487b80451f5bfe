package store

import "errors"

var (
	// ErrNotFound: the record is unknown, expired or already consumed.
	ErrNotFound = errors.New("not found")
	// ErrReplay: a TOTP time step at or before the last one used.
	ErrReplay = errors.New("totp step already used")
	// ErrExists: EnrollNew found the user already enrolled.
	ErrExists = errors.New("already enrolled")
	// ErrUnavailable wraps backend failures (the store could not be reached
	// or answered with an error), as opposed to an answer of "no".
	ErrUnavailable = errors.New("store unavailable")
)

// IsUnavailable reports whether err is a backend failure (not an answer).
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
