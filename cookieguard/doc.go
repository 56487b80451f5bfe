// Package cookieguard is the cookie guard: only app sessions released
// after a second factor reach the app, and only the gateway's holding of a
// successful first factor makes one.
//
//   - guard.go: the Proxy, its options, the gate pages' claims (Pages) and
//     ServeHTTP, a short switch on the decision;
//   - request.go: reading a request into Facts (cookies scanned once, the
//     gate cookie verified against the in-process revocation view, the
//     login form read canonically) and carrying out a Decision;
//   - decide.go: Decide, the pure decision over Facts and Rules;
//   - hold.go: a login attempt's answer: identity, holding, the challenge;
//   - respond.go: every other answer (logout, rotation, pre-login cookies)
//     and the guard's own pages;
//   - loginform.go, identity.go, credentials.go, cookies.go, routes.go,
//     classify.go: reading login requests, the identity probe, credential
//     channels, Cookie headers, routes and path rules, the success rule.
//
// Forwarding itself is package forward's. The guard never depends on having
// recognised the login route: an app session cookie reaches the app only
// with a gate cookie bound to it, except on login routes and bypass paths,
// where an unreleased cookie may pass because those answers are either
// intercepted or public.
package cookieguard
