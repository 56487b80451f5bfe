// Package account owns the security page (<prefix>account): a signed-in
// user's own view of their second factors, remembered devices and recent
// sign-ins, and the changes they may make to them (replace the
// authenticator app, change the phone, add, rename or remove a passkey,
// remove a factor, make new recovery codes, forget a device, sign out
// every other session). Every change needs a second factor no older than
// the configured re-authentication age (the gate's step-up page renews
// it), is an audit event, and is posted to the security-event webhook.
//
// It reaches the rest of the gateway only through the small interfaces it
// declares in deps.go.
package account
