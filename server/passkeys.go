package server

import (
	"fmt"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/passkey"
)

// passkeyRP is the gateway's one WebAuthn relying party (the gate pages'
// sign-in, enrollment and step-up, and the security page's "add a
// passkey"), or nil when passkeys are off (factors.webauthn: forbidden, or
// a public_url browsers can't use them at, logged). Its key is derived from
// the first gate key, as the invitation keys are: the same key on every
// replica, and stable while gate.keys keeps its first key. A new first key
// makes ceremonies in flight fail and gives users who have no passkey yet
// new user handles (passkeys keep the handle they were made with).
func passkeyRP(cfg *config.Config, gateKeys [][]byte, d Deps) (*passkey.RP, error) {
	if !cfg.PasskeysOn() {
		if cfg.Factors.WebAuthn != "forbidden" {
			d.Logger.Warn("passkeys off: browsers allow them only on https with a host name (or http://localhost), not at public_url",
				"event", "passkeys_off", "public_url", cfg.PublicURL)
		}
		return nil, nil
	}
	pc := cfg.Passkey()
	pc.Now, pc.Random = d.Now, d.Random
	key, _ := gate.DeriveKeys(gateKeys[0], "passkey")
	rp, err := passkey.New(pc, key)
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return rp, nil
}
