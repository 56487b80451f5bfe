// Package enroll owns the enrollment policy: who may create a user's first
// second factor (open, by invitation, from configured networks, until a
// closing date) and the one-time invitations `vestibule users invite`
// prints. It has no HTTP: the challenge package asks Policy.Decide on every
// path that creates a first enrollment and renders the verdict.
package enroll
