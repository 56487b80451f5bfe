package server

import (
	"fmt"
	"net/http"

	"github.com/vestibule-gw/vestibule/account"
	"github.com/vestibule-gw/vestibule/challenge"
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
