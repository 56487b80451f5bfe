// Package store declares Vestibule's two kinds of state and the contracts any
// backend must meet: Durable (enrollments: sealed TOTP secrets, last TOTP
// step, recovery-code hashes) and Ephemeral (held logins, revocations of
// released app sessions). Implementations live in sub-packages; the shared
// conformance suites in store/storetest run against every one of them.
package store
