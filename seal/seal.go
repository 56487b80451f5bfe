package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrOpen is returned for any sealed value that does not open: unknown key,
// tampering, wrong owner. The cause is not told apart on purpose.
var ErrOpen = errors.New("sealed value does not open")

const (
	version   = 1
	idLen     = 4
	nonceLen  = 12
	headerLen = 1 + idLen + nonceLen
)

type key struct {
	id   uint32
	aead cipher.AEAD
}

// Sealer seals and opens secrets.
type Sealer struct {
	keys   []key
	random io.Reader
	// derive are the roots of Derive's keys, one per key, the first
	// (sealing) key's first.
	derive [][]byte
}

// New returns a Sealer. Each key must be 32 bytes; the first seals. random
// is the nonce source (nil: crypto/rand).
func New(keys [][]byte, random io.Reader) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption key")
	}
	if random == nil {
		random = rand.Reader
	}
	s := &Sealer{random: random}
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte("vestibule-seal-derive-v1"))
		s.derive = append(s.derive, m.Sum(nil))
	}
	seen := map[uint32]bool{}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("encryption key %d is %d bytes, want 32", i, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("encryption key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("encryption key %d: %w", i, err)
		}
		sum := sha256.Sum256(k)
		id := binary.BigEndian.Uint32(sum[:idLen])
		if seen[id] {
			return nil, fmt.Errorf("encryption key %d repeats an earlier key", i)
		}
		seen[id] = true
		s.keys = append(s.keys, key{id: id, aead: aead})
	}
	return s, nil
}

// Seal encrypts plaintext bound to aad (the owner).
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	k := s.keys[0]
	out := make([]byte, headerLen, headerLen+len(plaintext)+k.aead.Overhead())
	out[0] = version
	binary.BigEndian.PutUint32(out[1:], k.id)
	if _, err := io.ReadFull(s.random, out[1+idLen:headerLen]); err != nil {
		return nil, fmt.Errorf("making nonce: %w", err)
	}
	return k.aead.Seal(out, out[1+idLen:headerLen], plaintext, aad), nil
}

// Open decrypts a sealed value bound to aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < headerLen || sealed[0] != version {
		return nil, ErrOpen
	}
	id := binary.BigEndian.Uint32(sealed[1:])
	for _, k := range s.keys {
		if k.id != id {
			continue
		}
		pt, err := k.aead.Open(nil, sealed[1+idLen:headerLen], sealed[headerLen:], aad)
		if err != nil {
			return nil, ErrOpen
		}
		return pt, nil
	}
	return nil, ErrOpen
}

// Derive returns a 32-byte key for purpose (a fixed name such as
// "sms-code"), derived from the first key with HMAC-SHA-256: a server key
// for MACs that are never stored beside their key. Different purposes get
// independent keys. Derived keys follow the first key; DeriveAll gives the
// older keys' too, for MACs that must still check after a rotation.
func (s *Sealer) Derive(purpose string) []byte { return derive(s.derive[0], purpose) }

// DeriveAll returns Derive's key for purpose under every configured key,
// the first key's first.
func (s *Sealer) DeriveAll(purpose string) [][]byte {
	out := make([][]byte, len(s.derive))
	for i, root := range s.derive {
		out[i] = derive(root, purpose)
	}
	return out
}

func derive(root []byte, purpose string) []byte {
	m := hmac.New(sha256.New, root)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
