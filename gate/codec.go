package gate

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
)

// ErrInvalid is returned for any gate cookie that does not decode, verify or
// is expired. Callers treat every such cookie as absent; the cause is not
// distinguished on purpose.
var ErrInvalid = errors.New("invalid gate cookie")

// maxCookieLen bounds what Decode will look at before any crypto.
const maxCookieLen = 1024

// Codec signs, encrypts and decodes gate cookies with rotatable keys.
type Codec struct {
	name   string
	codecs []securecookie.Codec
	// markKeys sign pre-login markers (see Mark), one per configured key.
	markKeys [][]byte
	now      func() time.Time
	cache    *verified
}

// verified remembers cookie values that already passed securecookie's
// MAC check and decryption, so a browser's repeat requests skip the crypto:
// the hot path becomes one map lookup. Only values that verified are ever
// inserted, keyed by the whole value (MAC included); expiry, binding and
// revocation are still checked on every request. Bounded: when full it is
// cleared, and the next requests simply verify again.
type verified struct {
	mu  sync.RWMutex
	m   map[string]Claims
	max int
}

// cacheSize bounds the verified-value cache (about 0.5 KB an entry).
const cacheSize = 16384

func (v *verified) get(value string) (Claims, bool) {
	v.mu.RLock()
	cl, ok := v.m[value]
	v.mu.RUnlock()
	return cl, ok
}

func (v *verified) put(value string, cl Claims) {
	v.mu.Lock()
	if len(v.m) >= v.max {
		clear(v.m)
	}
	// value may be a slice of a whole Cookie header: keep only itself.
	v.m[strings.Clone(value)] = cl
	v.mu.Unlock()
}

// NewCodec returns a Codec for the cookie called name. Each key (at least 32
// bytes) yields a signing and an encryption key; the first key encodes, all
// decode, so an old key stays in the list while cookies made with it live.
// now is the clock expiry is checked against (nil: time.Now).
func NewCodec(name string, keys [][]byte, now func() time.Time) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("gate: no cookie keys")
	}
	if now == nil {
		now = time.Now
	}
	c := &Codec{name: name, now: now, cache: &verified{m: map[string]Claims{}, max: cacheSize}}
	for i, k := range keys {
		if len(k) < 32 {
			return nil, fmt.Errorf("gate: key %d is %d bytes, want at least 32", i, len(k))
		}
		hashKey, blockKey := DeriveKeys(k, "gate")
		sc := securecookie.New(hashKey, blockKey)
		markKey, _ := DeriveKeys(k, "prelogin")
		c.markKeys = append(c.markKeys, markKey)
		// Expiry is carried in Claims and checked against the injected
		// clock; securecookie's own clock check is disabled.
		sc.MaxAge(0)
		sc.MaxLength(maxCookieLen)
		sc.SetSerializer(serializer{})
		c.codecs = append(c.codecs, sc)
	}
	return c, nil
}

// DeriveKeys derives a 32-byte HMAC key and a 32-byte AES-256 key from one
// configured secret, separated by purpose so that the same configured key
// can serve several cookies without their codecs being interchangeable.
func DeriveKeys(secret []byte, purpose string) (hashKey, blockKey []byte) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("vestibule/" + purpose + "/hmac"))
	hashKey = m.Sum(nil)
	m = hmac.New(sha256.New, secret)
	m.Write([]byte("vestibule/" + purpose + "/aes"))
	blockKey = m.Sum(nil)
	return hashKey, blockKey
}

// Name is the cookie's name.
func (c *Codec) Name() string { return c.name }

// Encode returns the cookie value for cl, made with the first key.
func (c *Codec) Encode(cl Claims) (string, error) {
	v, err := c.codecs[0].Encode(c.name, &cl)
	if err != nil {
		return "", fmt.Errorf("encoding gate cookie: %w", err)
	}
	return v, nil
}

// Decode verifies and decrypts a cookie value and checks its expiry against
// the clock. Any failure is ErrInvalid.
func (c *Codec) Decode(value string) (Claims, error) {
	if value == "" || len(value) > maxCookieLen {
		return Claims{}, ErrInvalid
	}
	cl, ok := c.cache.get(value)
	if !ok {
		var err error
		if cl, err = c.decode(value); err != nil {
			return Claims{}, ErrInvalid
		}
		c.cache.put(value, cl)
	}
	if !c.now().Before(cl.Expires) {
		return Claims{}, ErrInvalid
	}
	return cl, nil
}

// decode runs securecookie with each key in turn.
func (c *Codec) decode(value string) (Claims, error) {
	cl := new(Claims)
	var err error
	for _, sc := range c.codecs {
		if err = sc.Decode(c.name, value, cl); err == nil {
			return *cl, nil
		}
	}
	return Claims{}, err
}
