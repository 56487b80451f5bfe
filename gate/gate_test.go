package gate

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCodecRoundTrip(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c, err := NewCodec("vestibule_gate", [][]byte{testKey(1)}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		User:     "alice",
		Bind:     Binding([]string{"sessionid"}, []string{"abc"}),
		Issued:   clk.t,
		Expires:  clk.t.Add(time.Hour),
		Verified: clk.t.Add(-time.Second),
	}
	v, err := c.Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	if got.User != want.User || got.Bind != want.Bind || !got.Issued.Equal(want.Issued) ||
		!got.Expires.Equal(want.Expires) || !got.Verified.Equal(want.Verified) {
		t.Fatalf("round trip: got %+v, want %+v", got, want)
	}
	if strings.Contains(v, "alice") {
		t.Fatal("cookie value shows the user name in clear")
	}
}

func TestCodecRejects(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c, _ := NewCodec("vestibule_gate", [][]byte{testKey(1)}, clk.now)
	other, _ := NewCodec("vestibule_gate", [][]byte{testKey(2)}, clk.now)
	renamed, _ := NewCodec("other_cookie", [][]byte{testKey(1)}, clk.now)
	cl := Claims{User: "alice", Issued: clk.t, Expires: clk.t.Add(time.Minute)}
	good, _ := c.Encode(cl)
	fromOther, _ := other.Encode(cl)
	fromRenamed, _ := renamed.Encode(cl)
	tampered := []byte(good)
	tampered[len(tampered)/2] ^= 1
	cases := []struct {
		name  string
		value string
		at    time.Time
	}{
		{"empty", "", clk.t},
		{"garbage", "not-a-cookie", clk.t},
		{"tampered", string(tampered), clk.t},
		{"other key", fromOther, clk.t},
		{"other cookie name", fromRenamed, clk.t},
		{"expired", good, clk.t.Add(time.Minute)},
		{"too long", strings.Repeat("a", maxCookieLen+1), clk.t},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk.t = tc.at
			defer func() { clk.t = time.Unix(1_700_000_000, 0) }()
			if _, err := c.Decode(tc.value); err != ErrInvalid {
				t.Fatalf("Decode = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestCodecKeyRotation(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	old, _ := NewCodec("g", [][]byte{testKey(1)}, clk.now)
	rotated, _ := NewCodec("g", [][]byte{testKey(2), testKey(1)}, clk.now)
	retired, _ := NewCodec("g", [][]byte{testKey(2)}, clk.now)
	v, _ := old.Encode(Claims{User: "bob", Expires: clk.t.Add(time.Hour)})
	if cl, err := rotated.Decode(v); err != nil || cl.User != "bob" {
		t.Fatalf("rotated codec must still decode old cookies: %v %+v", err, cl)
	}
	if _, err := retired.Decode(v); err != ErrInvalid {
		t.Fatalf("a retired key must no longer decode: %v", err)
	}
	nv, _ := rotated.Encode(Claims{User: "bob", Expires: clk.t.Add(time.Hour)})
	if _, err := retired.Decode(nv); err != nil {
		t.Fatalf("new cookies must be made with the first key: %v", err)
	}
}

func TestNewCodecKeyErrors(t *testing.T) {
	if _, err := NewCodec("g", nil, nil); err == nil {
		t.Fatal("no keys accepted")
	}
	_, err := NewCodec("g", [][]byte{testKey(1), []byte("short")}, nil)
	if err == nil || !strings.Contains(err.Error(), "key 1") {
		t.Fatalf("short key: %v", err)
	}
}

func TestBinding(t *testing.T) {
	a := Binding([]string{"sid", "auth"}, []string{"1", "2"})
	b := Binding([]string{"auth", "sid"}, []string{"2", "1"})
	if a != b {
		t.Fatal("binding depends on cookie order")
	}
	if a == Binding([]string{"sid", "auth"}, []string{"1", "3"}) {
		t.Fatal("binding ignores a value")
	}
	if Binding([]string{"ab"}, []string{"c"}) == Binding([]string{"a"}, []string{"bc"}) {
		t.Fatal("binding is ambiguous across field boundaries")
	}
	if Binding(nil, nil) == a {
		t.Fatal("empty binding equals a real one")
	}
	if BindingMap(map[string]string{"sid": "1", "auth": "2"}) != a {
		t.Fatal("BindingMap differs from Binding")
	}
}

func FuzzDecode(f *testing.F) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c, _ := NewCodec("g", [][]byte{testKey(1)}, clk.now)
	good, _ := c.Encode(Claims{User: "alice", Expires: clk.t.Add(time.Hour)})
	f.Add(good)
	f.Add("")
	f.Add("MTcwMDAwMDAwMHxhYmN8ZGVm")
	f.Fuzz(func(t *testing.T, v string) {
		cl, err := c.Decode(v)
		if err != nil {
			if err != ErrInvalid {
				t.Fatalf("Decode error %v, want only ErrInvalid", err)
			}
			return
		}
		if !clk.t.Before(cl.Expires) {
			t.Fatalf("Decode accepted an expired cookie: %+v", cl)
		}
	})
}

func FuzzDeserialize(f *testing.F) {
	b, _ := serializer{}.Serialize(&Claims{User: "alice"})
	f.Add(b)
	f.Add([]byte{claimsVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		var cl Claims
		if err := (serializer{}).Deserialize(b, &cl); err != nil {
			return
		}
		out, err := serializer{}.Serialize(&cl)
		if err != nil {
			t.Fatalf("deserialized claims do not serialize: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("serialization is not canonical: %x vs %x", out, b)
		}
	})
}

// BenchmarkDecode is a browser's repeat request: the value verified once.
func BenchmarkDecode(b *testing.B) {
	c, _ := NewCodec("vestibule_gate", [][]byte{testKey(1)}, nil)
	v, _ := c.Encode(Claims{User: "alice@example.com", Expires: time.Now().Add(time.Hour)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCold is the first request with a cookie value: MAC check
// and decryption by securecookie, with the compact serializer.
func BenchmarkDecodeCold(b *testing.B) {
	c, _ := NewCodec("vestibule_gate", [][]byte{testKey(1)}, nil)
	v, _ := c.Encode(Claims{User: "alice@example.com", Expires: time.Now().Add(time.Hour)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decode(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBinding(b *testing.B) {
	names, values := []string{"sessionid"}, []string{"k3j4h5k3j4h5k3j4h5k3j4h5k3j4h5k3"}
	b.ReportAllocs()
	for b.Loop() {
		Binding(names, values)
	}
}

// TestVerifiedCacheStillChecksExpiryAndTampering: a cached value is still
// checked against the clock; a value that never verified is never cached.
func TestVerifiedCacheStillChecksExpiryAndTampering(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c, _ := NewCodec("g", [][]byte{testKey(1)}, clock)
	v, _ := c.Encode(Claims{User: "alice", Expires: now.Add(time.Minute)})
	if _, err := c.Decode(v); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decode(v); err != nil {
		t.Fatalf("cached decode: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := c.Decode(v); err == nil {
		t.Fatal("an expired cookie passed from the cache")
	}
	tampered := v[:len(v)-2] + "AA"
	for range 2 {
		if _, err := c.Decode(tampered); err == nil {
			t.Fatal("tampered value accepted")
		}
	}
	if _, ok := c.cache.get(tampered); ok {
		t.Fatal("a value that failed verification was cached")
	}
	// Another codec (another key list) has its own cache.
	c2, _ := NewCodec("g", [][]byte{testKey(2)}, clock)
	now = now.Add(-time.Minute)
	if _, err := c2.Decode(v); err == nil {
		t.Fatal("a codec without the key accepted the value")
	}
	// Bounded: a full cache is cleared, not grown.
	c.cache.max = 2
	for i := range 5 {
		w, _ := c.Encode(Claims{User: fmt.Sprint("u", i), Expires: now.Add(time.Hour)})
		c.Decode(w)
	}
	if n := len(c.cache.m); n > 2 {
		t.Fatalf("cache grew to %d", n)
	}
}

func TestUserKey(t *testing.T) {
	if a, again := UserKey("alice"), UserKey("alice"); UserKey("alice") == UserKey("bob") || a != again {
		t.Fatal("UserKey is not a function of the user alone")
	}
	if UserKey("alice") == Binding(nil, nil) || UserKey("") == Binding([]string{""}, []string{""}) {
		t.Fatal("a user key equals a session binding")
	}
	if n := testing.AllocsPerRun(100, func() { UserKey("alice@example.com") }); n != 0 {
		t.Fatalf("UserKey allocates %v times", n)
	}
}
