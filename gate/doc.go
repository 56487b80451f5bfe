// Package gate owns the gate cookie: Vestibule's proof that both factors
// passed, bound to one app session. It defines the compact typed payload
// (Claims), its binary encoding, signing and encryption through
// gorilla/securecookie with rotatable keys, and the binding of a claim to the
// app session cookies it was released with.
package gate
