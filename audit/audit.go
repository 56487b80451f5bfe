// Package audit carries the security event stream: a request id in the
// context that every event line picks up, and a slog handler that also
// copies events (records with an "event" attribute) to an audit file as
// JSON lines.
//
// Events never carry a code, secret, cookie value, password or token; the
// callers log only user names, addresses, user agents and outcomes.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
)

type ridKey struct{}

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ridKey{}, id)
}

// RequestIDKey is the context key RequestID reads. A context type that
// carries the id itself (saving an allocation on a hot path) answers
// Value(RequestIDKey) with it.
var RequestIDKey any = ridKey{}

// RequestID returns the context's request id, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ridKey{}).(string)
	return id
}

// Header is the request id header, kept from a trusted proxy and sent
// upstream.
const Header = "X-Request-Id"

// EnsureRequestID gives r a request id: the incoming one when trusted is
// true and it looks sane, else a new random one. The id is set on the
// request header (so the app can log it too) and returned with a context
// carrying it.
func EnsureRequestID(r *http.Request, trusted bool) (string, context.Context) {
	id := ensureRequestIDHeader(r, trusted)
	return id, WithRequestID(r.Context(), id)
}

// ensureRequestIDHeader keeps a trusted request id or makes one, and sets
// it on the request header.
func ensureRequestIDHeader(r *http.Request, trusted bool) string {
	id := ""
	if trusted {
		id = r.Header.Get(Header)
		if !Sane(id) {
			id = ""
		}
	}
	if id == "" {
		id = NewID()
	}
	r.Header.Set(Header, id)
	return id
}

var (
	idPrefix = func() string {
		var b [6]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "-"
	}()
	idCounter atomic.Uint64
)

// NewID is a request id unique to this process run: a random prefix and a
// counter, cheap enough for every proxied request.
func NewID() string {
	return idPrefix + strconv.FormatUint(idCounter.Add(1), 36)
}

// Sane reports whether an incoming request id may be kept: 1 to 64
// letters, digits, '-', '_' or '.'.
func Sane(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Handler wraps the main log handler: it adds the context's request id to
// every record, and copies records that carry an "event" attribute to the
// audit handler, if any.
type Handler struct {
	main  slog.Handler
	audit slog.Handler // nil: no audit file
	event bool         // an "event" attribute was added with WithAttrs
}

// NewHandler returns the wrapping handler. auditOut may be nil.
func NewHandler(main slog.Handler, auditOut io.Writer) *Handler {
	h := &Handler{main: main}
	if auditOut != nil {
		h.audit = slog.NewJSONHandler(auditOut, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return h
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.main.Enabled(ctx, l) || h.audit != nil
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	var err error
	if h.main.Enabled(ctx, r.Level) {
		err = h.main.Handle(ctx, r)
	}
	if h.audit != nil && (h.event || hasEvent(r)) {
		if aerr := h.audit.Handle(ctx, r); err == nil {
			err = aerr
		}
	}
	return err
}

func hasEvent(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "event" {
			found = true
			return false
		}
		return true
	})
	return found
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.main = h.main.WithAttrs(as)
	if h.audit != nil {
		c.audit = h.audit.WithAttrs(as)
	}
	for _, a := range as {
		if a.Key == "event" {
			c.event = true
		}
	}
	return &c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.main = h.main.WithGroup(name)
	if h.audit != nil {
		c.audit = h.audit.WithGroup(name)
	}
	return &c
}
