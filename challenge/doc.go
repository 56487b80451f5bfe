// Package challenge owns the second factor for a held login and the gate
// pages under the reserved prefix: starting a challenge (the pending cookie
// with its CSRF token), enrollment (TOTP with a QR code, text messages,
// recovery codes) under the enrollment policy, code checks with their
// attempt budgets, step-up, remembered devices, the Parse JSON protocol and
// the crash-safe release of the held login with its gate cookie.
package challenge
