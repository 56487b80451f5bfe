package sms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	vonage "github.com/vonage/vonage-go-sdk"
)

// Vonage sends through the Vonage (Nexmo) SMS API with the official SDK.
// The SDK (v0.14.0) ignores contexts, reports a refused message with a nil
// error and indexes the answer's messages unchecked; Send makes every one of
// those an *Error, and the sender is meant to run behind Guard.
type Vonage struct {
	client *vonage.SMSClient
	from   string
}

// VonageOptions configure the Vonage sender.
type VonageOptions struct {
	APIKey, APISecret string
	From              string // sender id or number
	// BaseURL replaces the documented base https://rest.nexmo.com
	// (regional endpoints, tests); the same with /sms is accepted too.
	BaseURL string
	Timeout time.Duration
	// Transport carries the requests (nil: http.DefaultTransport).
	Transport http.RoundTripper
}

// DefaultVonageBase is the SMS API's documented base URL.
const DefaultVonageBase = "https://rest.nexmo.com"

// VonageBasePath returns the SDK's base path (".../sms") for a configured
// base URL: the documented base, or the same ending in /sms. Anything
// else is an error saying what to set.
func VonageBasePath(base string) (string, error) {
	if base == "" {
		base = DefaultVonageBase
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("must be an http(s) URL such as %s, got %q", DefaultVonageBase, base)
	}
	switch p := strings.TrimSuffix(u.Path, "/"); p {
	case "", "/sms":
		u.Path = "/sms"
		return u.String(), nil
	default:
		return "", fmt.Errorf("must be the SMS API's base, %s://%s (or %s://%s/sms), without a path: messages go to <base>/sms/json; got %q",
			u.Scheme, u.Host, u.Scheme, u.Host, base)
	}
}

// NewVonage returns a Vonage sender.
func NewVonage(o VonageOptions) (*Vonage, error) {
	if o.APIKey == "" || o.APISecret == "" || o.From == "" {
		return nil, errors.New("vonage: api_key, api_secret and from are required")
	}
	base, err := VonageBasePath(o.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("base_url: %w", err)
	}
	c := vonage.NewSMSClient(vonage.CreateAuthFromKeySecret(o.APIKey, o.APISecret))
	c.Config.BasePath = base
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	c.Config.HTTPClient = newClient(o.Transport, o.Timeout)
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
// bounds the call (and Guard returns at the deadline).
func (v *Vonage) Send(ctx context.Context, m Message) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	opts := vonage.SMSOpts{ClientRef: "vestibule-" + m.Purpose}
	if !gsm7(m.Text) {
		opts.Type = "unicode"
	}
	// The SDK indexes the answer's messages unchecked: an answer without
	// any panics inside it.
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Provider: "vonage", Code: CodeMalformed, Detail: "the answer has no message status"}
		}
	}()
	res, _, err := v.client.Send(v.from, strings.TrimPrefix(m.To, "+"), m.Text, opts)
	if err != nil {
		code := CodeMalformed // an HTTP error status, or an answer that is not the documented JSON
		var ue *url.Error
		switch {
		case errors.Is(err, errOversized):
			code = CodeOversized
		case errors.As(err, &ue) && ue.Timeout():
			code = CodeTimeout
		case errors.As(err, &ue):
			code = CodeTransport
		}
		return &Error{Provider: "vonage", Code: code, Detail: scrub(err.Error())}
	}
	if len(res.Messages) == 0 {
		return &Error{Provider: "vonage", Code: CodeMalformed, Detail: "no message status in the answer"}
	}
	st := res.Messages[0].Status
	if st != "0" {
		if _, known := vonageText[st]; !known && !numeric(st) {
			return &Error{Provider: "vonage", Code: CodeMalformed, Detail: "the answer's message status is not a number"}
		}
		return &Error{Provider: "vonage", Code: st, Permanent: vonagePermanent[st], Detail: cmp.Or(vonageText[st], "status "+st)}
	}
	return nil
}

func numeric(s string) bool {
	if s == "" || len(s) > 4 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
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
