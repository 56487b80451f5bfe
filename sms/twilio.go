package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Twilio sends through Twilio's Programmable Messaging REST API.
type Twilio struct {
	o      TwilioOptions
	client *http.Client
}

// TwilioOptions configure the Twilio sender.
type TwilioOptions struct {
	AccountSID, AuthToken string
	// From is a Twilio number, or set MessagingServiceSID instead.
	From, MessagingServiceSID string
	// BaseURL replaces https://api.twilio.com (regional edges, tests).
	BaseURL string
	Timeout time.Duration
	// Transport carries the requests (nil: http.DefaultTransport).
	Transport http.RoundTripper
}

// NewTwilio returns a Twilio sender.
func NewTwilio(o TwilioOptions) (*Twilio, error) {
	if o.AccountSID == "" || o.AuthToken == "" {
		return nil, errors.New("twilio: account_sid and auth_token are required")
	}
	if (o.From == "") == (o.MessagingServiceSID == "") {
		return nil, errors.New("twilio: set exactly one of from and messaging_service_sid")
	}
	if o.BaseURL == "" {
		o.BaseURL = "https://api.twilio.com"
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &Twilio{o: o, client: newClient(o.Transport, o.Timeout)}, nil
}

// Name implements Sender.
func (t *Twilio) Name() string { return "twilio" }

// twilioPermanent are error codes a retry won't fix: invalid To, not a
// mobile number, unreachable or blocked destination, opted out.
var twilioPermanent = map[int]bool{21211: true, 21214: true, 21408: true, 21610: true, 21612: true, 21614: true}

// Send implements Sender: POST /2010-04-01/Accounts/{SID}/Messages.json.
func (t *Twilio) Send(ctx context.Context, m Message) error {
	form := url.Values{"To": {m.To}, "Body": {m.Text}}
	if t.o.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", t.o.MessagingServiceSID)
	} else {
		form.Set("From", t.o.From)
	}
	u := t.o.BaseURL + "/2010-04-01/Accounts/" + url.PathEscape(t.o.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.SetBasicAuth(t.o.AccountSID, t.o.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		code := CodeTransport
		if isTimeout(err) {
			code = CodeTimeout
		}
		return &Error{Provider: "twilio", Code: code, Detail: scrub(err.Error())}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		code := CodeTransport
		if errors.Is(err, errOversized) {
			code = CodeOversized
		}
		return &Error{Provider: "twilio", Code: code, Detail: fmt.Sprintf("HTTP %d: reading the answer: %v", resp.StatusCode, err)}
	}
	return twilioAnswer(resp.StatusCode, body)
}

// twilioAnswer reads Twilio's answer to a send: a 2xx with the created
// message (its sid, a status that is not failed), or an error document.
// Anything else is an *Error too.
func twilioAnswer(status int, body []byte) error {
	if status/100 == 2 {
		var ok struct {
			SID    string `json:"sid"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal(body, &ok); err != nil || ok.SID == "" {
			return &Error{Provider: "twilio", Code: CodeMalformed, Detail: fmt.Sprintf("HTTP %d without the created message", status)}
		}
		if ok.Status == "failed" || ok.Status == "undelivered" {
			return &Error{Provider: "twilio", Code: ok.Status, Detail: "message " + ok.Status}
		}
		return nil
	}
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	json.Unmarshal(body, &e)
	code := fmt.Sprint(status)
	if e.Code > 0 {
		code = fmt.Sprint(e.Code)
	}
	return &Error{Provider: "twilio", Code: code, Permanent: twilioPermanent[e.Code] || status == http.StatusBadRequest && e.Code == 0,
		Detail: fmt.Sprintf("HTTP %d: %s", status, e.Message)}
}
