package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/vestibule-gw/vestibule/account"
	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/clientip"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/passkey"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/templates"
)

// accountParts are the gateway's parts the security page uses.
type accountParts struct {
	durable   *boundedDurable
	ephemeral store.Ephemeral
	issuer    *gate.Issuer
	sealer    *seal.Sealer
	ch        *challenge.Handler
	sms       bool // text messages are on: ch sends the phone change's code
	notifier  *notify.Notifier
	ips       *clientip.Resolver
	gateKeys  [][]byte
	loginURL  string
	origin    string
	brand     challenge.Brand
}

// accountPage builds the security page (<prefix>account).
func accountPage(cfg *config.Config, d Deps, p accountParts) (*account.Handler, error) {
	var texter account.Texter
	if p.sms {
		texter = p.ch
	}
	rp, err := passkeys(cfg, p.gateKeys, d)
	if err != nil {
		return nil, err
	}
	var registrar account.Registrar
	if rp != nil {
		registrar = rp
	}
	var notifier account.Notifier
	if p.notifier != nil {
		notifier = p.notifier
	}
	acct, err := account.New(account.Options{
		Prefix: cfg.Prefix, AppName: cfg.AppName, LoginURL: p.loginURL, Origin: p.origin, Secure: cfg.Secure(), Keys: p.gateKeys,
		Claims: cookieguard.VerifiedClaims, Store: p.durable, Sessions: p.ephemeral, Counters: p.ephemeral, Cookies: p.issuer,
		Sealer: p.sealer, Notifier: notifier, Texter: texter, Passkeys: registrar, Refused: isPasskeyRefusal,
		ReauthMaxAge: cfg.Account.ReauthMaxAge, SessionMaxAge: cfg.Gate.MaxAge, TOTPForbidden: cfg.Factors.TOTP == "forbidden",
		DefaultRegion: cfg.SMS.DefaultRegion, CodeTTL: cfg.SMS.CodeTTL, CodeAttempts: cfg.SMS.MaxAttempts, DeviceMaxAge: cfg.RememberDevice.MaxAge,
		Templates: templates.FS, Now: d.Now, Random: d.Random, Logger: d.Logger, ClientIP: p.ips.ClientIP,
	})
	if err != nil {
		return nil, err
	}
	acct.SetBrand(p.brand.Accent != "", len(p.brand.Logo) > 0)
	return acct, nil
}

// gatePages routes the gate prefix: the security page (<prefix>account)
// to its handler, everything else to the challenge pages.
func gatePages(prefix string, ch *challenge.Handler, acct *account.Handler) http.Handler {
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
