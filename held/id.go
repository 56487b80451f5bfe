package held

import (
	"encoding/base64"
	"fmt"
	"io"
)

// NewID makes a held login's id: 144 random bits, URL-safe.
func NewID(random io.Reader) (string, error) {
	var b [18]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("making held login id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
