// Package held owns a held login's life: its id, and the registry of Parse
// session tokens the gateway released (hashed, with the in-process cache
// every writer goes through).
package held
