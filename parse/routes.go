package parse

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
	seg := strings.Split(route, "/")
	first := seg[0]
	switch {
	case first == "login":
		return login
	case first == "loginas":
		return loginAs
	case first == "verifypassword":
		return verifyPassword
	case first == "logout":
		return logout
	case first == "batch":
		return login
	case first == "upgradetorevocablesession":
		return follow
	case first == "users" && len(seg) == 1 && method == http.MethodPost:
		return login // signup, or a login with authData
	case first == "classes" && len(seg) == 2 && seg[1] == "_user" && method == http.MethodPost:
		return login
	case first == "users" && len(seg) == 2 && seg[1] != "me" && method == http.MethodPut,
		first == "classes" && len(seg) == 3 && seg[1] == "_user" && method == http.MethodPut:
		return follow // a password change mints a new token
	case first == "sessions" && len(seg) == 1 && method == http.MethodPost:
		return follow
	case first == "sessions" && len(seg) == 2 && seg[1] != "me" && method == http.MethodDelete,
		first == "classes" && len(seg) == 3 && seg[1] == "_session" && method == http.MethodDelete:
		return deleteSession
	case first == "users", first == "sessions",
		first == "classes" && len(seg) >= 2 && (seg[1] == "_user" || seg[1] == "_session"),
		first == "aggregate" && len(seg) >= 2 && (seg[1] == "_user" || seg[1] == "_session"):
		return scan
	case first == "functions", first == "jobs":
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
