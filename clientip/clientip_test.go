package clientip

import (
	"net/http"
	"testing"
)

func TestClientIP(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8", "192.0.2.10", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote string
		xff          []string
		want, fwd    string
	}{
		{"direct client, no header", "203.0.113.5:4000", nil, "203.0.113.5", "203.0.113.5"},
		{"untrusted peer's header ignored", "203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5", "203.0.113.5"},
		{"trusted proxy", "10.1.2.3:5000", []string{"198.51.100.9"}, "198.51.100.9", "198.51.100.9, 10.1.2.3"},
		{"spoofed left entry skipped", "10.1.2.3:5000", []string{"1.2.3.4, 198.51.100.9"}, "198.51.100.9", "198.51.100.9, 10.1.2.3"},
		{"chain of trusted proxies", "10.1.2.3:5000", []string{"198.51.100.9, 192.0.2.10", "10.9.9.9"}, "198.51.100.9", "198.51.100.9, 192.0.2.10, 10.9.9.9, 10.1.2.3"},
		{"all trusted", "10.1.2.3:5000", []string{"10.0.0.1"}, "10.0.0.1", "10.0.0.1, 10.1.2.3"},
		{"garbage entry", "10.1.2.3:5000", []string{"1.2.3.4, not-an-ip"}, "10.1.2.3", "10.1.2.3"},
		{"trusted, no header", "10.1.2.3:5000", nil, "10.1.2.3", "10.1.2.3"},
		{"ipv6 peer trusted", "[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1", "2001:db8::1, ::1"},
		{"mapped ipv4", "203.0.113.5:1", nil, "203.0.113.5", "203.0.113.5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://x/", nil)
			req.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := r.ClientIP(req); got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
			if got := r.ForwardedFor(req); got != tc.fwd {
				t.Errorf("ForwardedFor = %q, want %q", got, tc.fwd)
			}
		})
	}
	// No trusted proxies: headers never count.
	none, _ := New(nil)
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.RemoteAddr = "10.1.2.3:1"
	req.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := none.ClientIP(req); got != "10.1.2.3" {
		t.Errorf("without trusted proxies: %q", got)
	}
}

func TestNewNamesBadEntry(t *testing.T) {
	if _, err := New([]string{"10.0.0.0/8", "10.0.0.300"}); err == nil || err.Error() != `trusted_proxies[1]: not a CIDR or IP address: "10.0.0.300"` {
		t.Errorf("err = %v", err)
	}
}
