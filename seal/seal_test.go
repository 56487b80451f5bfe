package seal

import (
	"bytes"
	"strings"
	"testing"
)

func k(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestRoundTripAndBinding(t *testing.T) {
	s, err := New([][]byte{k(1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("JBSWY3DP")) {
		t.Fatal("plaintext visible in sealed value")
	}
	pt, err := s.Open(sealed, []byte("alice"))
	if err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	cases := map[string]struct {
		v   []byte
		aad string
	}{
		"other owner": {sealed, "bob"},
		"tampered":    {tampered, "alice"},
		"truncated":   {sealed[:10], "alice"},
		"empty":       {nil, "alice"},
		"bad version": {append([]byte{9}, sealed[1:]...), "alice"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Open(tc.v, []byte(tc.aad)); err != ErrOpen {
				t.Fatalf("Open = %v, want ErrOpen", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	old, _ := New([][]byte{k(1)}, nil)
	sealed, _ := old.Seal([]byte("secret"), []byte("u"))
	rotated, _ := New([][]byte{k(2), k(1)}, nil)
	if pt, err := rotated.Open(sealed, []byte("u")); err != nil || string(pt) != "secret" {
		t.Fatalf("old key no longer opens after rotation: %v", err)
	}
	fresh, _ := rotated.Seal([]byte("secret"), []byte("u"))
	if _, err := old.Open(fresh, []byte("u")); err != ErrOpen {
		t.Fatal("new values are not sealed with the first key")
	}
	retired, _ := New([][]byte{k(2)}, nil)
	if _, err := retired.Open(sealed, []byte("u")); err != ErrOpen {
		t.Fatal("a retired key still opens")
	}
}

func TestNoncesDiffer(t *testing.T) {
	s, _ := New([][]byte{k(1)}, nil)
	a, _ := s.Seal([]byte("x"), nil)
	b, _ := s.Seal([]byte("x"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same value are equal")
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	cases := map[string]struct {
		keys [][]byte
		want string
	}{
		"none":      {nil, "no encryption key"},
		"short":     {[][]byte{k(1), make([]byte, 16)}, "key 1 is 16 bytes"},
		"long":      {[][]byte{make([]byte, 33)}, "key 0 is 33 bytes"},
		"duplicate": {[][]byte{k(1), k(1)}, "key 1 repeats"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.keys, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	a, _ := New([][]byte{k(1), k(2)}, nil)
	b, _ := New([][]byte{k(1)}, nil)
	c, _ := New([][]byte{k(2), k(1)}, nil)
	if !bytes.Equal(a.Derive("sms-code"), b.Derive("sms-code")) {
		t.Error("derived key depends on keys other than the first")
	}
	if bytes.Equal(a.Derive("sms-code"), c.Derive("sms-code")) {
		t.Error("derived key does not follow the first key")
	}
	if bytes.Equal(a.Derive("sms-code"), a.Derive("sms-phone")) || len(a.Derive("x")) != 32 {
		t.Error("purposes share a key, or the key is not 32 bytes")
	}
	if all := c.DeriveAll("sms-code"); len(all) != 2 || !bytes.Equal(all[0], c.Derive("sms-code")) || !bytes.Equal(all[1], a.Derive("sms-code")) {
		t.Error("DeriveAll: not every key's, or not the first key's first")
	}
	if bytes.Contains(a.Derive("x"), k(1)[:8]) {
		t.Error("derived key shows the key")
	}
}
