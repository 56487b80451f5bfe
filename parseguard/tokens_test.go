package parseguard

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	tokA = "r:0123456789abcdef0123456789abcdef" // not released
	tokB = "r:fedcba9876543210fedcba9876543210" // released
)

// TestTokenScanner: tokens are found by value wherever they are and
// blanked in place; released ones, and strings that only look alike, stay.
func TestTokenScanner(t *testing.T) {
	esc := `\u0072\u003a0123456789abcdef0123456789abcdef`
	cases := []struct {
		name, in, want string
	}{
		{"under sessionToken", `{"sessionToken":"` + tokA + `"}`, `{"sessionToken":""` + strings.Repeat(" ", 34) + `}`},
		{"under an alias", `{"data":{"a":{"v":{"t":"` + tokA + `"}}}}`, `{"data":{"a":{"v":{"t":""` + strings.Repeat(" ", 34) + `}}}}`},
		{"escaped", `{"t":"` + esc + `"}`, `{"t":""` + strings.Repeat(" ", len(esc)) + `}`},
		{"in a longer text", `["Bearer ` + tokA + ` x"]`, `["Bearer  x"` + strings.Repeat(" ", 34) + `]`},
		{"as a key", `{"` + tokA + `":1}`, `{""` + strings.Repeat(" ", 34) + `:1}`},
		{"upper case", `["R:` + strings.ToUpper(tokA[2:]) + `"]`, `[""` + strings.Repeat(" ", 34) + `]`},
		{"JSON inside a string", `{"x":"{\"t\":\"` + tokA + `\"}"}`, `{"x":"{\"t\":\"\"}"` + strings.Repeat(" ", 34) + `}`},
		{"escaped JSON inside a string", `{"x":"{\"t\":\"\\u0072:0123456789abcdef0123456789abcdef\"}"}`, ""},
		{"percent-encoded in a URL", `{"u":"https://x/?t=r%3a0123456789abcdef0123456789abcdef"}`, `{"u":""` + strings.Repeat(" ", 49) + `}`},
		{"legacy token under a token key", `{"_session_token":"legacy1"}`, `{"_session_token":""       }`},
		{"legacy-looking value elsewhere", `{"name":"legacy1"}`, `{"name":"legacy1"}`},
		{"released", `{"sessionToken":"` + tokB + `","u":{"t":"` + tokB + `"}}`, `{"sessionToken":"` + tokB + `","u":{"t":"` + tokB + `"}}`},
		{"one hex digit short", `["r:0123456789abcdef0123456789abcde"]`, `["r:0123456789abcdef0123456789abcde"]`},
		{"dates and URLs", `{"d":"2026-12-02T05:00:00.000Z","u":"https://x/r:y"}`, `{"d":"2026-12-02T05:00:00.000Z","u":"https://x/r:y"}`},
		{"unterminated", `{"t":"` + tokA, `{"t":""` + strings.Repeat(" ", 33)},
	}
	decide := func(tok string) bool { return tok != tokB && tok != "legacy-kept" }
	for _, c := range cases {
		if c.want == "" { // the whole of "x" blanked
			c.want = `{"x":""` + strings.Repeat(" ", len(c.in)-len(`{"x":""}`)) + `}`
		}
		t.Run(c.name, func(t *testing.T) {
			b := []byte(c.in)
			redactTokens(b, func(s string) bool {
				if s == "legacy1" {
					return true
				}
				return decide(s)
			})
			if string(b) != c.want {
				t.Fatalf("got  %s\nwant %s", b, c.want)
			}
			for _, n := range []int{1, 2, 3, 7} {
				f := newTokenFilter(io.NopCloser(iotest.HalfReader(chunks(c.in, n))), func(s string) bool { return s == "legacy1" || decide(s) }, 1<<20)
				got, err := io.ReadAll(f)
				f.Close()
				if err != nil || string(got) != c.want {
					t.Fatalf("streamed in %d-byte reads: %s (%v)", n, got, err)
				}
			}
		})
	}
	if got := findTokenValues([]byte(`{"a":"` + tokA + `","b":["` + tokB + `","` + tokA + `"]}`)); len(got) != 2 {
		t.Errorf("distinct tokens: %v", got)
	}
}

// chunks reads s n bytes at a time.
func chunks(s string, n int) io.Reader {
	return &chunkReader{s: s, n: n}
}

type chunkReader struct {
	s string
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.s))
	copy(p, c.s[:k])
	c.s = c.s[k:]
	return k, nil
}

// TestTokenFilterLongString: a string longer than the filter's buffer is
// still checked; one longer than its limit fails the answer.
func TestTokenFilterLongString(t *testing.T) {
	long := strings.Repeat("x", 40<<10)
	in := `{"a":"` + long + tokA + long + `","b":"` + tokB + `"}`
	f := newTokenFilter(io.NopCloser(strings.NewReader(in)), func(s string) bool { return s != tokB }, 1<<20)
	out, err := io.ReadAll(f)
	f.Close()
	if err != nil || len(out) != len(in) || strings.Contains(string(out), tokA) || !strings.Contains(string(out), tokB) || !json.Valid(out) {
		t.Fatalf("long string: %v, %d bytes of %d", err, len(out), len(in))
	}
	f = newTokenFilter(io.NopCloser(strings.NewReader(in)), func(string) bool { return true }, 32<<10)
	if _, err := io.ReadAll(f); err != errStringTooLong {
		t.Fatalf("over the limit: %v", err)
	}
}

