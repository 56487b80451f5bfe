package factor

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"image/png"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
)

// TOTP holds the RFC 6238 parameters. Only SHA-1 is used: it is what every
// authenticator app supports.
type TOTP struct {
	Digits int
	Period time.Duration
	// Skew is how many steps before and after the current one are accepted.
	Skew int
}

// DefaultTOTP is 6 digits, 30 s steps, one step of skew either way.
func DefaultTOTP() TOTP { return TOTP{Digits: 6, Period: 30 * time.Second, Skew: 1} }

// Step is the time step of at.
func (t TOTP) Step(at time.Time) int64 {
	return at.Unix() / int64(t.Period/time.Second)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func decodeSecret(secret string) ([]byte, error) {
	s := strings.ToUpper(strings.TrimRight(strings.ReplaceAll(secret, " ", ""), "="))
	key, err := b32.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("totp secret is not base32")
	}
	return key, nil
}

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// code computes the RFC 4226 code of key for counter.
func (t TOTP) code(key []byte, counter int64) []byte {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	v %= pow10[t.Digits]
	out := make([]byte, t.Digits)
	for i := t.Digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return out
}

// Code returns the code of secret (base32) for a time step.
func (t TOTP) Code(secret string, step int64) (string, error) {
	if t.Digits < 6 || t.Digits > 9 {
		return "", fmt.Errorf("totp digits %d out of range 6..9", t.Digits)
	}
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return string(t.code(key, step)), nil
}

// Verify checks code against the steps around at, newest first, comparing in
// constant time, and returns the step it matched. Wrong lengths and
// non-digits are refused before any HMAC is computed. Callers must record
// the step as used (and refuse steps at or before the last used one) to stop
// replays.
func (t TOTP) Verify(secret, code string, at time.Time) (step int64, ok bool) {
	if t.Digits < 6 || t.Digits > 9 || len(code) != t.Digits {
		return 0, false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, false
		}
	}
	key, err := decodeSecret(secret)
	if err != nil || len(key) == 0 {
		return 0, false
	}
	now := t.Step(at)
	matched := int64(-1)
	// Every candidate step is computed and compared, so the time taken
	// does not tell which step (if any) matched.
	for s := now + int64(t.Skew); s >= now-int64(t.Skew); s-- {
		if subtle.ConstantTimeCompare(t.code(key, s), []byte(code)) == 1 && matched < 0 {
			matched = s
		}
	}
	if matched < 0 {
		return 0, false
	}
	return matched, true
}

// NewTOTPSecret returns a fresh 160-bit secret, base32 without padding.
func NewTOTPSecret(random io.Reader) (string, error) {
	b := make([]byte, 20)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("making totp secret: %w", err)
	}
	return b32.EncodeToString(b), nil
}

// KeyURI is the otpauth:// URI authenticator apps read from the QR code.
func KeyURI(issuer, account, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	u := url.URL{
		Scheme:   "otpauth",
		Host:     "totp",
		Path:     "/" + issuer + ":" + account,
		RawQuery: v.Encode(),
	}
	return u.String()
}

// QRCodePNG renders uri as a size×size PNG QR code.
func QRCodePNG(uri string, size int) ([]byte, error) {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, fmt.Errorf("parsing key uri: %w", err)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("making qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encoding qr code: %w", err)
	}
	return buf.Bytes(), nil
}

// GroupKey shows a base32 key in groups of four, for typing by hand.
func GroupKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}
