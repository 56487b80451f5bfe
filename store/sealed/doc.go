// Package sealed keeps the secrets the stores hold sealed at rest, in one
// place for every backend: it wraps a store.Ephemeral so held logins (the
// app's session cookies, the held answer's headers and body, which carry
// Set-Cookie lines and Parse session tokens) and the numbers codes go to are
// sealed before they reach SQLite, memory or Redis, and wraps a
// store.Durable so enrolled phone numbers are sealed in SQLite or
// PostgreSQL, beside a masked copy the admin commands can show without keys.
// What is not secret passes through as it is: passkeys (a public key and
// counters), recent sign-ins (address, browser), factor dates; TOTP secrets
// reach the store already sealed by the caller (SetTOTP too).
//
// Sealing uses the seal package (AES-256-GCM with key ids), so the rotation
// of secrets.encryption_keys works as for TOTP secrets: the first key seals,
// every key opens. Each value is bound to its owner (the held login's id,
// the user) so a value copied to another row does not open.
package sealed
