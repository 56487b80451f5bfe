// Package factor holds the second-factor primitives, without HTTP: TOTP
// (RFC 6238) verification that reports the matched time step so callers can
// refuse replays, TOTP secrets, otpauth:// URIs and their QR codes, recovery
// codes and their hashes, and uniform numeric one-time codes. Randomness and
// time are always passed in.
package factor
