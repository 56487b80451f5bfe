package factor

import (
	"bytes"
	"encoding/base32"
	"image"
	_ "image/png"
	"strings"
	"testing"
	"time"
)

// RFC 6238 Appendix B, SHA-1: secret "12345678901234567890".
var rfcSecret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))

var rfcVectors = []struct {
	unix int64
	code string
}{
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{20000000000, "65353130"},
}

func TestRFC6238Vectors(t *testing.T) {
	eight := TOTP{Digits: 8, Period: 30 * time.Second}
	six := DefaultTOTP()
	for _, v := range rfcVectors {
		at := time.Unix(v.unix, 0)
		got, err := eight.Code(rfcSecret, eight.Step(at))
		if err != nil || got != v.code {
			t.Errorf("8 digits at %d: %q %v, want %s", v.unix, got, err, v.code)
		}
		got6, _ := six.Code(rfcSecret, six.Step(at))
		if got6 != v.code[2:] {
			t.Errorf("6 digits at %d: %q, want %s", v.unix, got6, v.code[2:])
		}
		if step, ok := eight.Verify(rfcSecret, v.code, at); !ok || step != eight.Step(at) {
			t.Errorf("Verify RFC code at %d: step %d ok %v", v.unix, step, ok)
		}
	}
}

func TestVerifyWindowAndStep(t *testing.T) {
	totp := DefaultTOTP()
	at := time.Unix(1_800_000_015, 0)
	now := totp.Step(at)
	code := func(step int64) string { c, _ := totp.Code(rfcSecret, step); return c }
	cases := []struct {
		name   string
		code   string
		ok     bool
		wantSt int64
	}{
		{"current", code(now), true, now},
		{"previous", code(now - 1), true, now - 1},
		{"next", code(now + 1), true, now + 1},
		{"two back", code(now - 2), false, 0},
		{"two ahead", code(now + 2), false, 0},
		{"short", "12345", false, 0},
		{"long", "1234567", false, 0},
		{"letters", "12a456", false, 0},
		{"empty", "", false, 0},
		{"spaces", " 12345", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "two back" && (tc.code == code(now) || tc.code == code(now-1) || tc.code == code(now+1)) {
				t.Skip("astronomically unlikely collision of codes")
			}
			step, ok := totp.Verify(rfcSecret, tc.code, at)
			if ok != tc.ok || (ok && step != tc.wantSt) {
				t.Fatalf("Verify = %d %v, want %d %v", step, ok, tc.wantSt, tc.ok)
			}
		})
	}
	if _, ok := totp.Verify("not base32!", code(now), at); ok {
		t.Fatal("a bad secret verified")
	}
}

