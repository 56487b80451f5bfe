// Package metrics exposes the gateway's Prometheus metrics. Security facts
// are counted from the audit events themselves (a slog handler that counts
// records carrying an "event" attribute), so every event the gateway logs
// is also a metric and the two can't drift apart.
package metrics

import (
	"context"
	"github.com/vestibule-gw/vestibule/audit"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors of one gateway.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	upstream   prometheus.Histogram
	events     *prometheus.CounterVec
	held       *prometheus.CounterVec
	challenges *prometheus.CounterVec
	sms        *prometheus.CounterVec
	smsFailed  *prometheus.CounterVec
	changes    *prometheus.CounterVec
	classes    [6]prometheus.Counter
	config     *prometheus.GaugeVec
}

// New registers the collectors. heldNow, if set, reports the held logins
// waiting for a second factor right now.
func New(heldNow func() float64) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vestibule_http_requests_total",
		Help: "Requests answered, by status class (2xx, 3xx, 4xx, 5xx)."}, []string{"class"})
	m.upstream = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vestibule_upstream_response_seconds",
		Help: "Time until the app's response headers.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vestibule_events_total",
		Help: "Security events, as in the audit log."}, []string{"event"})
	m.held = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vestibule_logins_total",
		Help: "Logins by outcome: held, released, abandoned."}, []string{"outcome"})
	m.challenges = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vestibule_challenges_total",
		Help: "Second-factor challenges by factor and result: sent, passed, failed."}, []string{"factor", "result"})
	m.sms = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vestibule_sms_total",
		Help: "Text messages by provider and result: sent, failed, refused."}, []string{"provider", "result"})
	m.smsFailed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vestibule_sms_failures_total",
		Help: "Text messages not sent, by provider and reason: rejected, transport, timeout, malformed, oversized, panic."}, []string{"provider", "reason"})
	m.changes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vestibule_account_changes_total",
		Help: "Changes users made on the security page, by change (totp_replaced, phone_changed, factor_removed, ...)."}, []string{"change"})
	for i, c := range []string{"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"} {
		m.classes[i] = m.requests.WithLabelValues(c)
	}
	m.config = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vestibule_config_info",
		Help: "1, labelled with the fingerprint of the config in force (secrets left out): replicas that differ enforce different rules."}, []string{"fingerprint"})
	m.reg.MustRegister(m.requests, m.upstream, m.events, m.held, m.challenges, m.sms, m.smsFailed, m.changes, m.config,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if heldNow != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vestibule_held_logins",
			Help: "Held logins waiting for a second factor now."}, heldNow))
	}
	return m
}

// SetConfig records the fingerprint of the config now in force.
func (m *Metrics) SetConfig(fingerprint string) {
	m.config.Reset()
	m.config.WithLabelValues(fingerprint).Set(1)
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Status counts one answer by status class (the proxy calls it, so
// proxied requests need no response-writer wrapper).
func (m *Metrics) Status(code int) {
	if c := code / 100; c >= 1 && c <= 5 {
		m.classes[c].Inc()
	}
}

// Observe counts the answers of the gateway's own pages (paths under
// prefix) by wrapping their response writer; other requests pass straight
// to next, which reports through Status. The wrapper unwraps for
// http.ResponseController.
func (m *Metrics) Observe(prefix string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, prefix) {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: 200}
		next.ServeHTTP(sw, r)
		m.Status(sw.status)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote && code >= 200 {
		s.status, s.wrote = code, true
	}
	if code == http.StatusSwitchingProtocols {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush is called directly by some handlers.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Transport times the app's answers.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	return roundTripper{next, m.upstream}
}

type roundTripper struct {
	next http.RoundTripper
	h    prometheus.Histogram
}

func (t roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		t.h.Observe(time.Since(start).Seconds())
	}
	return resp, err
}

// Handler returns a slog.Handler that counts events and passes every
// record on to next.
func (m *Metrics) LogHandler(next slog.Handler) slog.Handler {
	return &eventCounter{next: next, m: m}
}

type eventCounter struct {
	next  slog.Handler
	m     *Metrics
	attrs []slog.Attr
}

func (e *eventCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return true // events are counted whatever the log level
}

func (e *eventCounter) Handle(ctx context.Context, r slog.Record) error {
	var event, factor, provider, reason string
	get := func(a slog.Attr) bool {
		switch a.Key {
		case "event":
			event = a.Value.String()
		case "factor":
			factor = a.Value.String()
		case "provider":
			provider = a.Value.String()
		case "reason":
			reason = a.Value.String()
		}
		return true
	}
	for _, a := range e.attrs {
		get(a)
	}
	r.Attrs(get)
	if event != "" {
		e.m.count(event, factor, provider, reason)
	}
	if e.next.Enabled(ctx, r.Level) {
		return e.next.Handle(ctx, r)
	}
	return nil
}

func (e *eventCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return &eventCounter{next: e.next.WithAttrs(as), m: e.m, attrs: append(append([]slog.Attr(nil), e.attrs...), as...)}
}

func (e *eventCounter) WithGroup(name string) slog.Handler {
	return &eventCounter{next: e.next.WithGroup(name), m: e.m, attrs: e.attrs}
}

func (m *Metrics) count(event, factor, provider, reason string) {
	m.events.WithLabelValues(event).Inc()
	switch event {
	case audit.LoginHeld:
		m.held.WithLabelValues("held").Inc()
	case audit.LoginReleased:
		m.held.WithLabelValues("released").Inc()
	case audit.LoginAbandoned, audit.UpstreamSessionRevoked, audit.AttemptsExhausted:
		m.held.WithLabelValues("abandoned").Inc()
	case audit.ChallengeSent:
		m.challenges.WithLabelValues(factor, "sent").Inc()
		if factor == "sms" {
			m.sms.WithLabelValues(provider, "sent").Inc()
		}
	case audit.CodeAccepted, audit.RecoveryCodeUsed:
		if factor == "" {
			factor = "recovery"
		}
		m.challenges.WithLabelValues(factor, "passed").Inc()
	case audit.CodeRejected, audit.CodeReplayed:
		if factor == "" {
			factor = "totp"
		}
		m.challenges.WithLabelValues(factor, "failed").Inc()
	case audit.SMSFailed:
		m.sms.WithLabelValues(provider, "failed").Inc()
		m.smsFailed.WithLabelValues(provider, reason).Inc()
	case audit.SMSRefused:
		m.sms.WithLabelValues("", "refused").Inc()
	case audit.TOTPReplaced, audit.PhoneChanged, audit.FactorRemoved, audit.PasskeyAdded, audit.PasskeyRenamed,
		audit.RecoveryCodesReplaced, audit.DeviceRevoked, audit.SessionsEnded:
		m.changes.WithLabelValues(event).Inc()
	}
}
