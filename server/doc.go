// Package server assembles a gateway from its configuration: it opens the
// stores, derives the keys, wires the challenge pages into the guarded proxy
// and runs the public listener with its limits and graceful shutdown. main
// stays thin by calling it.
package server
