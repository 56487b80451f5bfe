package sms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"
)

// Guard wraps a sender with what every provider call needs, in one place:
// the one timeout (sms.timeout), applied even to an SDK that ignores
// contexts; a panic inside the sender (an SDK meeting an answer it does not
// expect) recovered into an error; and every failure returned as an *Error
// whose Detail is redacted (no phone number) and short, fit for the log.
func Guard(next Sender, timeout time.Duration) Sender {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &guarded{next: next, timeout: timeout}
}

// DefaultTimeout bounds a send when no timeout is configured.
const DefaultTimeout = 10 * time.Second

type guarded struct {
	next    Sender
	timeout time.Duration
}

var _ Sender = (*guarded)(nil)

// Name implements Sender.
func (g *guarded) Name() string { return g.next.Name() }

// Send implements Sender. A send that outlives the timeout is reported as
// failed at once; the sender's own HTTP client (given the same timeout)
// ends the call behind it.
func (g *guarded) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- &Error{Provider: g.next.Name(), Code: CodePanic, Detail: fmt.Sprintf("the provider's answer was not understood (sender panicked: %.100v)", v)}
			}
		}()
		done <- g.next.Send(ctx, m)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = &Error{Provider: g.next.Name(), Code: CodeTimeout, Detail: fmt.Sprintf("no answer within %s", g.timeout)}
	}
	if err == nil {
		return nil
	}
	var se *Error
	if !errors.As(err, &se) {
		code := CodeTransport
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			code = CodeTimeout
		}
		se = &Error{Provider: g.next.Name(), Code: code, Detail: err.Error()}
	}
	c := *se
	if c.Code == CodeTransport && (ctx.Err() != nil || isTimeout(err)) {
		c.Code = CodeTimeout // the sender's own client timed out first
	}
	c.Detail = Redact(scrub(c.Detail))
	c.Code = Redact(c.Code)
	return &c
}

// Codes of failures that are not a provider's own refusal.
const (
	CodePanic     = "panic"     // the sender panicked (recovered)
	CodeTimeout   = "timeout"   // no answer within sms.timeout
	CodeTransport = "transport" // the provider could not be reached
	CodeMalformed = "malformed" // an answer that is not what the API documents
	CodeOversized = "oversized" // an answer larger than any the API sends
)

// Reason is the short cause for the sms_failed event: one of the codes
// above, or "rejected" for a provider's own refusal.
func (e *Error) Reason() string {
	switch e.Code {
	case CodePanic, CodeTimeout, CodeTransport, CodeMalformed, CodeOversized:
		return e.Code
	}
	return "rejected"
}

// digitRun is a run of digits, possibly split by spaces, dots, dashes or
// brackets, as phone numbers are written.
var digitRun = regexp.MustCompile(`\+?\d[\d ().-]{4,}\d`)

// maxDetail caps the provider text kept for the log.
const maxDetail = 200

// Redact removes what could be a phone number (any run of 6 or more
// digits) from a provider's text and caps its length, so it can be
// logged: "The 'To' number +14155550100 is not valid" becomes "The 'To'
// number [number] is not valid".
func Redact(s string) string {
	s = digitRun.ReplaceAllStringFunc(s, func(run string) string {
		n := 0
		for _, r := range run {
			if r >= '0' && r <= '9' {
				n++
			}
		}
		if n < 6 {
			return run
		}
		return "[number]"
	})
	if len(s) > maxDetail {
		s = s[:maxDetail] + "…"
	}
	return s
}

// maxAnswer is the most of a provider's answer read; a longer one is an
// error (no SMS API answers a single send with more).
const maxAnswer = 64 << 10

// errOversized is what reading past maxAnswer returns.
var errOversized = errors.New("answer larger than 64 KiB")

// limitTransport cuts every response body at maxAnswer: reading more fails
// with errOversized, so an SDK that reads the whole body cannot be made to
// hold an unbounded one.
type limitTransport struct{ next http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxAnswer}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly maxAnswer from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errOversized
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// newClient is the HTTP client of a provider sender: its own (never
// http.DefaultClient), bounded by timeout, with answers capped.
func newClient(rt http.RoundTripper, timeout time.Duration) *http.Client {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &http.Client{Timeout: timeout, Transport: limitTransport{rt}}
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
