// Package parseguard is Parse Server mode's guard: only session tokens the
// gateway released after a second factor reach Parse, and no token it has
// not released leaves it.
//
//   - paths.go: the one definition of a Parse path (the mount and the
//     GraphQL path as case-insensitive prefixes) every rule uses;
//   - request.go: what a request offers (tokens, master keys, app keys, the
//     GraphQL operation), read the way Parse Server reads it;
//   - routes.go: what a route's answer can do (log in, follow a session,
//     mint, echo);
//   - tokens.go: session tokens recognised by value in any answer and
//     blanked in place, as it streams;
//   - guard.go: the guard itself, holding logins for the challenge package;
//   - logout.go: ending refused and abandoned sessions at Parse.
package parseguard
