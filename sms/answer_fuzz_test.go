package sms

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzVonageAnswer: whatever Vonage answers, Send returns (never panics);
// it reports success only for a JSON answer whose first message has
// status "0", and anything else is an *Error.
func FuzzVonageAnswer(f *testing.F) {
	for _, s := range []string{
		`{"message-count":"1","messages":[{"to":"447400123456","message-id":"0A0000000123ABCD1","status":"0"}]}`,
		`{"message-count":"1","messages":[{"status":"1","error-text":"Throttled"}]}`,
		`{"message-count":"0","messages":[]}`, `{}`, ``, `null`, `[]`, `{"messages":null}`, `{"messages":[null]}`,
		`{"messages":[{"status":0}]}`, `<html></html>`, `{"messages":[{"status":"0"`,
	} {
		f.Add(200, "application/json", []byte(s))
	}
	f.Add(500, "text/plain", []byte("boom"))
	f.Add(200, "application/xml", []byte("<sms/>"))
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte) {
		if status < 100 || status > 999 {
			status = 200
		}
		v, err := NewVonage(VonageOptions{APIKey: "abcd1234", APISecret: "sekret12345678", From: "V", Transport: answerTransport{status, ctype, body}})
		if err != nil {
			t.Fatal(err)
		}
		err = Guard(v, 5*time.Second).Send(context.Background(), Message{To: "+447400123456", Text: "x"})
		if err == nil {
			var a struct {
				Messages []struct {
					Status string `json:"status"`
				} `json:"messages"`
			}
			if status >= 300 || json.Unmarshal(body, &a) != nil || len(a.Messages) == 0 || a.Messages[0].Status != "0" {
				t.Fatalf("HTTP %d %q counted as sent", status, body)
			}
			return
		}
		var se *Error
		if !errors.As(err, &se) {
			t.Fatalf("not an *Error: %v", err)
		}
	})
}

// FuzzTwilioAnswer: the same for Twilio: success only for a 2xx carrying
// the created message's sid.
func FuzzTwilioAnswer(f *testing.F) {
	for _, s := range []string{`{"sid":"SM123","status":"queued"}`, `{"code":21211,"message":"The 'To' number +14155550100 is not valid","status":400}`,
		``, `{}`, `null`, `{"sid":""}`, `{"sid":1}`, `not json`} {
		f.Add(201, []byte(s))
		f.Add(400, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 201
		}
		if err := twilioAnswer(status, body); err == nil {
			var a struct {
				SID string `json:"sid"`
			}
			if status/100 != 2 || json.Unmarshal(body, &a) != nil || a.SID == "" {
				t.Fatalf("HTTP %d %q counted as sent", status, body)
			}
		}
		tw, _ := NewTwilio(TwilioOptions{AccountSID: "AC1", AuthToken: "tok", From: "+15005550006", Transport: answerTransport{status, "application/json", body}})
		err := Guard(tw, 5*time.Second).Send(context.Background(), Message{To: "+14155550100", Text: "x"})
		var se *Error
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("not an *Error: %v", err)
		}
	})
}
