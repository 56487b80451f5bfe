// Package sms sends second-factor codes by text message through one small
// interface: Vonage (its Go SDK), Twilio (its REST API), a signed webhook
// for any other provider, or the log (development only). Every sender's
// base URL is configurable, for regional endpoints and for tests against
// fake providers on loopback; every call has a timeout.
package sms

import (
	"context"
	"fmt"
)

// Message is one text to send.
type Message struct {
	To      string // E.164, e.g. +447700900123
	Text    string
	Purpose string // "login" or "enroll"
}

// Sender sends a message.
type Sender interface {
	Send(ctx context.Context, m Message) error
	Name() string
}

// Error is a provider's refusal or failure, in words fit for the user's page
// and a structured log line: never a credential.
type Error struct {
	Provider string
	// Code is the provider's own code ("1" throttled at Vonage, 21211 at
	// Twilio, an HTTP status, ...).
	Code string
	// Permanent is true when retrying the same number won't help (invalid
	// or barred number); false for throttling, outages, timeouts.
	Permanent bool
	// Detail is the provider's text, for the log only.
	Detail string
}

func (e *Error) Error() string {
	return fmt.Sprintf("sms via %s: code %s: %s", e.Provider, e.Code, e.Detail)
}

// UserMessage is what the page says.
func (e *Error) UserMessage() string {
	if e.Permanent {
		return "We could not send a text message to this number. Please use another way to sign in, or ask your administrator to check the number."
	}
	return "We could not send the text message just now. Please try again in a moment, or use another way to sign in."
}
