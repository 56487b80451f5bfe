package gate

import "crypto/sha256"

// UserKey is the revocation key that ends every gate session of user at
// once: a revocation under it at time T voids each gate cookie of that user
// issued before T, whatever app session it is bound to (an administrator's
// factor reset, a device revocation, a new enrollment). The stores keep it
// beside the per-session revocations (see Binding), so the check stays an
// in-process lookup. The tag keeps it apart from any session binding.
func UserKey(user string) [32]byte {
	return sha256.Sum256([]byte("vestibule user revocation\x00" + user))
}
