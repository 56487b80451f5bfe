// Package proxy owns the reverse proxy in front of the app: forwarding
// (httputil.ReverseProxy with Rewrite, a tuned Transport, pooled buffers),
// the guard that lets only released app sessions reach the app, login
// interception (recognising a successful first factor and holding it), and
// following app-session rotation and logout.
//
// The guard never depends on having recognised the login route: an app
// session cookie reaches the app only with a gate cookie bound to it, except
// on login routes and bypass paths, where an unreleased cookie may pass
// because those answers are either intercepted or public.
package cookieguard
