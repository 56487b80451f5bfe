// Package held owns a held login's life: holding it (Logins.Hold), taking
// it for release with a crash-safe journal (Take), giving it up and ending
// its app session at the app (Abandon, through the AppSession of its kind:
// the cookie guard's logout route or Parse's logout), and expiry (Sweep).
// It also owns the registry of released Parse session tokens (Registry:
// hashed in the store, with the in-process cache every writer goes
// through).
package held
