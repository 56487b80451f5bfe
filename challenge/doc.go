// Package challenge owns the second factor for a held login and the gate
// pages under the reserved prefix: starting a challenge (the pending cookie
// with its CSRF token), enrollment (TOTP with a QR code, text messages,
// recovery codes) under the enrollment policy, step-up, remembered
// devices, the Parse JSON protocol (api.go) and the crash-safe release of
// the held login with its gate cookie.
//
// Every submitted code, on every surface (the verify and recovery pages,
// enrollment confirmation, step-up, the text-message page, the JSON
// protocol and the mfa adapter), is decided by one Checker (check.go):
// Check(ctx, Attempt) Result counts the attempt against the held login's
// budget, reserves it with the regulator, has the Method verify the code
// and consume what it used, records the failure or the success, and marks
// the held login verified. The factors are Methods (methods.go: TOTP,
// recovery codes, text-message codes); the pages and the JSON protocol
// only render the Result's Kind.
package challenge
