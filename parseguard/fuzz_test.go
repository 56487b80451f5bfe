package parseguard

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
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

// FuzzTokenScanner: any JSON answer holding a session token anywhere (a
// value, a key, inside a longer text, spelled with escapes, inside a JSON
// text inside a string) comes out of the scanner without it, still valid
// JSON of the same length; streamed in small pieces it comes out the same;
// and a released token is left alone.
func FuzzTokenScanner(f *testing.F) {
	f.Add(`{"results":[{"objectId":"n1"}]}`, uint32(7), byte(0))
	f.Add(`{"data":{"logIn":{"viewer":{"t":"x"}}}}`, uint32(0xdeadbeef), byte(4))
	f.Add(`[1,"a\"b",{"k":null}]`, uint32(1), byte(3))
	f.Add(`"plain"`, uint32(42), byte(5))
	f.Add(`{"sessionToken":"legacy"}`, uint32(9), byte(2))
	f.Add(largeAnswer[:2000]+`]}`, uint32(11), byte(4))
	f.Add(`[`+strings.Repeat(`{"text":"a long note without anything in it","n":1},`, 40)+`"x"]`, uint32(12), byte(0))
	f.Fuzz(func(t *testing.T, doc string, seed uint32, form byte) {
		if !json.Valid([]byte(doc)) {
			b, _ := json.Marshal(doc)
			doc = string(b)
		}
		tok := fmt.Sprintf("r:%08x%08x%08x%08x", seed, seed*2654435761, seed^0x5bd1e995, seed+1)
		if seed&1 == 1 {
			tok = "R:" + strings.ToUpper(tok[2:])
		}
		esc := func(s string) string { // every other byte as \u00XX
			var b strings.Builder
			for i := 0; i < len(s); i++ {
				if (int(seed)>>(i%32))&1 == 1 {
					fmt.Fprintf(&b, `\u%04x`, s[i])
				} else {
					b.WriteByte(s[i])
				}
			}
			return b.String()
		}
		var in string
		switch form % 8 {
		case 0:
			in = `{"x":[` + doc + `,"` + tok + `"]}`
		case 1:
			in = `{"` + tok + `":` + doc + `}`
		case 2:
			in = `["Bearer ` + tok + `; more",` + doc + `]`
		case 3:
			in = `{"a":` + doc + `,"b":"` + esc(tok) + `"}`
		case 4:
			if i := strings.IndexByte(doc, '"'); i >= 0 {
				in = doc[:i+1] + tok + doc[i+1:]
			} else {
				in = `[` + doc + `,"` + tok + `"]`
			}
		case 5:
			inner, _ := json.Marshal(map[string]any{"t": tok, "d": json.RawMessage(doc)})
			outer, _ := json.Marshal(string(inner))
			in = `{"x":` + string(outer) + `}`
		case 6:
			inner, _ := json.Marshal(`{"t":"` + esc(tok) + `"}`)
			in = `[` + string(inner) + `,` + doc + `]`
		case 7:
			in = `{"url":"https://app.example/cb?t=` + tok[:1] + `%3A` + tok[2:] + `","d":` + doc + `}`
		}
		if !json.Valid([]byte(in)) {
			t.Fatalf("test input is not JSON: %s", in)
		}
		out := []byte(in)
		redactTokens(out, func(s string) bool { return true })
		if len(out) != len(in) || !json.Valid(out) {
			t.Fatalf("redacted answer changed length or is not JSON:\n in %s\nout %s", in, out)
		}
		if leak := leaks(t, out, tok); leak != "" {
			t.Fatalf("token left in %q\n in %s\nout %s", leak, in, out)
		}
		// Streamed in pieces: the same bytes.
		fr := newTokenFilter(io.NopCloser(iotest.OneByteReader(strings.NewReader(in))), func(string) bool { return true }, 1<<20)
		streamed, err := io.ReadAll(fr)
		fr.Close()
		if err != nil || string(streamed) != string(out) {
			t.Fatalf("streamed %q (%v), want %q", streamed, err, out)
		}
		// Released: nothing changes.
		same := []byte(in)
		redactTokens(same, func(string) bool { return false })
		if string(same) != in {
			t.Fatalf("a released token's answer changed: %s", same)
		}
	})
}

// leaks returns a string of the decoded answer (a key or value, decoded
// twice over when it holds JSON) that still contains tok.
func leaks(t *testing.T, b []byte, tok string) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	low := strings.ToLower(tok)
	var walk func(v any, depth int) string
	var check func(s string, depth int) string
	check = func(s string, depth int) string {
		if l := strings.ToLower(s); strings.Contains(l, low) || strings.Contains(l, strings.Replace(low, ":", "%3a", 1)) {
			return s
		}
		if depth < 3 {
			var inner any
			if json.Unmarshal([]byte(s), &inner) == nil {
				if l := walk(inner, depth+1); l != "" {
					return l
				}
			}
			var str string
			if json.Unmarshal([]byte(`"`+s+`"`), &str) == nil && str != s {
				return check(str, depth+1)
			}
		}
		return ""
	}
	walk = func(v any, depth int) string {
		switch x := v.(type) {
		case string:
			return check(x, depth)
		case map[string]any:
			for k, c := range x {
				if l := check(k, depth); l != "" {
					return l
				}
				if l := walk(c, depth); l != "" {
					return l
				}
			}
		case []any:
			for _, c := range x {
				if l := walk(c, depth); l != "" {
					return l
				}
			}
		}
		return ""
	}
	return walk(v, 0)
}
