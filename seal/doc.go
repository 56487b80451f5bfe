// Package seal encrypts secrets at rest (TOTP secrets, held logins, phone
// numbers) with AES-256-GCM. The first configured key seals; every key
// opens, found by a key id stored with the ciphertext, so keys can be
// rotated. Callers bind each secret to its owner through the additional
// data, so a row copied to another user does not open.
package seal
