package server

import (
	"errors"
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
	// passkeys is the gateway's one relying party (nil: passkeys off).
	passkeys *passkey.RP
	loginURL string
	origin   string
	brand    challenge.Brand
}

// accountPage builds the security page (<prefix>account).
func accountPage(cfg *config.Config, d Deps, p accountParts) (*account.Handler, error) {
	var texter account.Texter
	if p.sms {
		texter = p.ch
	}
	var registrar account.Registrar
	if p.passkeys != nil {
		registrar = p.passkeys
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

// prefixPages routes the gate prefix: the security page (<prefix>account)
// to its handler, everything else to the challenge pages.
func prefixPages(prefix string, ch *challenge.Handler, acct *account.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(prefix+"account", acct)
	mux.Handle(prefix+"account/", acct)
	mux.Handle("/", ch)
	return mux
}

// isPasskeyRefusal tells a passkey the browser got wrong from one the
// gateway could not check.
func isPasskeyRefusal(err error) bool { return errors.Is(err, passkey.ErrRefused) }
