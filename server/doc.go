// Package server assembles a gateway from its configuration (assemble.go):
// it opens the stores (server.go), derives the keys, wires the challenge
// pages into the guarded proxy, and runs the public listener with its
// limits and graceful shutdown (listeners.go), the admin listener
// (admin.go), config reloads (reload.go) and the janitor (janitor.go).
// main stays thin by calling it.
package server
