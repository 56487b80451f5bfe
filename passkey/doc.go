// Package passkey owns the WebAuthn ceremonies (passkeys and security keys
// as the second factor): registration and sign-in options for the browser,
// and checking what the browser answers, over go-webauthn. It persists
// nothing: credentials come in and go out as store.Passkey, and the
// ceremony session is an opaque value the caller keeps, bound to the held
// login, and uses once. It has no HTTP handlers; static/passkey.js is its
// browser half.
package passkey
