package parseguard

import (
	"errors"
	"strings"
)

// facts are what the guard read from a request to one of its paths before
// deciding: every input of decide that comes from the request (or from the
// work it asked for: reading the body, looking its tokens up). ServeHTTP
// gathers them in decide's order and stops at the first that refuses the
// request (the body of a path it refuses is not read, nor the tokens of a
// body it refuses looked up); decide only reads them.
type facts struct {
	// dotted: the path has dot segments; where and route: where the path
	// leads (route: the part below the mount).
	dotted bool
	where  where
	route  string
	// upgrade: the request asks to switch protocols.
	upgrade bool
	// readErr: the request could not be read (errBodyTooLarge,
	// errEncoding, or not JSON or form data Parse reads the same way).
	readErr error
	// master: it offers a master or maintenance key; masterAllowed: from
	// a client in master_key_from.
	master, masterAllowed bool
	// token: what the registry said of the session tokens it carries;
	// signedIn: it carries one, released.
	token    tokenCheck
	signedIn bool
	// kind: what its route is (classify, batchKind, graphQLKind).
	kind kind
}

// tokenCheck is what the registry said of a request's session tokens.
type tokenCheck uint8

const (
	tokensReleased    tokenCheck = iota // none, or all released to one user
	tokensUnavailable                   // the registry could not say
	tokenRefused                        // one was not released
	tokensMismatch                      // released to different users
)

// rules are the configuration decide applies.
type rules struct {
	allowLoginAs, allowVerifyPassword bool
}

// action is what ServeHTTP does with a request.
type action uint8

const (
	// forward the request to Parse, as the rest of the decision says.
	forwardIt action = iota
	refuseDotted
	notParse // not the guard's path (the router screens these)
	refuseUpgrade
	refuseTooLarge
	refuseEncoding
	refuseJSON
	refuseMaster
	tokenUnavailable
	refuseToken
	refuseMismatch
	refuseBatch // loginAs or verifyPassword inside a batch
	refuseLoginAs
	refuseVerifyPassword
)

// decision is decide's answer.
type decision struct {
	action action
	// regulate: a login (or a password check) from a banned client is
	// refused, and authData.mfa is taken off it, before it is forwarded.
	regulate bool
	// deleting: a signed-in request deletes a session, whose token is
	// looked up first.
	deleting bool
}

// decide is the Parse guard's decision over a request to its paths, in
// order: the path, the body, the master key, the session tokens, the
// route's kind against the rules.
func decide(f *facts, r *rules) decision {
	switch {
	case f.dotted:
		return decision{action: refuseDotted}
	case f.where == elsewhere:
		return decision{action: notParse}
	case f.upgrade:
		return decision{action: refuseUpgrade}
	case errors.Is(f.readErr, errBodyTooLarge):
		return decision{action: refuseTooLarge}
	case errors.Is(f.readErr, errEncoding):
		return decision{action: refuseEncoding}
	case f.readErr != nil:
		return decision{action: refuseJSON}
	case f.master && !f.masterAllowed:
		return decision{action: refuseMaster}
	case f.token == tokensUnavailable:
		return decision{action: tokenUnavailable}
	case f.token == tokenRefused:
		return decision{action: refuseToken}
	case f.token == tokensMismatch:
		return decision{action: refuseMismatch}
	}
	switch f.kind {
	case refused:
		return decision{action: refuseBatch}
	case loginAs:
		if !r.allowLoginAs || !f.master {
			return decision{action: refuseLoginAs}
		}
	case verifyPassword:
		if !r.allowVerifyPassword {
			return decision{action: refuseVerifyPassword}
		}
		return decision{regulate: true}
	case login:
		return decision{regulate: true}
	case deleteSession:
		return decision{deleting: f.signedIn}
	}
	return decision{}
}

// kindOf is what the request q to route (at where) is.
func kindOf(at where, route string, q *request, mount string) kind {
	switch {
	case at == graphQL:
		return graphQLKind(q)
	case strings.EqualFold(route, "batch"):
		return batchKind(q, mount)
	default:
		return classify(route, q.method)
	}
}
