package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// decodeKey accepts standard or URL base64, padded or not.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// GateKeys decodes gate.keys; the first signs, all verify.
func (c *Config) GateKeys() ([][]byte, error) {
	return decodeKeys("gate.keys", c.Gate.Keys)
}

// EncryptionKeys decodes secrets.encryption_keys; the first seals, all open.
func (c *Config) EncryptionKeys() ([][]byte, error) {
	return decodeKeys("secrets.encryption_keys", c.Secrets.EncryptionKeys)
}

func decodeKeys(key string, ks []string) ([][]byte, error) {
	if len(ks) == 0 {
		return nil, fmt.Errorf("%s: no keys set", key)
	}
	out := make([][]byte, len(ks))
	for i, k := range ks {
		b, err := decodeKey(k)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: not base64 (value hidden)", key, i)
		}
		out[i] = b
	}
	return out, nil
}

// Secure reports whether browsers reach the gateway over TLS, so cookies
// must be Secure.
func (c *Config) Secure() bool {
	return strings.HasPrefix(strings.ToLower(c.PublicURL), "https://")
}
