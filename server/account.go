package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/vestibule-gw/vestibule/account"
	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/passkey"
	"github.com/vestibule-gw/vestibule/store"
)

// accountStore is the durable store as the security page uses it: when the
// store keeps passkeys, sign-ins and single device revocations.
func accountStore(d store.Durable) (account.Store, error) {
	st, ok := d.(account.Store)
	if !ok {
		return nil, fmt.Errorf("the durable store %T keeps no passkeys, sign-ins or device revocations for the security page", d)
	}
	return st, nil
}

// gatePages routes the gate prefix: the security page (<prefix>account)
// to its handler, everything else to the challenge pages. Without the
// security page (acct nil) the challenge pages answer alone.
func gatePages(prefix string, ch *challenge.Handler, acct *account.Handler) http.Handler {
	if acct == nil {
		return ch
	}
	mux := http.NewServeMux()
	mux.Handle(prefix+"account", acct)
	mux.Handle(prefix+"account/", acct)
	mux.Handle("/", ch)
	return mux
}

// passkeys is the WebAuthn relying party of the gateway's public URL, for
// adding passkeys on the security page. Its key is derived from the first
// gate key, so every replica makes the same user handles and reads the
// others' ceremony sessions. Passkeys need https (or http://localhost) and
// a host name: with a public URL that can't have them, they are off (nil)
// and the reason is logged.
func passkeys(cfg *config.Config, gateKeys [][]byte, d Deps) (*passkey.RP, error) {
	pc := passkey.Config{PublicURL: cfg.PublicURL, RPName: cfg.AppName, Now: d.Now, Random: d.Random}
	if err := pc.Validate(); err != nil {
		d.Logger.Info("passkeys are off: the public URL can't have them", "event", "passkeys_off", "err", err)
		return nil, nil
	}
	key, _ := gate.DeriveKeys(gateKeys[0], "passkey")
	rp, err := passkey.New(pc, key)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return rp, nil
}

// isPasskeyRefusal tells a passkey the browser got wrong from one the
// gateway could not check.
func isPasskeyRefusal(err error) bool { return errors.Is(err, passkey.ErrRefused) }
