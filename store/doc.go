// Package store declares Vestibule's state and the contracts every backend
// meets: Durable (enrollments: sealed TOTP secrets and phones, the last TOTP
// step, recovery-code hashes, device log) and Ephemeral (held logins,
// revocations, counters and bans, the Parse token registry). SQLite,
// PostgreSQL, memory and Redis implement them in sub-packages, store/sealed
// seals what they hold, and store/storetest is the conformance suite every
// one of them passes.
package store