// TestLocate: one definition of what is Parse, for every variant Express
// routes there.
func TestLocate(t *testing.T) {
	g := &Guard{mount: "/parse", gql: "/graphql"}
	cases := []struct {
		path  string
		want  where
		route string
	}{
		{"/parse/login", rest, "login"},
		{"/PARSE//Classes/Note/", rest, "Classes/Note"},
		{"/parse", rest, ""},
		{"/graphql", graphQL, ""},
		{"/graphql/x", graphQL, ""},
		{"/GRAPHQL/x", graphQL, ""},
		{"/graphql//a/b/", graphQL, ""},
		{"/parse/graphql", rest, "graphql"},
		{"/graphqlx", elsewhere, ""},
		{"/parsex/login", elsewhere, ""},
		{"/", elsewhere, ""},
	}
	for _, c := range cases {
		if at, route := g.locate(clean(c.path)); at != c.want || route != c.route {
			t.Errorf("%s: %v %q, want %v %q", c.path, at, route, c.want, c.route)
		}
	}
	for _, p := range []string{"/parse/../graphql", "/parse/./login", "/parse/x/..", `/parse\login`} {
		if !dotted(clean(p)) {
			t.Errorf("%s: dot segments not seen", p)
		}
	}
}

// TestBasicAuth: the master key in basic auth is seen however Node would
// decode it; a JavaScript key names the app for the gateway's own calls.
func TestBasicAuth(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	cases := []struct {
		name, h string
		master  bool
	}{
		{"padded", "Basic " + b64([]byte("app:masterkey1")), true},
		{"unpadded, lower case", "basic " + strings.TrimRight(b64([]byte("app:masterkey")), "="), true},
		{"URL alphabet", "Basic " + base64.URLEncoding.EncodeToString([]byte("app:m>>?k")), true},
		{"junk inside", "Basic " + b64([]byte("app:mk"))[:4] + "*" + b64([]byte("app:mk"))[4:], true},
		{"javascript key", "Basic " + b64([]byte("app:javascript-key=js")), false},
		{"not basic", "Bearer x", false},
		{"undecodable", "Basic !!!", false},
	}
	for _, c := range cases {
		if got := basicMaster(c.h); got != c.master {
			t.Errorf("%s: master %v, want %v", c.name, got, c.master)
		}
	}
	r := httptest.NewRequest("POST", "/parse/login", strings.NewReader(`{"_ApplicationId":"bodyapp","_JavaScriptKey":"bk"}`))
	r.Header.Set("Authorization", "Basic "+b64([]byte("basicapp:javascript-key=js")))
	r.Header.Set("X-Parse-Application-Id", "hdrapp")
	q, err := readRequest(r, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	sets := q.keySets()
	if len(sets) != 3 || sets[0]["X-Parse-Application-Id"] != "basicapp" || sets[0]["X-Parse-Javascript-Key"] != "js" ||
		sets[1]["X-Parse-Application-Id"] != "hdrapp" || sets[2]["X-Parse-Application-Id"] != "bodyapp" || sets[2]["X-Parse-Javascript-Key"] != "bk" {
		t.Errorf("key sets: %v", sets)
	}
	r = httptest.NewRequest("GET", "/parse/users/me", nil)
	r.Header.Set("Authorization", "Basic "+b64([]byte("app:the-master-key")))
	q, _ = readRequest(r, 1<<10)
	for _, s := range q.keySets() {
		for _, v := range s {
			if v == "the-master-key" {
				t.Error("the master key is kept for the gateway's own calls")
			}
		}
	}
}

// TestTokenScannerLongAnswer: a token deep in a long answer, or in a
// string open across reads, is found, whole or streamed in pieces of any
// size, with the same result.
func TestTokenScannerLongAnswer(t *testing.T) {
	in := strings.Replace(largeAnswer, "number 150", "number 150 "+tokA, 1)
	in = strings.Replace(in, "number 90,", "number 90 "+strings.Repeat("x", 3000)+",", 1)
	want := []byte(in)
	if redactTokens(want, func(string) bool { return true }) != 1 || strings.Contains(string(want), tokA) || !json.Valid(want) {
		t.Fatal("token deep in a long answer not removed")
	}
	for _, n := range []int{1, 500, 513, 4096, 40000} {
		f := newTokenFilter(io.NopCloser(chunks(in, n)), func(string) bool { return true }, 1<<20)
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(got) != string(want) {
			t.Fatalf("streamed in %d-byte reads: differs (%v)", n, err)
		}
	}
}
