// Package demoapp is a small legacy-style web app with a password-only form
// login: the upstream that `vestibule demo` puts the gateway in front of, and
// the app the integration tests log in to. It can behave like a framework
// that issues a new session id on login (Django) or like one that keeps the
// pre-login id and marks it authenticated server side (PHP without
// session_regenerate_id).
//
// It is deliberately naive about security: it is the app that cannot be
// changed, which is why the gateway exists.
package demoapp
