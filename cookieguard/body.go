package cookieguard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// clientBody reads a request body from the client for the forwarder, with
// an idle deadline instead of one for the whole request: every read gives
// the client BodyIdleTimeout more, so a large upload may take as long as
// it keeps moving. It remembers a read that failed, so an answer to a body
// the app did not get whole is never passed on as a success.
type clientBody struct {
	rc   *http.ResponseController
	body io.ReadCloser
	idle time.Duration
	err  error // the first read error other than io.EOF
}

type bodyKey struct{}

func (b *clientBody) Read(p []byte) (int, error) {
	// A network deadline: the wall clock, not the gateway's clock. Not
	// supported (a test recorder): the server's own limits apply.
	if b.idle > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *clientBody) Close() error { return b.body.Close() }

// watchBody wraps a streaming request body (see clientBody), with the idle
// deadline when one is configured; requests without a body are returned
// as they are.
func (p *Proxy) watchBody(w http.ResponseWriter, r *http.Request) *http.Request {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return r
	}
	cb := &clientBody{rc: http.NewResponseController(w), body: r.Body, idle: p.opt.BodyIdleTimeout}
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, cb))
	r.Body = cb
	return r
}

// errBodyIncomplete: the client's request body broke off (a timeout, a
// dropped connection) before the app had all of it.
var errBodyIncomplete = errors.New("request body incomplete")

// bodyFailed returns the error of a request body the client did not
// finish sending, or nil.
func bodyFailed(r *http.Request) error {
	if cb, ok := r.Context().Value(bodyKey{}).(*clientBody); ok && cb.err != nil {
		return cb.err
	}
	return nil
}
