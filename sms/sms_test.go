package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeVonage checks the request exactly as the SMS API documents it
// (POST /sms/json, form fields api_key, api_secret, from, to, text) and
// answers with the given status.
func fakeVonage(t *testing.T, status string, got *url.Values) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/sms/json" {
			t.Errorf("vonage: %s %s", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			t.Errorf("vonage: Content-Type %q", ct)
		}
		r.ParseForm()
		*got = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		msg := map[string]string{"to": r.PostForm.Get("to"), "status": status}
		if status == "0" {
			msg["message-id"] = "0A0000000123ABCD1"
		} else {
			msg["error-text"] = "Throttled"
		}
		json.NewEncoder(w).Encode(map[string]any{"message-count": "1", "messages": []any{msg}})
	}))
}

func TestVonage(t *testing.T) {
	var got url.Values
	srv := fakeVonage(t, "0", &got)
	defer srv.Close()
	v, err := NewVonage(VonageOptions{APIKey: "abcd1234", APISecret: "sekret12345678", From: "Vestibule", BaseURL: srv.URL + "/sms"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Send(context.Background(), Message{To: "+447700900123", Text: "123456 is your code", Purpose: "login"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"api_key": "abcd1234", "api_secret": "sekret12345678", "from": "Vestibule", "to": "447700900123", "text": "123456 is your code"}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("field %s = %q, want %q", k, got.Get(k), v)
		}
	}
	if got.Get("type") != "" {
		t.Errorf("ASCII text sent as type %q", got.Get("type"))
	}
	v.Send(context.Background(), Message{To: "+447700900123", Text: "Code für Anmeldung: 123456"})
	if got.Get("type") != "unicode" {
		t.Errorf("non-GSM text: type %q, want unicode", got.Get("type"))
	}

	for _, tc := range []struct {
		status    string
		permanent bool
	}{{"1", false}, {"5", false}, {"15", true}, {"29", true}} {
		srv := fakeVonage(t, tc.status, &got)
		v, _ := NewVonage(VonageOptions{APIKey: "abcd1234", APISecret: "sekret12345678", From: "V", BaseURL: srv.URL + "/sms"})
		err := v.Send(context.Background(), Message{To: "+447700900123", Text: "x"})
		srv.Close()
		var se *Error
		if !errors.As(err, &se) || se.Code != tc.status || se.Permanent != tc.permanent {
			t.Errorf("status %s: %v", tc.status, err)
		}
		if strings.Contains(err.Error(), "sekret12345678") || strings.Contains(se.UserMessage(), "sekret12345678") {
			t.Error("error leaks the secret")
		}
	}
	// Provider down: a temporary error, no secret in it.
	v, _ = NewVonage(VonageOptions{APIKey: "abcd1234", APISecret: "sekret12345678", From: "V", BaseURL: "http://127.0.0.1:1/sms", Timeout: time.Second})
	err = v.Send(context.Background(), Message{To: "+447700900123", Text: "x"})
	var se *Error
	if !errors.As(err, &se) || se.Permanent || strings.Contains(err.Error(), "sekret12345678") {
		t.Errorf("provider down: %v", err)
	}
}

func TestTwilio(t *testing.T) {
	var reply func(w http.ResponseWriter)
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/2010-04-01/Accounts/AC123/Messages.json" {
			t.Errorf("twilio: %s %s", r.Method, r.URL.Path)
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "AC123" || p != "tok" {
			t.Errorf("twilio: basic auth %q %q", u, p)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("twilio: Content-Type %q", ct)
		}
		r.ParseForm()
		got = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		reply(w)
	}))
	defer srv.Close()
	tw, err := NewTwilio(TwilioOptions{AccountSID: "AC123", AuthToken: "tok", From: "+15005550006", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	reply = func(w http.ResponseWriter) {
		w.WriteHeader(201)
		io.WriteString(w, `{"sid":"SM123","status":"queued"}`)
	}
	if err := tw.Send(context.Background(), Message{To: "+14155550100", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	if got.Get("To") != "+14155550100" || got.Get("From") != "+15005550006" || got.Get("Body") != "hello" || got.Has("MessagingServiceSid") {
		t.Errorf("form: %v", got)
	}
	ms, _ := NewTwilio(TwilioOptions{AccountSID: "AC123", AuthToken: "tok", MessagingServiceSID: "MG9", BaseURL: srv.URL})
	ms.Send(context.Background(), Message{To: "+14155550100", Text: "hello"})
	if got.Get("MessagingServiceSid") != "MG9" || got.Has("From") {
		t.Errorf("messaging service form: %v", got)
	}
	for _, tc := range []struct {
		status    int
		body      string
		code      string
		permanent bool
	}{
		{400, `{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}`, "21211", true},
		{429, `{"code":20429,"message":"Too Many Requests","status":429}`, "20429", false},
		{500, `{"code":20500,"message":"Internal Server Error","status":500}`, "20500", false},
		{503, `not json`, "503", false},
	} {
		reply = func(w http.ResponseWriter) { w.WriteHeader(tc.status); io.WriteString(w, tc.body) }
		err := tw.Send(context.Background(), Message{To: "+14155550100", Text: "x"})
		var se *Error
		if !errors.As(err, &se) || se.Code != tc.code || se.Permanent != tc.permanent {
			t.Errorf("HTTP %d: %v", tc.status, err)
		}
		if strings.Contains(err.Error(), "tok") {
			t.Error("error leaks the token")
		}
	}
}

func TestWebhookSignature(t *testing.T) {
	secret := []byte("0123456789abcdef-webhook")
	var gotBody []byte
	var gotSig, gotTS string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		gotSig, gotTS = r.Header.Get("X-Vestibule-Signature"), r.Header.Get("X-Vestibule-Timestamp")
	}))
	defer srv.Close()
	now := time.Unix(1795000000, 0)
	wh, err := NewWebhook(srv.URL, secret, 0, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Send(context.Background(), Message{To: "+33612345678", Text: "code 123456", Purpose: "login"}); err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	json.Unmarshal(gotBody, &body)
	if body["recipient"] != "+33612345678" || body["message"] != "code 123456" || body["purpose"] != "login" {
		t.Errorf("body %s", gotBody)
	}
	if gotTS != "1795000000" || gotSig != Sign(secret, gotTS, gotBody) || !strings.HasPrefix(gotSig, "sha256=") {
		t.Errorf("signature %q over %q", gotSig, gotTS)
	}
	if Sign([]byte("other-secret-xxxxxx"), gotTS, gotBody) == gotSig || Sign(secret, gotTS, bytes.ToUpper(gotBody)) == gotSig {
		t.Error("signature does not depend on secret and body")
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	l.Send(context.Background(), Message{To: "+33612345678", Text: "code 123456"})
	if !strings.Contains(buf.String(), "code 123456") || !strings.Contains(buf.String(), "event=sms_logged") {
		t.Errorf("log: %s", buf.String())
	}
}
