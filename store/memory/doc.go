// Package memory is the embedded Ephemeral store: held logins and
// revocations in process memory, behind one mutex each, with expired entries
// swept as writes happen. It suits a single gateway; a fleet shares a Redis
// implementation of the same interface.
package memory
