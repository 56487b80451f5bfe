package regulate

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

func newReg(c *storetest.Clock) *Regulator {
	return &Regulator{
		Counters: memory.New(c.Now),
		User:     Limit{MaxFailures: 5, Window: 10 * time.Minute, Ban: 15 * time.Minute},
		IP:       Limit{MaxFailures: 20, Window: 10 * time.Minute, Ban: 15 * time.Minute},
		Now:      c.Now,
	}
}

func TestUserBanAfterLimit(t *testing.T) {
	ctx := context.Background()
	c := storetest.NewClock()
	g := newReg(c)
	for i := 1; i <= 5; i++ {
		a, err := g.Begin(ctx, "alice", "192.0.2.1")
		if err != nil {
			t.Fatalf("attempt %d refused: %v", i, err)
		}
		err = a.Fail(ctx)
		if _, banned := IsBanned(err); banned != (i == 5) {
			t.Fatalf("failure %d: ban = %v", i, banned)
		}
	}
	// Banned, from another IP too.
	_, err := g.Begin(ctx, "alice", "198.51.100.7")
	until, banned := IsBanned(err)
	if !banned || !until.Equal(c.Now().Add(15*time.Minute)) {
		t.Fatalf("after 5 failures: %v", err)
	}
	// Another user from the same IP is fine.
	if _, err := g.Begin(ctx, "bob", "192.0.2.1"); err != nil {
		t.Fatalf("bob: %v", err)
	}
	c.Advance(15 * time.Minute)
	if _, err := g.Begin(ctx, "alice", "192.0.2.1"); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
}

func TestSuccessResetsUserNotIP(t *testing.T) {
	ctx := context.Background()
	c := storetest.NewClock()
	g := newReg(c)
	g.IP.MaxFailures = 6
	for range 4 {
		a, _ := g.Begin(ctx, "alice", "192.0.2.1")
		a.Fail(ctx)
	}
	a, _ := g.Begin(ctx, "alice", "192.0.2.1")
	a.Succeed(ctx)
	// alice has 5 fresh failures; the IP has only 1 left before its limit.
	a, err := g.Begin(ctx, "alice", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, banned := IsBanned(a.Fail(ctx)); !banned {
		t.Fatal("IP limit not reached after 6 attempts from one IP")
	}
	if _, err := g.Begin(ctx, "carol", "192.0.2.1"); err == nil {
		t.Fatal("banned IP may still try other users")
	}
}

// TestConcurrentAttemptsNeverExceedLimit: 50 simultaneous guesses for one
// user get at most the limit of code checks.
func TestConcurrentAttemptsNeverExceedLimit(t *testing.T) {
	ctx := context.Background()
	c := storetest.NewClock()
	g := newReg(c)
	var checked atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, err := g.Begin(ctx, "alice", "192.0.2."+string(rune('0'+i%10)))
			if err != nil {
				return
			}
			checked.Add(1)
			a.Fail(ctx)
		}()
	}
	close(start)
	wg.Wait()
	if n := checked.Load(); n != 5 {
		t.Fatalf("%d codes checked, want exactly the limit 5", n)
	}
	if err := g.Banned(ctx, "alice", ""); err == nil {
		t.Fatal("not banned after the race")
	}
}

func TestDisabledLimits(t *testing.T) {
	ctx := context.Background()
	c := storetest.NewClock()
	g := newReg(c)
	g.User, g.IP = Limit{}, Limit{}
	for range 100 {
		a, err := g.Begin(ctx, "alice", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Fail(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
