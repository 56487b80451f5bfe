// Package challenge owns the second-factor flows and the gate pages under the
// reserved prefix: starting a challenge for a held login (the pending-challenge
// cookie, a gorilla/sessions cookie with its CSRF token), TOTP enrollment with
// a QR code and recovery codes, code and recovery-code verification with a
// per-login attempt budget, and the release of the held login with its gate
// cookie.
package challenge
