package factor

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"strings"
)

// codeAlphabet is Crockford's base32: 32 symbols, so a byte's low 5 bits
// pick one uniformly. Input maps the look-alikes o to 0 and i, l to 1.
const codeAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// RecoveryLen is the number of symbols in a recovery code (80 bits).
const RecoveryLen = 16

// NewRecoveryCodes returns n recovery codes shown as xxxx-xxxx-xxxx-xxxx.
func NewRecoveryCodes(random io.Reader, n int) ([]string, error) {
	codes := make([]string, n)
	buf := make([]byte, RecoveryLen)
	for i := range codes {
		if _, err := io.ReadFull(random, buf); err != nil {
			return nil, fmt.Errorf("making recovery codes: %w", err)
		}
		var b strings.Builder
		for j, c := range buf {
			if j > 0 && j%4 == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(codeAlphabet[c&31])
		}
		codes[i] = b.String()
	}
	return codes, nil
}

// NormalizeRecoveryCode lower-cases, drops spaces and dashes, and reports
// whether what is left is exactly RecoveryLen alphabet symbols.
func NormalizeRecoveryCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r == 'o':
			b.WriteByte('0')
		case r == 'i' || r == 'l':
			b.WriteByte('1')
		case r < 128 && strings.IndexByte(codeAlphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != RecoveryLen {
		return "", false
	}
	return b.String(), true
}

// HashRecoveryCode is the stored form of a normalised recovery code. A fast
// hash is enough: the codes carry 80 random bits, far beyond brute force.
func HashRecoveryCode(normalized string) []byte {
	sum := sha256.Sum256([]byte("vestibule-recovery:" + normalized))
	return sum[:]
}

// NumericCode returns a uniform random code of digits decimal digits
// (4..10), by rejection sampling so no value is more likely than another.
func NumericCode(random io.Reader, digits int) (string, error) {
	if digits < 4 || digits > 10 {
		return "", fmt.Errorf("code digits %d out of range 4..10", digits)
	}
	limit := uint64(1)
	for range digits {
		limit *= 10
	}
	// Largest multiple of limit below 2^40; values at or above it are
	// rejected so that v % limit is uniform.
	const space = uint64(1) << 40
	max := space - space%limit
	var b [5]byte
	for {
		if _, err := io.ReadFull(random, b[:]); err != nil {
			return "", fmt.Errorf("making code: %w", err)
		}
		v := uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
		if v >= max {
			continue
		}
		return fmt.Sprintf("%0*d", digits, v%limit), nil
	}
}

// EqualCode compares two codes in constant time (for equal lengths; a
// length difference returns early, and code lengths are public).
func EqualCode(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Digits keeps the digits of a code as typed (spaces, dashes and the like
// dropped).
func Digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
