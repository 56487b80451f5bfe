package parseguard

import (
	"encoding/json"
	"net/http"
	"strings"
)

// kind is what the guard does with a Parse route's answer.
type kind int

const (
	// pass: streamed through untouched (object queries, files, config...).
	pass kind = iota
	// login: an answer with a new session token is held for a second
	// factor (login, signup, authData login, batch, GraphQL).
	login
	// follow: a new token minted from the caller's own released session
	// (password change, POST /sessions, upgradeToRevocableSession) is
	// released when it belongs to the same user; otherwise held.
	follow
	// scan: answers that may echo session tokens (/users/me, /sessions);
	// tokens the gateway did not release are removed from them.
	scan
	// logout: the caller's token leaves the registry once Parse agrees.
	logout
	// deleteSession: DELETE /sessions/:id; the deleted session's token
	// leaves the registry once Parse agrees.
	deleteSession
	// loginAs and verifyPassword: refused unless allowed in the config.
	loginAs
	verifyPassword
	// refused: never forwarded (loginAs or verifyPassword inside a batch).
	refused
	// mint: answers that may carry a token minted on the way (cloud
	// functions and jobs, GraphQL mutations other than the logins): read
	// whole; a token the gateway did not release is removed and its
	// session ended at Parse.
	mint
)

// classify names what to do with a Parse REST route (below the mount) for
// the request's effective method.
func classify(route, method string) kind {
	// Matched without allocating: the route keeps its case (compared
	// case-insensitively, as Express routes).
	first, rest, _ := strings.Cut(route, "/")
	second, _, _ := strings.Cut(rest, "/")
	nseg := strings.Count(route, "/") + 1
	is := strings.EqualFold
	switch {
	case is(first, "login"):
		return login
	case is(first, "loginas"):
		return loginAs
	case is(first, "verifypassword"):
		return verifyPassword
	case is(first, "logout"):
		return logout
	case is(first, "batch"):
		return login
	case is(first, "upgradetorevocablesession"):
		return follow
	case is(first, "users") && nseg == 1 && method == http.MethodPost:
		return login // signup, or a login with authData
	case is(first, "classes") && nseg == 2 && is(second, "_user") && method == http.MethodPost:
		return login
	case is(first, "users") && nseg == 2 && !is(second, "me") && method == http.MethodPut,
		is(first, "classes") && nseg == 3 && is(second, "_user") && method == http.MethodPut:
		return follow // a password change mints a new token
	case is(first, "sessions") && nseg == 1 && method == http.MethodPost:
		return follow
	case is(first, "sessions") && nseg == 2 && !is(second, "me") && method == http.MethodDelete,
		is(first, "classes") && nseg == 3 && is(second, "_session") && method == http.MethodDelete:
		return deleteSession
	case is(first, "users"), is(first, "sessions"),
		is(first, "classes") && nseg >= 2 && (is(second, "_user") || is(second, "_session")),
		is(first, "aggregate") && nseg >= 2 && (is(second, "_user") || is(second, "_session")):
		return scan
	case is(first, "functions"), is(first, "jobs"):
		return mint
	}
	return pass
}

// graphQLKind: an operation that signs in (logIn, logInWith, signUp: the
// field names stay in the text whatever the aliases and fragments) is a
// login; any other mutation, or a request whose operation can't be read,
// may mint a token on the way (mint); a plain query only echoes (scan).
func graphQLKind(q *request) kind {
	query := q.gqlQuery
	switch {
	case strings.Contains(query, "logIn") || strings.Contains(query, "signUp"):
		return login
	case query == "" || strings.Contains(query, "mutation"):
		return mint
	}
	return scan
}

// batchKind is the strongest kind among a batch's sub-requests: any login
// makes the batch a login; else a token-minting one a follow; else scan.
// loginAs and verifyPassword are never allowed inside a batch.
func batchKind(q *request, mount string) kind {
	var body struct {
		Requests []struct {
			Method string `json:"method"`
			Path   string `json:"path"`
		} `json:"requests"`
	}
	if raw, ok := q.field("requests"); ok {
		json.Unmarshal(raw, &body.Requests)
	}
	out := scan
	for _, sub := range body.Requests {
		k := key(sub.Path)
		route, ok := under(k, mount)
		if !ok {
			route = strings.TrimPrefix(k, "/")
		}
		switch classify(route, strings.ToUpper(sub.Method)) {
		case loginAs, verifyPassword:
			return refused
		case login:
			out = login
		case mint:
			if out != login && out != follow {
				out = mint
			}
		case follow:
			if out != login {
				out = follow
			}
		}
	}
	return out
}
