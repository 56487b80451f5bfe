// Package forward owns carrying a request to the app and an answer back,
// for both guards: the httputil.ReverseProxy with Rewrite (the gateway's
// own X-Forwarded-* headers, its cookies never sent upstream, pooled copy
// buffers), the upstream Transport, bounded request-body reading, the
// gateway's own replies in place of an answer, hop-by-hop headers, and the
// status of a failed request. It knows nothing of sessions or logins.
package forward
