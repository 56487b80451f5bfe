package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Event is one enrollment or factor change, as posted (JSON) to the
// webhook. It never carries a secret, a code or a full phone number.
type Event struct {
	// Event names the change, as in the audit log: enrollment,
	// factor_reset, phone_set, recovery_codes_replaced, devices_revoked,
	// invite_created.
	Event string `json:"event"`
	User  string `json:"user"`
	// Factor is totp or sms for an enrollment.
	Factor string `json:"factor,omitempty"`
	// Phone is the masked number (+44 •••• ••3456) where one is involved.
	Phone string `json:"phone,omitempty"`
	// By is "user" (at sign-in, through the gate pages or the Parse
	// protocol) or "admin" (a vestibule command).
	By string `json:"by"`
	// Via says how a first enrollment was allowed (open, invite, networks).
	Via string `json:"via,omitempty"`
	// RemoteIP is the client address of a change made at sign-in.
	RemoteIP string    `json:"remote_ip,omitempty"`
	Time     time.Time `json:"time"`
}

// Options configure a Notifier.
type Options struct {
	// URL receives a POST per event. Required.
	URL string
	// Secret signs each request (see Sign); at least 16 bytes. Required.
	Secret []byte
	// Timeout bounds each request (0: 5 seconds).
	Timeout time.Duration
	// Transport, if set, replaces the default transport (tests).
	Transport http.RoundTripper
	// MaxInFlight bounds background sends; more are dropped (0: 16).
	MaxInFlight int
	Now         func() time.Time // nil: time.Now
	Logger      *slog.Logger     // nil: slog.Default()
}

// Notifier posts signed events. It is best-effort: a send never blocks or
// fails the change it reports; failures are logged (event
// enrollment_webhook_failed, counted with the other audit events). A nil
// *Notifier does nothing, so callers need no check.
type Notifier struct {
	url    string
	host   string
	secret []byte
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
	slots  chan struct{}
	wg     sync.WaitGroup
}

// New returns a Notifier.
func New(o Options) (*Notifier, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("notify: want an http(s) URL")
	}
	if len(o.Secret) < 16 {
		return nil, errors.New("notify: want a secret of at least 16 bytes")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 16
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	tr := o.Transport
	if tr == nil {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConns: 4, IdleConnTimeout: 90 * time.Second,
			TLSHandshakeTimeout: o.Timeout, ResponseHeaderTimeout: o.Timeout}
	}
	return &Notifier{
		url: o.URL, host: u.Host, secret: o.Secret, now: o.Now, log: o.Logger, slots: make(chan struct{}, o.MaxInFlight),
		client: &http.Client{Timeout: o.Timeout, Transport: tr,
			// A signed event goes to the configured URL only.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// Send posts ev and waits for the answer (at most the timeout). Any
// answer but 2xx is an error; it is also logged.
func (n *Notifier) Send(ctx context.Context, ev Event) error {
	if n == nil {
		return nil
	}
	if ev.Time.IsZero() {
		ev.Time = n.now().UTC()
	}
	err := n.post(ctx, ev)
	if err != nil {
		n.log.WarnContext(ctx, "enrollment webhook not delivered", "event", "enrollment_webhook_failed",
			"change", ev.Event, "user", ev.User, "host", n.host, "err", err)
		return err
	}
	n.log.DebugContext(ctx, "enrollment webhook delivered", "change", ev.Event, "user", ev.User, "host", n.host)
	return nil
}

func (n *Notifier) post(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vestibule-webhook")
	SignRequest(req, n.secret, n.now(), body)
	resp, err := n.client.Do(req)
	if err != nil {
		// The URL (which may carry a token) stays out of the log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("posting event: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("posting event: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Notify sends ev in the background and returns at once. It is detached
// from ctx's cancellation (the page that made the change may be done
// before the webhook answers). When MaxInFlight sends are already running,
// ev is dropped and that is logged.
func (n *Notifier) Notify(ctx context.Context, ev Event) {
	if n == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = n.now().UTC()
	}
	select {
	case n.slots <- struct{}{}:
	default:
		n.log.WarnContext(ctx, "enrollment webhook dropped: too many in flight", "event", "enrollment_webhook_failed",
			"change", ev.Event, "user", ev.User, "host", n.host, "err", "queue full")
		return
	}
	n.wg.Add(1)
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer func() { <-n.slots; n.wg.Done() }()
		n.Send(ctx, ev)
	}()
}

// Wait blocks until every background send has finished (shutdown, tests).
func (n *Notifier) Wait() {
	if n != nil {
		n.wg.Wait()
	}
}

// Close waits for the background sends (each bounded by the timeout), so
// a gateway shutting down still delivers what it started.
func (n *Notifier) Close() error {
	n.Wait()
	return nil
}
