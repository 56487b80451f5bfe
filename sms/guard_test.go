package sms

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

type funcSender func(ctx context.Context, m Message) error

func (f funcSender) Send(ctx context.Context, m Message) error { return f(ctx, m) }
func (f funcSender) Name() string                              { return "fake" }

func TestGuard(t *testing.T) {
	msg := Message{To: "+14155550100", Text: "123456"}
	for _, tc := range []struct {
		name   string
		send   funcSender
		code   string
		reason string
	}{
		{"panic", func(context.Context, Message) error { var m []int; _ = m[0]; return nil }, CodePanic, "panic"},
		{"ignores its context", func(context.Context, Message) error { time.Sleep(time.Second); return nil }, CodeTimeout, "timeout"},
		{"context error", func(ctx context.Context, _ Message) error { <-ctx.Done(); return ctx.Err() }, CodeTimeout, "timeout"},
		{"plain error", func(context.Context, Message) error { return errors.New("dial tcp: refused") }, CodeTransport, "transport"},
		{"provider refusal", func(context.Context, Message) error {
			return &Error{Provider: "fake", Code: "21211", Permanent: true, Detail: "The 'To' number +1 (415) 555-0100 is not a valid phone number. " + strings.Repeat("x", 500)}
		}, "21211", "rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := Guard(tc.send, 100*time.Millisecond).Send(context.Background(), msg)
			var se *Error
			if !errors.As(err, &se) || se.Code != tc.code || se.Reason() != tc.reason {
				t.Fatalf("err = %#v, want code %s", err, tc.code)
			}
			if time.Since(start) > 500*time.Millisecond {
				t.Errorf("took %s, past the timeout", time.Since(start))
			}
			if strings.Contains(se.Detail, "555") || strings.Contains(se.Detail, "4155550100") || len(se.Detail) > maxDetail+3 {
				t.Errorf("detail not redacted or not capped: %q", se.Detail)
			}
		})
	}
	if err := Guard(funcSender(func(context.Context, Message) error { return nil }), time.Second).Send(context.Background(), msg); err != nil {
		t.Errorf("accepted send: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"The 'To' number +14155550100 is not a valid phone number.": "The 'To' number [number] is not a valid phone number.",
		"Invalid to: 447400123456":                                  "Invalid to: [number]",
		"to +44 7400 123456 barred":                                 "to [number] barred",
		"HTTP 503: Service unavailable (code 20503)":                "HTTP 503: Service unavailable (code 20503)",
		"": "",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVonageBasePath(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "https://rest.nexmo.com/sms",
		"https://rest.nexmo.com":          "https://rest.nexmo.com/sms",
		"https://rest.nexmo.com/":         "https://rest.nexmo.com/sms",
		"https://rest.nexmo.com/sms":      "https://rest.nexmo.com/sms",
		"https://rest.nexmo.com/sms/":     "https://rest.nexmo.com/sms",
		"http://127.0.0.1:8080":           "http://127.0.0.1:8080/sms",
		"https://rest.nexmo.com/sms/json": "",
		"https://rest.nexmo.com/v1":       "",
		"rest.nexmo.com":                  "",
		"ftp://rest.nexmo.com":            "",
	} {
		got, err := VonageBasePath(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("VonageBasePath(%q) = %q, %v; want %q", in, got, err, want)
		}
		if err != nil && !strings.Contains(err.Error(), "rest.nexmo.com") && !strings.Contains(err.Error(), "http(s)") {
			t.Errorf("error does not say what to set: %v", err)
		}
	}
}

// answerTransport answers every request with a fixed status and body,
// without a network.
type answerTransport struct {
	status int
	ctype  string
	body   []byte
}

func (a answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	h := http.Header{}
	if a.ctype != "" {
		h.Set("Content-Type", a.ctype)
	}
	return &http.Response{StatusCode: a.status, Status: http.StatusText(a.status), Header: h, Request: r,
		Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: -1}, nil
}

const jsonType = "application/json"

// Answers the APIs do not document are errors, never a panic, never a
// message counted as sent.
func TestVonageUnexpectedAnswers(t *testing.T) {
	big := `{"message-count":"1","messages":[{"status":"0","x":"` + strings.Repeat("a", maxAnswer) + `"}]}`
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   string
		code   string
	}{
		{"empty messages", 200, jsonType, `{"message-count":"0","messages":[]}`, CodeMalformed},
		{"no messages", 200, jsonType, `{}`, CodeMalformed},
		{"empty body", 200, jsonType, ``, CodeMalformed},
		{"not JSON", 200, jsonType, `<html>oops</html>`, CodeMalformed},
		{"HTML", 200, "text/html", `<html>oops</html>`, CodeMalformed},
		{"truncated", 200, jsonType, `{"message-count":"1","messages":[{"status":"0"`, CodeMalformed},
		{"oversized", 200, jsonType, big, CodeOversized},
		{"not found", 404, jsonType, `{"type":"not found"}`, CodeMalformed},
		{"server error", 500, "text/plain", `boom`, CodeMalformed},
		{"status not a number", 200, jsonType, `{"messages":[{"status":"ok"}]}`, CodeMalformed},
		{"empty status", 200, jsonType, `{"messages":[{"to":"447400123456"}]}`, CodeMalformed},
		{"refused", 200, jsonType, `{"messages":[{"status":"15","error-text":"Illegal Sender Address"}]}`, "15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVonage(VonageOptions{APIKey: "abcd1234", APISecret: "sekret12345678", From: "V", Transport: answerTransport{tc.status, tc.ctype, []byte(tc.body)}})
			if err != nil {
				t.Fatal(err)
			}
			err = Guard(v, time.Second).Send(context.Background(), Message{To: "+447400123456", Text: "x"})
			var se *Error
			if !errors.As(err, &se) || se.Code != tc.code {
				t.Errorf("err = %v, want code %s", err, tc.code)
			}
		})
	}
}

func TestTwilioUnexpectedAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   string
	}{
		{"empty 201", 201, ``, CodeMalformed},
		{"not JSON", 201, `<html>`, CodeMalformed},
		{"no sid", 201, `{"status":"queued"}`, CodeMalformed},
		{"truncated", 201, `{"sid":"SM1","sta`, CodeMalformed},
		{"oversized", 201, `{"sid":"SM1","x":"` + strings.Repeat("a", maxAnswer) + `"}`, CodeOversized},
		{"failed at once", 201, `{"sid":"SM1","status":"failed"}`, "failed"},
		{"error without JSON", 502, `bad gateway`, "502"},
		{"redirect", 302, ``, "302"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw, _ := NewTwilio(TwilioOptions{AccountSID: "AC1", AuthToken: "tok", From: "+15005550006", Transport: answerTransport{tc.status, jsonType, []byte(tc.body)}})
			err := Guard(tw, time.Second).Send(context.Background(), Message{To: "+14155550100", Text: "x"})
			var se *Error
			if !errors.As(err, &se) || se.Code != tc.code {
				t.Errorf("err = %v, want code %s", err, tc.code)
			}
		})
	}
}

// The timeout is the configured one for both senders: a slow provider is
// cut at sms.timeout, not at a fixed time.
func TestTimeoutAppliesToBothSenders(t *testing.T) {
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer slow.Close()
	defer close(stop)
	v, _ := NewVonage(VonageOptions{APIKey: "abcd1234", APISecret: "sekret12345678", From: "V", BaseURL: slow.URL, Timeout: 200 * time.Millisecond})
	tw, _ := NewTwilio(TwilioOptions{AccountSID: "AC1", AuthToken: "tok", From: "+15005550006", BaseURL: slow.URL, Timeout: 200 * time.Millisecond})
	for _, s := range []Sender{v, tw} {
		start := time.Now()
		err := Guard(s, 200*time.Millisecond).Send(context.Background(), Message{To: "+14155550100", Text: "x"})
		var se *Error
		if !errors.As(err, &se) || se.Permanent || (se.Code != CodeTimeout && se.Code != CodeTransport) {
			t.Errorf("%s: %v", s.Name(), err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: cut after %s", s.Name(), d)
		}
	}
}

// The documented base (no /sms) and the same with /sms both reach
// /sms/json.
func TestVonageBaseWithAndWithoutSMS(t *testing.T) {
	var got url.Values
	srv := fakeVonage(t, "0", &got)
	defer srv.Close()
	for _, base := range []string{srv.URL, srv.URL + "/", srv.URL + "/sms", srv.URL + "/sms/"} {
		got = nil
		v, err := NewVonage(VonageOptions{APIKey: "abcd1234", APISecret: "sekret12345678", From: "V", BaseURL: base})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Send(context.Background(), Message{To: "+447400123456", Text: "x"}); err != nil || got.Get("to") != "447400123456" {
			t.Errorf("base %s: %v", base, err)
		}
	}
	if _, err := NewVonage(VonageOptions{APIKey: "abcd1234", APISecret: "sekret12345678", From: "V", BaseURL: srv.URL + "/v2/sms"}); err == nil {
		t.Error("a base with another path was taken")
	}
}
