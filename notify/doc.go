// Package notify sends the gateway's signed webhooks: the signature every
// outgoing webhook carries (the SMS webhook sender's too), and the notifier
// that tells an endpoint of yours about enrollments and factor changes, so
// the real user can be told when someone enrolls or changes their factor.
package notify
