package cookieguard

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCanonical(t *testing.T) {
	cases := []struct {
		path string
		want bool
	}{
		{"/", true},
		{"/login", true},
		{"/static/app.css", true},
		{"/login/", true},
		{"//login", true},
		{"/static/../admin", false},
		{"/static/./admin", false},
		{"/static/..", false},
		{"/..", false},
		{"/static/..;/admin", false},
		{"/login;jsessionid=1", false},
		{`/static\..\admin`, false},
		{"/static/\x00", false},
		{"/static/\n", false},
		{"static", false},
		{"", false},
		{"/a..b/c", true},
		{"/.well-known/x", true},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			if got := canonical(tc.path); got != tc.want {
				t.Fatalf("canonical(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

func TestLoginKey(t *testing.T) {
	cases := map[string]string{
		"/login":        "/login",
		"/LOGIN":        "/login",
		"/login/":       "/login",
		"//login//":     "/login",
		"/Parse//Login": "/parse/login",
		"/":             "/",
	}
	for in, want := range cases {
		if got := loginKey(in); got != want {
			t.Errorf("loginKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCookieNames(t *testing.T) {
	n := newCookieNames([]string{"sessionid", "DW*"})
	cases := map[string]bool{
		"sessionid":   true,
		"SessionID":   true,
		" sessionid ": true,
		"sessionid2":  false,
		"DWabc123":    true,
		"dwabc":       true,
		"DW":          true,
		"csrftoken":   false,
		"D":           false,
	}
	for name, want := range cases {
		if got := n.match(name); got != want {
			t.Errorf("match(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestScanCookies(t *testing.T) {
	names := newCookieNames([]string{"sid", "auth*"})
	cases := []struct {
		name   string
		lines  []string
		gate   string
		sess   []string
		over   bool
		strips string
	}{
		{"none", nil, "", nil, false, ""},
		{"only other", []string{"a=1; b=2"}, "", nil, false, "a=1; b=2"},
		{"session and gate", []string{"a=1; sid=xyz; g=tok"}, "tok", []string{"sid=xyz"}, false, "a=1; g=tok"},
		{"quoted value", []string{`sid="xyz"`}, "", []string{"sid=xyz"}, false, ""},
		{"split headers", []string{"sid=1", "authA=2; g=t"}, "t", []string{"sid=1", "authA=2"}, false, "g=t"},
		{"duplicate gate is ambiguous", []string{"g=a; g=b; sid=1"}, "", []string{"sid=1"}, false, "g=a; g=b"},
		{"odd spacing", []string{" sid =1;;  g=t ;"}, "t", []string{"sid=1"}, false, "g=t"},
		{"case variant is a session cookie", []string{"SID=1"}, "", []string{"SID=1"}, false, ""},
		{"too many", []string{strings.Repeat("sid=1; ", 9)}, "", []string{"sid=1", "sid=1", "sid=1", "sid=1", "sid=1", "sid=1", "sid=1", "sid=1"}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s scan
			scanCookies(tc.lines, "g", names, &s)
			if s.gate != tc.gate {
				t.Errorf("gate = %q, want %q", s.gate, tc.gate)
			}
			var got []string
			for i := 0; i < s.n; i++ {
				got = append(got, s.names[i]+"="+s.values[i])
			}
			if strings.Join(got, ",") != strings.Join(tc.sess, ",") {
				t.Errorf("session = %v, want %v", got, tc.sess)
			}
			if s.overflow != tc.over {
				t.Errorf("overflow = %v", s.overflow)
			}
			h := http.Header{"Cookie": tc.lines}
			stripSessionCookies(h, names)
			if got := h.Get("Cookie"); got != tc.strips {
				t.Errorf("after strip Cookie = %q, want %q", got, tc.strips)
			}
		})
	}
}

func TestScanCookiesDoesNotAllocate(t *testing.T) {
	names := newCookieNames([]string{"sessionid"})
	lines := []string{"csrftoken=abc; sessionid=0123456789abcdef; vestibule_gate=tokentokentoken"}
	allocs := testing.AllocsPerRun(100, func() {
		var s scan
		scanCookies(lines, "vestibule_gate", names, &s)
	})
	if allocs != 0 {
		t.Fatalf("scanCookies allocates %v times per call", allocs)
	}
}

func TestSessionAfter(t *testing.T) {
	names := newCookieNames([]string{"sid", "auth"})
	now := time.Unix(1_700_000_000, 0)
	sent := scan{n: 2}
	sent.names[0], sent.values[0] = "sid", "old"
	sent.names[1], sent.values[1] = "auth", "a"
	cases := []struct {
		name    string
		set     []*http.Cookie
		want    map[string]string
		changed bool
	}{
		{"nothing set", nil, map[string]string{"sid": "old", "auth": "a"}, false},
		{"same value again", []*http.Cookie{{Name: "sid", Value: "old"}}, map[string]string{"sid": "old", "auth": "a"}, false},
		{"rotated", []*http.Cookie{{Name: "sid", Value: "new"}}, map[string]string{"sid": "new", "auth": "a"}, true},
		{"deleted by max-age", []*http.Cookie{{Name: "auth", Value: "x", MaxAge: -1}}, map[string]string{"sid": "old"}, true},
		{"deleted by empty value", []*http.Cookie{{Name: "auth", Value: ""}}, map[string]string{"sid": "old"}, true},
		{"deleted by past expiry", []*http.Cookie{{Name: "auth", Value: "x", Expires: now.Add(-time.Hour)}}, map[string]string{"sid": "old"}, true},
		{"other cookie ignored", []*http.Cookie{{Name: "csrftoken", Value: "z"}}, map[string]string{"sid": "old", "auth": "a"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := sessionAfter(&sent, tc.set, names, now)
			if changed != tc.changed || len(got) != len(tc.want) {
				t.Fatalf("got %v changed=%v, want %v changed=%v", got, changed, tc.want, tc.changed)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestMatcher(t *testing.T) {
	names := newCookieNames([]string{"sessionid"})
	resp := func(status int, hdr ...string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	django := Matcher{Status: []int{302}, SetsSessionCookie: true}
	php := Matcher{Status: []int{302}, Headers: map[string]*regexp.Regexp{"Location": regexp.MustCompile(`^/home`)}}
	any := Matcher{}
	cases := []struct {
		name string
		m    Matcher
		r    *http.Response
		want bool
	}{
		{"django success", django, resp(302, "Set-Cookie", "sessionid=abc; Path=/"), true},
		{"django failure re-renders form", django, resp(200), false},
		{"django 302 without session cookie", django, resp(302, "Set-Cookie", "csrftoken=x"), false},
		{"django 302 deleting the session", django, resp(302, "Set-Cookie", "sessionid=; Max-Age=0"), false},
		{"php success", php, resp(302, "Location", "/home.php"), true},
		{"php failure", php, resp(302, "Location", "/login?error=1"), false},
		{"php no location", php, resp(302), false},
		{"default accepts 2xx", any, resp(200), true},
		{"default accepts 3xx", any, resp(303), true},
		{"default refuses 4xx", any, resp(401), false},
		{"default refuses 5xx", any, resp(500), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Match(tc.r, tc.r.Cookies(), names); got != tc.want {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBypassRules(t *testing.T) {
	rules := []PathRule{
		{Prefix: "/static/", Methods: []string{"GET", "HEAD"}},
		{Path: "/healthz"},
		{Pattern: regexp.MustCompile(`^/img/[a-z]+\.png$`), Methods: []string{"GET"}},
	}
	cases := []struct {
		path, method string
		want         bool
	}{
		{"/static/app.css", "GET", true},
		{"/static/app.css", "POST", false},
		{"/STATIC/app.css", "GET", false},
		{"/healthz", "POST", true},
		{"/healthz/x", "GET", false},
		{"/img/logo.png", "GET", true},
		{"/img/logo.png.php", "GET", false},
		{"/account", "GET", false},
	}
	for _, tc := range cases {
		if got := bypass(rules, tc.path, tc.method); got != tc.want {
			t.Errorf("bypass(%s %s) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}

func FuzzScanAndStrip(f *testing.F) {
	f.Add("a=1; sid=2; g=3")
	f.Add(`sid="x"; SID=y;;; =; g`)
	f.Add(strings.Repeat("sid=1;", 20))
	names := newCookieNames([]string{"sid", "dw*"})
	f.Fuzz(func(t *testing.T, line string) {
		var s scan
		scanCookies([]string{line}, "g", names, &s)
		h := http.Header{"Cookie": {line}}
		stripSessionCookies(h, names)
		// After stripping, no session cookie may be left in any spelling.
		var after scan
		scanCookies(h["Cookie"], "g", names, &after)
		if after.n != 0 || after.overflow {
			t.Fatalf("session cookie survived stripping: %q -> %q", line, h.Get("Cookie"))
		}
		// And the standard library's parser finds none either.
		r := &http.Request{Header: h}
		for _, c := range r.Cookies() {
			if names.match(c.Name) {
				t.Fatalf("net/http still sees %q after stripping %q", c.Name, line)
			}
		}
	})
}

func FuzzMatcher(f *testing.F) {
	f.Add(302, "sessionid=abc; Path=/", "/home")
	f.Add(200, "", "")
	f.Add(303, "sessionid=; Max-Age=-1", "/login?error")
	names := newCookieNames([]string{"sessionid"})
	m := Matcher{Status: []int{302, 303}, SetsSessionCookie: true,
		Headers: map[string]*regexp.Regexp{"Location": regexp.MustCompile(`^/home`)}}
	f.Fuzz(func(t *testing.T, status int, setCookie, location string) {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		if setCookie != "" {
			r.Header.Set("Set-Cookie", setCookie)
		}
		if location != "" {
			r.Header.Set("Location", location)
		}
		if m.Match(r, r.Cookies(), names) {
			if status != 302 && status != 303 {
				t.Fatalf("matched status %d", status)
			}
			if !strings.HasPrefix(location, "/home") {
				t.Fatalf("matched location %q", location)
			}
		}
	})
}

func TestPhoneFromLoginAnswer(t *testing.T) {
	p := &Proxy{opt: Options{PhoneJSONField: "phone", PhoneHeader: "X-User-Phone"}}
	cases := []struct {
		header, body, want string
	}{
		{"+44 7400 123456", `{"phone":"+33612345678"}`, "+44 7400 123456"},
		{"", `{"objectId":"x","phone":" +33612345678 "}`, "+33612345678"},
		{"", `{"phone":33612345678}`, ""},
		{"", `not json`, ""},
		{"", ``, ""},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.header != "" {
			h.Set("X-User-Phone", tc.header)
		}
		if got := p.phoneOf(h, []byte(tc.body)); got != tc.want {
			t.Errorf("phoneOf(%q, %q) = %q, want %q", tc.header, tc.body, got, tc.want)
		}
	}
}

func TestLoginKeyCanonicalPathsDoNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { loginKey("/account/settings") }); n != 0 {
		t.Errorf("loginKey of a canonical path allocates %v times", n)
	}
	for _, p := range []string{"/", "/a", "/a/b"} {
		if loginKey(p) != p {
			t.Errorf("loginKey(%q) changed it", p)
		}
	}
}

func TestQueryHas(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{"do=logout", true},
		{"id=start&do=logout&sectok=x", true},
		{"do=show&do=logout", true}, // any of its values: fail closed
		{"%64o=log%6Fut", true},
		{"do=logoutx", false},
		{"xdo=logout", false},
		{"", false},
	} {
		if got := queryHas(tc.raw, "do", "logout"); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.raw, got, tc.want)
		}
	}
}
