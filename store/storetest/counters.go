package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store"
)

// counterExtras checks taking back a count and listing bans.
func counterExtras(t *testing.T, open func(t *testing.T, now func() time.Time) store.Ephemeral) {
	ctx := context.Background()

	t.Run("unhit takes back one count of the current window", func(t *testing.T) {
		c := NewClock()
		s := open(t, c.Now)
		if err := s.Unhit(ctx, "ip:192.0.2.1", c.Now()); err != nil {
			t.Fatalf("unhit of an unknown key: %v", err)
		}
		s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute)
		s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute)
		s.Hit(ctx, "ip:192.0.2.2", c.Now(), time.Minute)
		if err := s.Unhit(ctx, "ip:192.0.2.1", c.Now()); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute); n != 2 {
			t.Errorf("hit, hit, unhit, hit = %d, want 2", n)
		}
		// Another key keeps its count.
		if n, _ := s.Hit(ctx, "ip:192.0.2.2", c.Now(), time.Minute); n != 2 {
			t.Errorf("another key after the unhit: %d, want 2", n)
		}
		// Never below zero.
		for range 5 {
			s.Unhit(ctx, "ip:192.0.2.1", c.Now())
		}
		if n, _ := s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute); n != 1 {
			t.Errorf("after more unhits than hits: %d, want 1", n)
		}
		// A window that ended is not touched, and the next hit starts anew.
		c.Advance(2 * time.Minute)
		s.Unhit(ctx, "ip:192.0.2.1", c.Now())
		if n, _ := s.Hit(ctx, "ip:192.0.2.1", c.Now(), time.Minute); n != 1 {
			t.Errorf("first hit of a new window: %d, want 1", n)
		}
	})

	t.Run("bans listed by prefix while in force", func(t *testing.T) {
		c := NewClock()
		s := open(t, c.Now)
		if l, err := s.Bans(ctx, "ip:", c.Now()); err != nil || len(l) != 0 {
			t.Fatalf("no bans: %v %v", l, err)
		}
		long, short := c.Now().Add(time.Hour), c.Now().Add(time.Minute)
		s.Ban(ctx, "ip:2001:db8::1", long)
		s.Ban(ctx, "ip:192.0.2.1", short)
		s.Ban(ctx, "user:alice", long)
		s.Ban(ctx, "user:a*[b]", long) // glob characters are not patterns
		l, err := s.Bans(ctx, "ip:", c.Now())
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Ban{{Key: "ip:192.0.2.1", Until: short}, {Key: "ip:2001:db8::1", Until: long}}
		if len(l) != len(want) {
			t.Fatalf("ip bans = %v, want %v", l, want)
		}
		for i := range want {
			if l[i].Key != want[i].Key || !l[i].Until.Equal(want[i].Until) {
				t.Errorf("ban %d = %v, want %v", i, l[i], want[i])
			}
		}
		if l, _ := s.Bans(ctx, "user:a*", c.Now()); len(l) != 1 || l[0].Key != "user:a*[b]" {
			t.Errorf("prefix with glob characters: %v", l)
		}
		c.Advance(2 * time.Minute)
		if l, _ := s.Bans(ctx, "ip:", c.Now()); len(l) != 1 || l[0].Key != "ip:2001:db8::1" {
			t.Errorf("after the short ban ended: %v", l)
		}
		s.Unban(ctx, "ip:2001:db8::1")
		if l, _ := s.Bans(ctx, "ip:", c.Now()); len(l) != 0 {
			t.Errorf("after unban: %v", l)
		}
	})
}
