package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

// deviceLog checks the remembered-device log of a durable store.
func deviceLog(t *testing.T, open OpenDurable) {
	ctx := context.Background()
	t.Run("remembered devices: first seen kept, last use wins", func(t *testing.T) {
		c, s := open.fresh(t)
		dl, ok := s.(store.DeviceLog)
		if !ok {
			t.Fatalf("%T keeps no device log", s)
		}
		if l, err := dl.Devices(ctx, "alice"); err != nil || len(l) != 0 {
			t.Fatalf("no devices yet: %v %v", l, err)
		}
		t0 := c.Now()
		see := func(id, ip, ua string, at time.Time) {
			t.Helper()
			if err := dl.SeeDevice(ctx, store.Device{User: "alice", ID: id, LastSeen: at, LastIP: ip, UserAgent: ua}); err != nil {
				t.Fatal(err)
			}
		}
		see("d1", "192.0.2.1", "Firefox", t0)
		see("d2", "192.0.2.2", "Chrome", t0.Add(time.Minute))
		see("d1", "198.51.100.9", "Firefox 2", t0.Add(2*time.Minute))
		see("d1", "203.0.113.1", "late and older", t0.Add(90*time.Second)) // an older use arriving late
		dl.SeeDevice(ctx, store.Device{User: "bob", ID: "d1", LastSeen: t0, LastIP: "192.0.2.3", UserAgent: strings.Repeat("x", 1000)})
		l, err := dl.Devices(ctx, "alice")
		if err != nil || len(l) != 2 {
			t.Fatalf("alice's devices: %v %v", l, err)
		}
		d1, d2 := l[0], l[1]
		if d1.ID != "d1" || !d1.Created.Equal(t0) || !d1.LastSeen.Equal(t0.Add(2*time.Minute)) || d1.LastIP != "198.51.100.9" || d1.UserAgent != "Firefox 2" {
			t.Errorf("d1 = %+v", d1)
		}
		if d2.ID != "d2" || d2.LastIP != "192.0.2.2" || d2.UserAgent != "Chrome" {
			t.Errorf("d2 = %+v", d2)
		}
		if l, _ := dl.Devices(ctx, "bob"); len(l) != 1 || len(l[0].UserAgent) != store.MaxUserAgent {
			t.Errorf("bob's devices (user agent bounded): %+v", l)
		}
	})
	t.Run("remembered devices: one forgotten, once", func(t *testing.T) {
		c, s := open.fresh(t)
		dl := s.(store.DeviceLog)
		t0 := c.Now()
		for _, d := range []store.Device{{User: "alice", ID: "d1", LastSeen: t0}, {User: "alice", ID: "d2", LastSeen: t0}, {User: "bob", ID: "d1", LastSeen: t0}} {
			if err := dl.SeeDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := dl.RevokeDevice(ctx, "alice", "d9"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown device: %v, want ErrNotFound", err)
		}
		c.Advance(time.Minute)
		at := c.Now()
		if err := dl.RevokeDevice(ctx, "alice", "d1"); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Minute)
		if err := dl.RevokeDevice(ctx, "alice", "d1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("forgotten twice: %v, want ErrNotFound", err)
		}
		// Seen again (a request racing the revocation), it stays forgotten.
		dl.SeeDevice(ctx, store.Device{User: "alice", ID: "d1", LastSeen: c.Now(), LastIP: "192.0.2.9"})
		l, err := dl.Devices(ctx, "alice")
		if err != nil || len(l) != 2 {
			t.Fatalf("alice's devices: %v %v", l, err)
		}
		for _, d := range l {
			switch {
			case d.ID == "d1" && !d.Revoked.Equal(at):
				t.Errorf("d1 revoked at %v, want %v", d.Revoked, at)
			case d.ID == "d2" && !d.Revoked.IsZero():
				t.Errorf("d2 revoked too: %v", d.Revoked)
			}
		}
		if l, _ := dl.Devices(ctx, "bob"); len(l) != 1 || !l[0].Revoked.IsZero() {
			t.Errorf("bob's device with the same id was revoked: %+v", l)
		}
	})
}
