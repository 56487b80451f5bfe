package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vestibule-gw/vestibule/notify"
)

// Webhook posts each message as JSON to a URL of yours, signed with
// HMAC-SHA256, so any provider or an in-house gateway can be plugged in.
//
// The request carries X-Vestibule-Timestamp (unix seconds) and
// X-Vestibule-Signature: "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
// Verify both, and refuse timestamps more than a few minutes old.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

// NewWebhook returns a webhook sender.
func NewWebhook(url string, secret []byte, timeout time.Duration, now func() time.Time) (*Webhook, error) {
	if url == "" || len(secret) < 16 {
		return nil, errors.New("webhook: url and a secret of at least 16 bytes are required")
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if now == nil {
		now = time.Now
	}
	return &Webhook{url: url, secret: secret, client: &http.Client{Timeout: timeout}, now: now}, nil
}

// Name implements Sender.
func (w *Webhook) Name() string { return "webhook" }

// Sign returns the signature header value for a timestamp and body; it is
// notify.Sign, the one signature of every Vestibule webhook.
func Sign(secret []byte, timestamp string, body []byte) string {
	return notify.Sign(secret, timestamp, body)
}

// Send implements Sender.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, _ := json.Marshal(map[string]string{"recipient": m.To, "message": m.Text, "purpose": m.Purpose})
	req, err := http.NewRequestWithContext(ctx, "POST", w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	notify.SignRequest(req, w.secret, w.now(), body)
	resp, err := w.client.Do(req)
	if err != nil {
		return &Error{Provider: "webhook", Code: "transport", Detail: scrub(err.Error())}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return &Error{Provider: "webhook", Code: fmt.Sprint(resp.StatusCode), Permanent: resp.StatusCode == http.StatusUnprocessableEntity,
			Detail: fmt.Sprintf("HTTP %d", resp.StatusCode)}
	}
	return nil
}
