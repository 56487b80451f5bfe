package server

import (
	"context"
	"log/slog"
	"sync"

	"github.com/vestibule-gw/vestibule/metrics"
)

// eventsSink lets the logger count events into metrics made after it.
type eventsSink struct {
	mu sync.Mutex
	m  *metrics.Metrics
}

func (e *eventsSink) wrap(h slog.Handler) slog.Handler { return &sinkHandler{h: h, e: e} }

type sinkHandler struct {
	h slog.Handler
	e *eventsSink
}

func (s *sinkHandler) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (s *sinkHandler) Handle(ctx context.Context, r slog.Record) error {
	s.e.mu.Lock()
	m := s.e.m
	s.e.mu.Unlock()
	if m != nil {
		return m.LogHandler(s.h).Handle(ctx, r)
	}
	if s.h.Enabled(ctx, r.Level) {
		return s.h.Handle(ctx, r)
	}
	return nil
}
func (s *sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sinkHandler{h: s.h.WithAttrs(as), e: s.e}
}
func (s *sinkHandler) WithGroup(n string) slog.Handler {
	return &sinkHandler{h: s.h.WithGroup(n), e: s.e}
}
