package forward

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrBodyTooLarge: a request body over the configured limit.
var ErrBodyTooLarge = errors.New("request body too large")

// ReadBody reads at most max bytes of the request body and puts the bytes
// back so that they are forwarded unchanged (ErrBodyTooLarge beyond max).
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > max {
		return nil, ErrBodyTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading login body: %w", err)
	}
	if int64(len(b)) > max {
		return nil, ErrBodyTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, nil
}

// ErrAnswerTooLarge: an app's answer over the limit its reader set.
var ErrAnswerTooLarge = errors.New("answer too large")

// ReadAnswer reads the whole body of an app's answer, at most max bytes,
// and closes it (ErrAnswerTooLarge beyond max).
func ReadAnswer(resp *http.Response, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, ErrAnswerTooLarge
	}
	return b, nil
}
