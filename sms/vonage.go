package sms

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	vonage "github.com/vonage/vonage-go-sdk"
)

// Vonage sends through the Vonage (Nexmo) SMS API with the official SDK.
type Vonage struct {
	client *vonage.SMSClient
	from   string
}

// VonageOptions configure the Vonage sender.
type VonageOptions struct {
	APIKey, APISecret string
	From              string // sender id or number
	// BaseURL replaces https://rest.nexmo.com/sms (regional endpoints, tests).
	BaseURL string
	Timeout time.Duration
}

// NewVonage returns a Vonage sender.
func NewVonage(o VonageOptions) (*Vonage, error) {
	if o.APIKey == "" || o.APISecret == "" || o.From == "" {
		return nil, errors.New("vonage: api_key, api_secret and from are required")
	}
	c := vonage.NewSMSClient(vonage.CreateAuthFromKeySecret(o.APIKey, o.APISecret))
	if o.BaseURL != "" {
		c.Config.BasePath = strings.TrimSuffix(o.BaseURL, "/")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	c.Config.HTTPClient = &http.Client{Timeout: o.Timeout}
	return &Vonage{client: c, from: o.From}, nil
}

// Name implements Sender.
func (v *Vonage) Name() string { return "vonage" }

// vonagePermanent are the SMS API statuses a retry to the same number
// won't fix: invalid parameters, number barred, illegal number,
// non-whitelisted destination, ...
var vonagePermanent = map[string]bool{"2": true, "3": true, "6": true, "7": true, "15": true, "22": true, "29": true}

var vonageText = map[string]string{
	"1": "throttled", "2": "missing parameters", "3": "invalid parameters", "4": "invalid credentials",
	"5": "internal error", "6": "invalid message", "7": "number barred", "8": "partner account barred",
	"9": "partner quota violation", "15": "illegal number", "22": "invalid network code", "29": "non-whitelisted destination",
}

// Send implements Sender. The SDK has no context; the HTTP client's timeout
// bounds the call.
func (v *Vonage) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	opts := vonage.SMSOpts{ClientRef: "vestibule-" + m.Purpose}
	if !gsm7(m.Text) {
		opts.Type = "unicode"
	}
	res, _, err := v.client.Send(v.from, strings.TrimPrefix(m.To, "+"), m.Text, opts)
	if err != nil {
		return &Error{Provider: "vonage", Code: "transport", Detail: scrub(err.Error())}
	}
	if len(res.Messages) == 0 {
		return &Error{Provider: "vonage", Code: "empty", Detail: "no message status in the answer"}
	}
	if st := res.Messages[0].Status; st != "0" {
		return &Error{Provider: "vonage", Code: st, Permanent: vonagePermanent[st], Detail: vonageText[st]}
	}
	return nil
}

// gsm7 reports whether text fits the GSM 7-bit alphabet (roughly: ASCII
// printable); otherwise the message is sent as unicode.
func gsm7(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf || (r < 0x20 && r != '\n' && r != '\r') {
			return false
		}
	}
	return true
}

// scrub removes query strings (where credentials could hide) from an error.
func scrub(s string) string {
	if i := strings.Index(s, "?"); i >= 0 {
		if j := strings.IndexAny(s[i:], " \""); j >= 0 {
			return s[:i] + s[i+j:]
		}
		return s[:i]
	}
	return s
}
