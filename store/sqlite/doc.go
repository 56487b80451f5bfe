// Package sqlite opens the embedded store: one SQLite file, through the
// pure-Go modernc.org/sqlite driver (no cgo), created private (0600). The
// durable store on it is store/sqlstore's, with the SQLite dialect; the
// ephemeral store in the same file (Ephemeral: held logins, counters,
// bans, revocations, the token registry) is here, so a restart loses no
// sign-in in progress.
//
// Every consuming operation is one conditional UPDATE, so concurrent
// gateways (or goroutines) sharing the file can never both use the same
// TOTP step, recovery code or text-message code.
package sqlite
