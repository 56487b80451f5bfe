// Package store declares Vestibule's state and the contracts every backend
// meets.
//
// Durable holds enrollments: the sealed TOTP secret and when it was set,
// the sealed phone, the last TOTP step, recovery-code hashes, the device
// log; and for the security page (issue 16) the user's passkeys (Passkey,
// our own record; the signature counter is checked in the backend), one
// factor set or removed at a time (Factors), and the newest SignInsKept
// sign-ins of each user (SignIn). Ephemeral holds held logins,
// revocations, counters and bans, and the Parse token registry.
//
// store/sqlstore implements Durable once for SQL (SQLite through
// store/sqlite, PostgreSQL through store/postgres); store/sqlite,
// store/memory and store/redis implement Ephemeral, each with its
// in-process revocation view in store/revoked; store/open picks and opens
// the backends a config names; store/sealed seals what they hold;
// store/storetest is the conformance suite every one of them passes.
package store
