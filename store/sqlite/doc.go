// Package sqlite is the embedded durable store: enrollments, sealed TOTP
// secrets, the last used TOTP step and recovery-code hashes in one SQLite
// file, through the pure-Go modernc.org/sqlite driver (no cgo).
//
// Every consuming operation is one conditional UPDATE, so concurrent
// gateways (or goroutines) sharing the file can never both use the same
// TOTP step or recovery code.
package sqlite
