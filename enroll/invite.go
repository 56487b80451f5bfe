package enroll

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
)

// Invitation errors.
var (
	ErrInvalid = errors.New("enroll: invitation invalid")
	ErrExpired = errors.New("enroll: invitation expired")
	ErrUsed    = errors.New("enroll: invitation already used")
)

// tokenName binds invitation tokens to their purpose in the MAC.
const tokenName = "vestibule-invite"

// maxTokenLen bounds what Read looks at before any crypto.
const maxTokenLen = 1024

// Invite is one invitation: a user name, when it ends, and a nonce that
// makes it single use.
type Invite struct {
	User    string `json:"u"`
	Nonce   string `json:"n"`
	Expires int64  `json:"e"` // unix seconds
}

// ExpiresAt is when the invitation stops working.
func (i Invite) ExpiresAt() time.Time { return time.Unix(i.Expires, 0).UTC() }

// Invites makes and reads invitation tokens: signed and encrypted with keys
// derived from the gate keys (the first signs, all verify), with the expiry
// inside, checked against the caller's clock. Used, when set, records
// claimed invitations so each works once.
type Invites struct {
	codecs []securecookie.Codec
	// Used records claimed invitations (the ephemeral store). Nil: Claim
	// fails (the command line only issues).
	Used store.Counters
	// Random makes nonces (nil: crypto/rand).
	Random io.Reader
}

// NewInvites returns Invites for the gate keys (each at least 32 bytes).
func NewInvites(keys [][]byte, used store.Counters) (*Invites, error) {
	if len(keys) == 0 {
		return nil, errors.New("enroll: no keys")
	}
	iv := &Invites{Used: used}
	for i, k := range keys {
		if len(k) < 32 {
			return nil, fmt.Errorf("enroll: key %d is %d bytes, want at least 32", i, len(k))
		}
		hk, bk := gate.DeriveKeys(k, "invite")
		sc := securecookie.New(hk, bk)
		sc.SetSerializer(securecookie.JSONEncoder{})
		sc.MaxAge(0) // the expiry is ours, checked against an injected clock
		sc.MaxLength(maxTokenLen)
		iv.codecs = append(iv.codecs, sc)
	}
	return iv, nil
}

// Issue makes an invitation for user, valid for ttl from now, and its token.
func (iv *Invites) Issue(user string, now time.Time, ttl time.Duration) (string, Invite, error) {
	r := iv.Random
	if r == nil {
		r = rand.Reader
	}
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", Invite{}, fmt.Errorf("making invitation nonce: %w", err)
	}
	inv := Invite{User: user, Nonce: hex.EncodeToString(b[:]), Expires: now.Add(ttl).Unix()}
	tok, err := iv.codecs[0].Encode(tokenName, &inv)
	if err != nil {
		return "", Invite{}, fmt.Errorf("encoding invitation: %w", err)
	}
	return tok, inv, nil
}

// Read verifies a token and checks its expiry at now: ErrInvalid or
// ErrExpired. It does not say whether the invitation was used.
func (iv *Invites) Read(token string, now time.Time) (Invite, error) {
	if iv == nil || token == "" || len(token) > maxTokenLen {
		return Invite{}, ErrInvalid
	}
	var inv Invite
	if err := securecookie.DecodeMulti(tokenName, token, &inv, iv.codecs...); err != nil || inv.User == "" || len(inv.Nonce) != 32 {
		return Invite{}, ErrInvalid
	}
	if now.Unix() >= inv.Expires {
		return inv, ErrExpired
	}
	return inv, nil
}

func usedKey(inv Invite) string { return "invite-used:" + inv.Nonce }

// Claim marks the invitation used, atomically: of several claims exactly
// one succeeds; the others, and any later one, get ErrUsed. Claim before
// storing the enrollment it allows: a failure after the claim costs a new
// invitation, never a second use.
func (iv *Invites) Claim(ctx context.Context, inv Invite, now time.Time) error {
	if iv == nil || iv.Used == nil {
		return errors.New("enroll: no store for used invitations")
	}
	until := inv.ExpiresAt().Add(time.Hour)
	n, err := iv.Used.Hit(ctx, usedKey(inv), now, until.Sub(now))
	if err != nil {
		return fmt.Errorf("claiming invitation: %w", err)
	}
	if n > 1 {
		return ErrUsed
	}
	// A marker Used can read without counting.
	if err := iv.Used.Ban(ctx, usedKey(inv), until); err != nil {
		return fmt.Errorf("claiming invitation: %w", err)
	}
	return nil
}

// IsUsed reports whether the invitation was claimed already.
func (iv *Invites) IsUsed(ctx context.Context, inv Invite, now time.Time) (bool, error) {
	if iv == nil || iv.Used == nil {
		return false, nil
	}
	_, used, err := iv.Used.BannedUntil(ctx, usedKey(inv), now)
	return used, err
}
