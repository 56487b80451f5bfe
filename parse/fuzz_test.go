package parse

import (
	"encoding/json"
	"mime"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzReadRequest: reading a request never panics, and when the guard
// accepts a JSON object body, the token it saw is the one Parse would use
// (the object's "_SessionToken" string, whatever the escaping).
func FuzzReadRequest(f *testing.F) {
	f.Add("text/plain", `{"_ApplicationId":"a","_SessionToken":"r:1"}`)
	f.Add("application/json", `{"_Session\u0054oken":"r:2","_SessionToken":"r:3"}`)
	f.Add("application/x-www-form-urlencoded", "_SessionToken=r%3A4&_MasterKey=m")
	f.Add("application/json; charset=utf-16", "{}")
	f.Fuzz(func(t *testing.T, ctype, body string) {
		r := httptest.NewRequest("POST", "/parse/classes/Note", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		q, err := readRequest(r, 1<<16)
		if err != nil {
			return
		}
		t2 := strings.TrimLeft(body, " \t\r\n")
		if mt, _, _ := mime.ParseMediaType(ctype); strings.HasPrefix(t2, "{") && mt != "application/x-www-form-urlencoded" {
			var m map[string]any
			if json.Unmarshal([]byte(t2), &m) != nil {
				t.Fatalf("accepted a body Go can't parse: %q", body)
			}
			if s, ok := m["_SessionToken"].(string); ok && s != q.bodyToken {
				t.Fatalf("body token %q, guard saw %q", s, q.bodyToken)
			}
			if _, ok := m["_MasterKey"]; ok && !q.master {
				t.Fatal("a body master key went unseen")
			}
		}
	})
}

// FuzzAnswerRedaction: after removing every token found in an answer, none
// is left to find.
func FuzzAnswerRedaction(f *testing.F) {
	f.Add(`{"sessionToken":"r:1","list":[{"sessionToken":"r:2"}]}`)
	f.Add(`[{"success":{"objectId":"u","sessionToken":"r:3"}}]`)
	f.Fuzz(func(t *testing.T, body string) {
		v, ok := decodeAnswer([]byte(body))
		if !ok {
			return
		}
		redact(v, func(string) bool { return true })
		if left := findTokens(v, nil); len(left) != 0 {
			t.Fatalf("tokens left after redaction: %v", left)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("redacted answer does not encode: %v", err)
		}
	})
}
