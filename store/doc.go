// Package store declares Vestibule's state and the contracts every backend
// meets: Durable (enrollments: sealed TOTP secrets and phones, the last TOTP
// step, recovery-code hashes, device log) and Ephemeral (held logins,
// revocations, counters and bans, the Parse token registry).
//
// store/sqlstore implements Durable once for SQL (SQLite through
// store/sqlite, PostgreSQL through store/postgres); store/sqlite, store/memory
// and store/redis implement Ephemeral, each with its in-process revocation
// view in store/revoked; store/open picks and opens the backends a config
// names; store/sealed seals what they hold; store/storetest is the
// conformance suite every one of them passes.
package store
