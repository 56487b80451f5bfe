package gate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Claims is what a gate cookie asserts.
type Claims struct {
	// User is the identity that passed the second factor.
	User string
	// Bind is the binding key of the app session the cookie was released
	// with (see Binding); the cookie is worthless with any other session.
	Bind [32]byte
	// Issued is when the cookie was made; a revocation of the app session
	// at or after Issued invalidates it.
	Issued time.Time
	// Expires ends the gate session whatever the cookie's own Max-Age.
	Expires time.Time
	// Verified is when the second factor last passed (for step-up).
	Verified time.Time
}

const (
	claimsVersion = 1
	fixedLen      = 1 + 8 + 8 + 8 + 32 // version, three times, bind
	maxUserLen    = 1024
)

var errClaims = errors.New("malformed gate claims")

// serializer implements securecookie.Serializer for *Claims with a compact
// fixed layout: no reflection, two allocations at most.
type serializer struct{}

func (serializer) Serialize(src interface{}) ([]byte, error) {
	c, ok := src.(*Claims)
	if !ok {
		return nil, fmt.Errorf("gate: cannot serialize %T", src)
	}
	if len(c.User) > maxUserLen {
		return nil, fmt.Errorf("gate: user name longer than %d bytes", maxUserLen)
	}
	b := make([]byte, 0, fixedLen+binary.MaxVarintLen64+len(c.User))
	b = append(b, claimsVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Issued.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Verified.UnixNano()))
	b = append(b, c.Bind[:]...)
	b = binary.AppendUvarint(b, uint64(len(c.User)))
	b = append(b, c.User...)
	return b, nil
}

func (serializer) Deserialize(src []byte, dst interface{}) error {
	c, ok := dst.(*Claims)
	if !ok {
		return fmt.Errorf("gate: cannot deserialize into %T", dst)
	}
	if len(src) < fixedLen || src[0] != claimsVersion {
		return errClaims
	}
	c.Issued = time.Unix(0, int64(binary.BigEndian.Uint64(src[1:9])))
	c.Expires = time.Unix(0, int64(binary.BigEndian.Uint64(src[9:17])))
	c.Verified = time.Unix(0, int64(binary.BigEndian.Uint64(src[17:25])))
	copy(c.Bind[:], src[25:57])
	n, k := binary.Uvarint(src[fixedLen:])
	// Only the minimal varint is accepted, so a cookie has one encoding.
	if k <= 0 || n > maxUserLen || k != uvarintLen(n) || uint64(len(src)-fixedLen-k) != n {
		return errClaims
	}
	c.User = string(src[fixedLen+k:])
	return nil
}

// uvarintLen is the length of the minimal uvarint encoding of n.
func uvarintLen(n uint64) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}
