package passkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"
)

// The two ceremonies a session is for.
const (
	ceremonyCreate = "create"
	ceremonyGet    = "get"
)

// session is what a ceremony's Finish needs of its Begin. It travels as
// JSON followed by an HMAC under the session key, so a session the caller
// kept can't be altered (to another challenge, user or credential list)
// without Finish refusing it. It is not secret, and not single use by
// itself: the caller keeps it server-side and takes it once.
type session struct {
	Ceremony  string   `json:"c"`
	User      string   `json:"u"`
	Handle    []byte   `json:"h"`
	Challenge string   `json:"ch"`
	Expires   int64    `json:"e"`           // unix milliseconds
	Creds     [][]byte `json:"k,omitempty"` // allowed (get) or excluded (create)
	UV        string   `json:"uv"`
	Algs      []int64  `json:"a,omitempty"` // create: the algorithms offered
}

func (rp *RP) sealSession(s session) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding the passkey session: %w", err)
	}
	return append(b, mac(rp.sessionKey, b)...), nil
}

// openSession checks the session's MAC, ceremony, user and expiry.
func (rp *RP) openSession(raw []byte, ceremony, userName string) (session, error) {
	var s session
	if len(raw) <= sha256.Size {
		return s, fmt.Errorf("%w: session unreadable", ErrChallenge)
	}
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if !hmac.Equal(sum, mac(rp.sessionKey, body)) {
		return s, fmt.Errorf("%w: session not authentic", ErrChallenge)
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, fmt.Errorf("%w: session unreadable", ErrChallenge)
	}
	if s.Ceremony != ceremony {
		return s, fmt.Errorf("%w: session is for the other ceremony", ErrChallenge)
	}
	if s.User != userName {
		return s, fmt.Errorf("%w: session is another user's", ErrChallenge)
	}
	if !rp.now().Before(time.UnixMilli(s.Expires)) {
		return s, ErrExpired
	}
	return s, nil
}

// library is the library's session data for s.
func (rp *RP) library(s session) webauthn.SessionData {
	d := webauthn.SessionData{
		Challenge:        s.Challenge,
		RelyingPartyID:   rp.rpID,
		UserID:           s.Handle,
		UserVerification: protocol.UserVerificationRequirement(s.UV),
	}
	if s.Ceremony == ceremonyGet {
		d.AllowedCredentialIDs = s.Creds
	}
	for _, a := range s.Algs {
		d.CredParams = append(d.CredParams, protocol.CredentialParameter{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.COSEAlgorithmIdentifier(a)})
	}
	return d
}

// challenge returns 32 fresh random bytes.
func (rp *RP) challenge() (protocol.URLEncodedBase64, error) {
	c := make([]byte, 32)
	if _, err := io.ReadFull(rp.random, c); err != nil {
		return nil, fmt.Errorf("passkey challenge: %w", err)
	}
	return c, nil
}

func (rp *RP) newSession(ceremony, userName string, handle []byte, challenge string, creds [][]byte, uv protocol.UserVerificationRequirement) session {
	return session{
		Ceremony:  ceremony,
		User:      userName,
		Handle:    handle,
		Challenge: challenge,
		Expires:   rp.now().Add(rp.timeout).UnixMilli(),
		Creds:     creds,
		UV:        string(uv),
	}
}
