package forward

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// closeRecorder reports whether its body was closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		max        int64
		want       string
		err        error
	}{
		{"under the limit", "hello", 10, "hello", nil},
		{"at the limit", "hello", 5, "hello", nil},
		{"over the limit", "hello!", 5, "", ErrAnswerTooLarge},
		{"empty", "", 5, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &closeRecorder{Reader: strings.NewReader(tc.body)}
			got, err := ReadAnswer(&http.Response{Body: body}, tc.max)
			if string(got) != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("ReadAnswer = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
			if !body.closed {
				t.Error("body left open")
			}
		})
	}
}
