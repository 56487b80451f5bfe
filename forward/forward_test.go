package forward

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadLoginBodyBounded(t *testing.T) {
	r := httptest.NewRequest("POST", "/login", strings.NewReader(strings.Repeat("a", 100)))
	if _, err := ReadBody(r, 99); err != ErrBodyTooLarge {
		t.Fatalf("over the limit: %v", err)
	}
	r = httptest.NewRequest("POST", "/login", strings.NewReader("username=a"))
	r.ContentLength = -1 // unknown length, as with chunked uploads
	b, err := ReadBody(r, 99)
	if err != nil || string(b) != "username=a" {
		t.Fatalf("ReadBody = %q, %v", b, err)
	}
	again := make([]byte, 20)
	n, _ := r.Body.Read(again)
	if string(again[:n]) != "username=a" {
		t.Fatal("body not put back for forwarding")
	}
}

func TestWithoutCookies(t *testing.T) {
	drop := []string{"g", "pending"}
	for in, want := range map[string]string{
		"g=1":                         "",
		"g=1; a=2":                    "a=2",
		"a=2; g=1":                    "a=2",
		"a=2; g=1; b=3":               "a=2; b=3",
		"ag=1; g=2; gb=3":             "ag=1; gb=3",
		"a=g=1; g=2":                  "a=g=1",
		"pending=x;g=1;a=2":           "a=2",
		"a=2;pending=x":               "a=2",
		"a=1; g = 2 ; b=3":            "a=1; b=3",
		"sess=abc; theme=dark; g=zzz": "sess=abc; theme=dark",
	} {
		got := withoutCookies([]string{in}, drop)
		if (len(got) == 0 && want != "") || (len(got) > 0 && got[0] != want) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
