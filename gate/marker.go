package gate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"
)

// Mark returns a pre-login marker: proof, signed with the first key, that
// the gateway saw the app issue the app session with binding key bind to
// this browser before any login, valid until expires. An unreleased app
// cookie may accompany a login attempt only with a marker for its value.
func (c *Codec) Mark(bind [32]byte, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(markMAC(c.markKeys[0], exp, bind))
}

// CheckMark reports whether v is a live marker for the app session with
// binding key bind, made with any configured key.
func (c *Codec) CheckMark(v string, bind [32]byte) bool {
	exp, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 128 {
		return false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !c.now().Before(time.Unix(unix, 0)) {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	for _, k := range c.markKeys {
		if hmac.Equal(got, markMAC(k, exp, bind)) {
			return true
		}
	}
	return false
}

func markMAC(key []byte, exp string, bind [32]byte) []byte {
	m := hmac.New(sha256.New, key)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(exp)))
	m.Write(n[:])
	m.Write([]byte(exp))
	m.Write(bind[:])
	return m.Sum(nil)[:16]
}