func TestNewTOTPSecretDeterministic(t *testing.T) {
	r := bytes.NewReader(bytes.Repeat([]byte{0xAB}, 20))
	s, err := NewTOTPSecret(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 32 || strings.ContainsAny(s, "=") || strings.ToUpper(s) != s {
		t.Fatalf("secret %q: want 32 upper-case base32 chars without padding", s)
	}
	if _, err := NewTOTPSecret(bytes.NewReader(nil)); err == nil {
		t.Fatal("empty entropy source accepted")
	}
}

func TestKeyURIAndQR(t *testing.T) {
	uri := KeyURI("Acme Intranet", "alice@example.com", "JBSWY3DPEHPK3PXP")
	for _, want := range []string{"otpauth://totp/", "secret=JBSWY3DPEHPK3PXP", "issuer=Acme+Intranet", "digits=6", "period=30", "alice@example.com"} {
		if !strings.Contains(uri, want) {
			t.Errorf("URI %q lacks %q", uri, want)
		}
	}
	png, err := QRCodePNG(uri, 200)
	if err != nil {
		t.Fatal(err)
	}
	img, format, err := image.Decode(bytes.NewReader(png))
	if err != nil || format != "png" {
		t.Fatalf("QR is not a PNG: %v %s", err, format)
	}
	if b := img.Bounds(); b.Dx() != 200 || b.Dy() != 200 {
		t.Fatalf("QR size %v, want 200x200", b)
	}
}

func TestRecoveryCodes(t *testing.T) {
	if len(codeAlphabet) != 32 {
		t.Fatalf("alphabet has %d symbols", len(codeAlphabet))
	}
	seen := map[rune]bool{}
	for _, r := range codeAlphabet {
		if seen[r] {
			t.Fatalf("alphabet repeats %q", r)
		}
		seen[r] = true
	}
	codes, err := NewRecoveryCodes(bytes.NewReader(bytes.Repeat([]byte{0, 1, 2, 31, 32, 255}, 100)), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes", len(codes))
	}
	for _, c := range codes {
		if len(c) != 19 || strings.Count(c, "-") != 3 {
			t.Fatalf("code %q is not xxxx-xxxx-xxxx-xxxx", c)
		}
		if _, ok := NormalizeRecoveryCode(c); !ok {
			t.Fatalf("own code %q does not normalise", c)
		}
	}
	real, _ := NewRecoveryCodes(nil2(), 10)
	if real[0] == real[1] {
		t.Fatal("random codes repeat")
	}
}

func nil2() *bytes.Reader {
	b := make([]byte, 16*10)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return bytes.NewReader(b)
}

func TestNormalizeRecoveryCode(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"abcd-efgh-jkmn-pqrs", "abcdefghjkmnpqrs", true},
		{"ABCD EFGH JKMN PQRS", "abcdefghjkmnpqrs", true},
		{"abcdefghjkmnpqrs", "abcdefghjkmnpqrs", true},
		{"oooo-iiii-llll-0000", "0000111111110000", true},
		{"abcd-efgh-jkmn-pqr", "", false},
		{"abcd-efgh-jkmn-pqrst", "", false},
		{"abcd-efgh-jkmn-pqu1", "", false},
		{"abcd-efgh-jkmn-pqr!", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		got, ok := NormalizeRecoveryCode(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Normalize(%q) = %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if bytes.Equal(HashRecoveryCode("a"), HashRecoveryCode("b")) || len(HashRecoveryCode("a")) != 32 {
		t.Fatal("hash is not a SHA-256 of the code")
	}
}

func TestNumericCode(t *testing.T) {
	// A reader whose first 5 bytes are all 0xff forces a rejection (2^40-1
	// is above the largest multiple of 10^6); the next draw is used.
	r := bytes.NewReader(append(bytes.Repeat([]byte{0xff}, 5), 0, 0, 0, 0, 42))
	c, err := NumericCode(r, 6)
	if err != nil || c != "000042" {
		t.Fatalf("NumericCode = %q %v, want 000042 after one rejection", c, err)
	}
	for _, d := range []int{3, 11} {
		if _, err := NumericCode(bytes.NewReader(make([]byte, 10)), d); err == nil {
			t.Fatalf("digits %d accepted", d)
		}
	}
	// Rough uniformity of the first digit over a deterministic stream.
	counts := make([]int, 10)
	src := &lcg{x: 1}
	for range 20000 {
		c, _ := NumericCode(src, 6)
		counts[c[0]-'0']++
	}
	for d, n := range counts {
		if n < 1700 || n > 2300 {
			t.Fatalf("leading digit %d drawn %d times of 20000: not uniform", d, n)
		}
	}
	if !EqualCode("123456", "123456") || EqualCode("123456", "123457") || EqualCode("1", "12") {
		t.Fatal("EqualCode")
	}
}

// lcg is a deterministic byte stream for the uniformity check.
type lcg struct{ x uint64 }

func (l *lcg) Read(p []byte) (int, error) {
	for i := range p {
		l.x = l.x*6364136223846793005 + 1442695040888963407
		p[i] = byte(l.x >> 56)
	}
	return len(p), nil
}

func FuzzVerify(f *testing.F) {
	f.Add(rfcSecret, "287082", int64(59))
	f.Add("JBSWY3DPEHPK3PXP", "000000", int64(0))
	f.Add("", "", int64(-1))
	totp := DefaultTOTP()
	f.Fuzz(func(t *testing.T, secret, code string, unix int64) {
		_, ok := totp.Verify(secret, code, time.Unix(unix, 0))
		if ok && len(code) != 6 {
			t.Fatalf("accepted a code of length %d", len(code))
		}
	})
}

// BenchmarkTOTPVerify checks a wrong code: all three steps of the window
// are computed and compared (constant time), the most work a guess costs.
func BenchmarkTOTPVerify(b *testing.B) {
	totp := DefaultTOTP()
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := totp.Verify(secret, "000000", now); ok {
			b.Fatal("accepted")
		}
	}
}
