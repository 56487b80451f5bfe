package gate

import (
	"fmt"
	"net/http"
	"time"
)

// Issuer makes gate cookies for released app sessions.
type Issuer struct {
	Codec *Codec
	// MaxAge is the gate session's lifetime.
	MaxAge time.Duration
	// Secure marks cookies Secure (the public URL is https).
	Secure bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (i *Issuer) now() time.Time {
	if i.Now == nil {
		return time.Now()
	}
	return i.Now()
}

// Cookie returns a gate cookie for user, bound to the app session with
// binding key bind, whose second factor passed at verified.
func (i *Issuer) Cookie(user string, bind [32]byte, verified time.Time) (*http.Cookie, error) {
	now := i.now()
	v, err := i.Codec.Encode(Claims{
		User:     user,
		Bind:     bind,
		Issued:   now,
		Expires:  now.Add(i.MaxAge),
		Verified: verified,
	})
	if err != nil {
		return nil, fmt.Errorf("issuing gate cookie: %w", err)
	}
	return &http.Cookie{
		Name:     i.Codec.Name(),
		Value:    v,
		Path:     "/",
		MaxAge:   int(i.MaxAge / time.Second),
		HttpOnly: true,
		Secure:   i.Secure,
		SameSite: http.SameSiteLaxMode,
	}, nil
}

// Clear returns a cookie that deletes the gate cookie in the browser.
func (i *Issuer) Clear() *http.Cookie {
	return &http.Cookie{
		Name:     i.Codec.Name(),
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   i.Secure,
		SameSite: http.SameSiteLaxMode,
	}
}
