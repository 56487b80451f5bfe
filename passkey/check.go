package passkey

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
)

// check makes the checks both ceremonies share, each with its own
// refusal, before the library verifies the whole response: the ceremony
// and challenge, the origin, the relying party id hash, user verification.
func (rp *RP) check(s session, cd protocol.CollectedClientData, ceremony protocol.CeremonyType, ad protocol.AuthenticatorData) error {
	if cd.Type != ceremony {
		return fmt.Errorf("%w: response is for the other ceremony", ErrChallenge)
	}
	if subtle.ConstantTimeCompare([]byte(cd.Challenge), []byte(s.Challenge)) != 1 {
		return ErrChallenge
	}
	if !protocol.IsOriginInHaystack(cd.Origin, rp.origins) {
		return fmt.Errorf("%w: %.100q", ErrOrigin, cd.Origin)
	}
	if cd.CrossOrigin || cd.TopOrigin != "" {
		return fmt.Errorf("%w: made in a cross-origin frame", ErrOrigin)
	}
	want := sha256.Sum256([]byte(rp.rpID))
	if subtle.ConstantTimeCompare(ad.RPIDHash, want[:]) != 1 {
		return ErrRelyingParty
	}
	if !ad.Flags.HasUserPresent() {
		return fmt.Errorf("%w: user presence flag not set", ErrInvalid)
	}
	if s.UV == string(protocol.VerificationRequired) && !ad.Flags.HasUserVerified() {
		return ErrUserVerification
	}
	return nil
}
