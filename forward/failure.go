package forward

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// StoreError marks a failure of the gateway's store while it handled an
// answer: the client gets 503, not 502.
type StoreError struct{ Err error }

func (e StoreError) Error() string { return e.Err.Error() }
func (e StoreError) Unwrap() error { return e.Err }

// PageError fails an answer with the gateway's own page of status Status
// (Until, for 429, is when a ban ends).
type PageError struct {
	Status int
	Until  time.Time
	// Message, if set, is what the page tells the user instead of the
	// status's usual text (see PageMessage).
	Message string
	Err     error
}

func (e PageError) Error() string { return e.Err.Error() }
func (e PageError) Unwrap() error { return e.Err }

// FailureStatus is the status of the gateway's answer to a request that
// failed upstream or while its answer was handled: 503 for a store
// failure, 504 for a timeout, else 502; 0 when the client went away.
func FailureStatus(r *http.Request, err error) int {
	var se StoreError
	var ne net.Error
	var pe PageError
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return 0
	case errors.As(err, &pe):
		return pe.Status
	case errors.As(err, &se):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}
