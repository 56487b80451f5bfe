package gate

import "crypto/sha256"

// userKeyTag keeps user revocation keys apart from session bindings.
const userKeyTag = "vestibule user revocation\x00"

// UserKey is the revocation key that ends every gate session of user at
// once: a revocation under it at time T voids each gate cookie of that user
// issued before T, whatever app session it is bound to (an administrator's
// factor reset, a device revocation, a new enrollment). The stores keep it
// beside the per-session revocations (see Binding), so the check stays an
// in-process lookup. It is on the hot path: for names up to about 100
// bytes it does not allocate.
func UserKey(user string) [32]byte {
	var buf [128]byte
	b := append(buf[:0], userKeyTag...)
	b = append(b, user...)
	return sha256.Sum256(b)
}
