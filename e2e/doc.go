// Package e2e holds the end-to-end tests: the demo in a headless Chromium as
// a person would use it (and HTTP Basic mode), passkeys with
// static/passkey.js against Chromium's virtual authenticators, replica
// processes on shared PostgreSQL and Redis with outages, and the shipped
// examples in front of the real apps they are for (Django admin, DokuWiki,
// parse-server with the Parse JS SDK). It has no code of its own.
package e2e
