package regulate

import (
	"context"
	"fmt"
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

// TestIPCountsFailuresOnly: an address is banned at its limit of wrong
// codes, whatever right codes (sign-ins, enrollment confirmations) and
// cancelled attempts (a replayed code) come between.
func TestIPCountsFailuresOnly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		outcomes string // attempts from one IP: f(ail), s(ucceed), c(ancel)
	}{
		{"failures only", "ffffff"},
		{"successes between failures", "fsfsfsfsfsf"},
		{"successes first", "ssssssssssssssssssssffffff"},
		{"successes only", "ssssssssssssssssssssssssssssss"},
		{"cancelled between failures", "fcfcfcfcfcf"},
		{"everything", "scfscfscfscfscfscf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := storetest.NewClock()
			g := newReg(c)
			g.User.MaxFailures = 1000 // only the IP's limit here
			g.IP.MaxFailures = 6
			fails := 0
			for i, o := range tc.outcomes {
				user := fmt.Sprint("user", i%3)
				a, err := g.Begin(ctx, user, "192.0.2.1")
				if err != nil {
					t.Fatalf("attempt %d (%c) refused after %d failures: %v", i, o, fails, err)
				}
				switch o {
				case 'f':
					err = a.Fail(ctx)
					fails++
				case 's':
					err = a.Succeed(ctx)
				case 'c':
					err = a.Cancel(ctx)
				}
				_, banned := IsBanned(err)
				if err != nil && !banned {
					t.Fatal(err)
				}
				if banned != (fails == 6 && o == 'f') {
					t.Fatalf("attempt %d (%c) after %d failures: banned %v", i, o, fails, banned)
				}
			}
			_, err := g.Begin(ctx, "zed", "192.0.2.1")
			if _, banned := IsBanned(err); banned != (fails >= 6) {
				t.Fatalf("after %d failures, another user from the IP: %v", fails, err)
			}
		})
	}
}

// TestSuccessForgetsUserFailures: a right code clears the user's count.
func TestSuccessForgetsUserFailures(t *testing.T) {
	ctx := context.Background()
	c := storetest.NewClock()
	g := newReg(c)
	for range 4 {
		a, _ := g.Begin(ctx, "alice", "192.0.2.1")
		a.Fail(ctx)
	}
	a, _ := g.Begin(ctx, "alice", "192.0.2.1")
	a.Succeed(ctx)
	for i := range 4 {
		a, err := g.Begin(ctx, "alice", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if _, banned := IsBanned(a.Fail(ctx)); banned {
			t.Fatalf("banned at failure %d after a success", i+1)
		}
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
