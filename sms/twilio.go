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
		o.Timeout = 10 * time.Second
	}
	return &Twilio{o: o, client: &http.Client{Timeout: o.Timeout}}, nil
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
		return &Error{Provider: "twilio", Code: "transport", Detail: scrub(err.Error())}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	json.Unmarshal(body, &e)
	code := fmt.Sprint(resp.StatusCode)
	if e.Code != 0 {
		code = fmt.Sprint(e.Code)
	}
	return &Error{Provider: "twilio", Code: code, Permanent: twilioPermanent[e.Code] || resp.StatusCode == http.StatusBadRequest && e.Code == 0,
		Detail: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, e.Message)}
}
