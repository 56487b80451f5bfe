package store

import (
	"context"
	"time"
)

// Device is one remembered browser ("remember this device"), for an
// administrator's listing. The cookie itself is a bearer token and is
// never stored; ID names it.
type Device struct {
	User string
	// ID is a short public name of the device cookie (hex).
	ID                string
	Created, LastSeen time.Time
	// LastIP and UserAgent are the address and browser that last used it
	// (or got it).
	LastIP, UserAgent string
	// Revoked is when the user or an administrator forgot this device
	// (zero: not): its cookie no longer skips the second factor.
	Revoked time.Time
}

// DeviceLog is what a durable store keeps of remembered devices, so that
// administrators and the user's security page can see where each was last
// used, and the user can forget one. It is optional: without it the cookie
// alone decides (and devices are revoked only all at once).
type DeviceLog interface {
	// SeeDevice records that d was issued or used at d.LastSeen from
	// d.LastIP with d.UserAgent; the first call's time stays d's Created.
	SeeDevice(ctx context.Context, d Device) error
	// Devices lists the user's devices, the most recently seen first,
	// forgotten ones included (Revoked set).
	Devices(ctx context.Context, user string) ([]Device, error)
	// RevokeDevice forgets one of the user's devices (the user's security
	// page): its cookie no longer skips the second factor. ErrNotFound
	// when the user has no such device or it is already forgotten.
	RevokeDevice(ctx context.Context, user, id string) error
}

// MaxUserAgent bounds the stored browser description.
const MaxUserAgent = 256
