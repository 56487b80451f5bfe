package challenge

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/store/sqlite"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

// fixedSecret is the TOTP secret of every enrolled test user.
const fixedSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

const testMaxAttempts = 5

// checkEnv is a checker over the memory ephemeral store and a SQLite
// durable store, with a fixed clock and a fixed TOTP secret.
type checkEnv struct {
	t         *testing.T
	clock     *storetest.Clock
	eph       *memory.Store
	dur       *sqlite.DB
	sealer    *seal.Sealer
	totpP     factor.TOTP
	checker   *Checker
	totp      totpMethod
	recovery  recoveryMethod
	sms       smsMethod
	abandoned sync.Map // held id -> reason
	events    *events
	recCodes  []string
}

// events records the checker's log records as their attributes.
type events struct {
	mu      sync.Mutex
	records []map[string]string
}

func (l *events) Enabled(context.Context, slog.Level) bool { return true }
func (l *events) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *events) WithGroup(string) slog.Handler            { return l }

func (l *events) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, m)
	l.mu.Unlock()
	return nil
}

// named returns the records of one audit event.
func (l *events) named(event string) []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, m := range l.records {
		if m["event"] == event {
			out = append(out, m)
		}
	}
	return out
}

// newCheckEnv enrolls alice (TOTP with fixedSecret, two recovery codes);
// bob has no enrollment. user and ip are the regulator's limits (zero:
// no regulator).
func newCheckEnv(t *testing.T, user, ip regulate.Limit) *checkEnv {
	t.Helper()
	ctx := context.Background()
	e := &checkEnv{t: t, clock: storetest.NewClock(), totpP: factor.DefaultTOTP(), events: &events{}}
	e.eph = memory.New(e.clock.Now)
	dur, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "durable.db"), e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dur.Close() })
	e.dur = dur
	if e.sealer, err = seal.New([][]byte{bytes.Repeat([]byte{7}, 32)}, nil); err != nil {
		t.Fatal(err)
	}
	sealed, err := e.sealer.Seal([]byte(fixedSecret), []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if e.recCodes, err = factor.NewRecoveryCodes(rand.Reader, 2); err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte
	for _, c := range e.recCodes {
		n, _ := factor.NormalizeRecoveryCode(c)
		hashes = append(hashes, factor.HashRecoveryCode(n))
	}
	if err := dur.Enroll(ctx, store.Enrollment{User: "alice", TOTPSecret: sealed, RecoveryHashes: hashes,
		CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.checker = &Checker{Store: e.eph, MaxAttempts: testMaxAttempts, BudgetWindow: 5 * time.Minute, Now: e.clock.Now,
		Log: slog.New(e.events),
		OnAbandon: func(_ context.Context, h *store.Held, reason string) {
			e.abandoned.Store(h.ID, reason)
		}}
	if user.MaxFailures > 0 || ip.MaxFailures > 0 {
		e.checker.Regulator = &regulate.Regulator{Counters: e.eph, User: user, IP: ip, Now: e.clock.Now}
	}
	e.totp = totpMethod{store: dur, sealer: e.sealer, totp: e.totpP, now: e.clock.Now}
	e.recovery = recoveryMethod{store: dur, now: e.clock.Now}
	e.sms = smsMethod{store: e.eph, hash: testSMSHash, maxAttempts: 3, now: e.clock.Now}
	return e
}

func testSMSHash(heldID, code string, _ []byte) []byte { return []byte(heldID + "/" + code) }

// hold creates a held login for user.
func (e *checkEnv) hold(id, user string) *store.Held {
	e.t.Helper()
	h := &store.Held{ID: id, User: user, Created: e.clock.Now(), Expires: e.clock.Now().Add(5 * time.Minute)}
	if err := e.eph.CreateHeld(context.Background(), h); err != nil {
		e.t.Fatal(err)
	}
	return h
}

// code is fixedSecret's TOTP code at the clock's step plus offset.
func (e *checkEnv) code(offset int64) string {
	c, err := e.totpP.Code(fixedSecret, e.totpP.Step(e.clock.Now())+offset)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// wrongCode is a code of the right shape that is none of the accepted ones.
func (e *checkEnv) wrongCode() string {
	valid := map[string]bool{}
	for o := int64(-1); o <= 1; o++ {
		valid[e.code(o)] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !valid[c] {
			return c
		}
	}
}

func (e *checkEnv) attempt(h *store.Held, m Method, code string) Attempt {
	return Attempt{Held: h, Method: m, Code: code, ClientIP: "192.0.2.1", UserAgent: "test"}
}

// heldState is the held login as the store has it (nil: gone).
func (e *checkEnv) heldState(id string) *store.Held {
	e.t.Helper()
	h, err := e.eph.Held(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

func (e *checkEnv) abandonReason(id string) string {
	r, _ := e.abandoned.Load(id)
	s, _ := r.(string)
	return s
}

var testLimit = regulate.Limit{MaxFailures: 3, Window: 10 * time.Minute, Ban: 15 * time.Minute}

// TestCheckKinds: each Result kind, from the state that gives it, with
// what it leaves behind (the held login, its attempts, its verification).
func TestCheckKinds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// run submits whatever the case needs and returns the last result
		// and the held login it was about.
		run       func(e *checkEnv) (Result, string)
		want      Kind
		attempt   int  // the result's attempt number
		left      int  // attempts left (Wrong)
		heldStays bool // the held login is still there afterwards
		verified  bool // and marked verified
		abandon   string
	}{
		{name: "totp accepted", want: Accepted, attempt: 1, left: 4, heldStays: true, verified: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "alice")
				return e.checker.Check(ctx, e.attempt(h, e.totp, e.code(0))), h.ID
			}},
		{name: "totp wrong", want: Wrong, attempt: 1, left: 4, heldStays: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "alice")
				return e.checker.Check(ctx, e.attempt(h, e.totp, e.wrongCode())), h.ID
			}},
		{name: "totp of a used step is replayed, not counted", want: Replayed, attempt: 0, heldStays: true,
			run: func(e *checkEnv) (Result, string) { return e.afterUse(e.code(0)) }},
		{name: "an earlier step is replayed too", want: Replayed, attempt: 0, heldStays: true,
			run: func(e *checkEnv) (Result, string) { return e.afterUse(e.code(-1)) }},
		{name: "last wrong code exhausts", want: Exhausted, attempt: testMaxAttempts, heldStays: false, abandon: "attempts_exhausted",
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "alice")
				var res Result
				for i := 0; i < testMaxAttempts; i++ {
					res = e.checker.Check(ctx, e.attempt(h, e.totp, e.wrongCode()))
					if i < testMaxAttempts-1 && (res.Kind != Wrong || res.Left != testMaxAttempts-1-i) {
						e.t.Fatalf("attempt %d: %v, %d left", i+1, res.Kind, res.Left)
					}
				}
				return res, h.ID
			}},
		{name: "a spent budget refuses even the right code", want: Exhausted, attempt: testMaxAttempts + 1, heldStays: false, abandon: "attempts_exhausted",
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "alice")
				for range testMaxAttempts {
					e.eph.HeldAttempt(ctx, h.ID)
				}
				return e.checker.Check(ctx, e.attempt(h, e.totp, e.code(0))), h.ID
			}},
		{name: "user ban on the failure that reaches the limit", want: Banned, attempt: 3, heldStays: false, abandon: "banned",
			run: func(e *checkEnv) (Result, string) {
				e.checker.Regulator = &regulate.Regulator{Counters: e.eph, User: testLimit, Now: e.clock.Now}
				h := e.hold("h", "alice")
				var res Result
				for range 3 {
					res = e.checker.Check(ctx, e.attempt(h, e.totp, e.wrongCode()))
				}
				return res, h.ID
			}},
		{name: "a banned user's right code is refused", want: Banned, attempt: 1, heldStays: false, abandon: "banned",
			run: func(e *checkEnv) (Result, string) {
				e.checker.Regulator = &regulate.Regulator{Counters: e.eph, User: testLimit, Now: e.clock.Now}
				e.eph.Ban(ctx, "user:alice", e.clock.Now().Add(time.Hour))
				h := e.hold("h", "alice")
				return e.checker.Check(ctx, e.attempt(h, e.totp, e.code(0))), h.ID
			}},
		{name: "held login gone", want: Expired, attempt: 0,
			run: func(e *checkEnv) (Result, string) {
				h := &store.Held{ID: "gone", User: "alice"}
				return e.checker.Check(ctx, e.attempt(h, e.totp, e.code(0))), h.ID
			}},
		{name: "held login expired", want: Expired, attempt: 0,
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "alice")
				e.clock.Advance(6 * time.Minute)
				return e.checker.Check(ctx, e.attempt(h, e.totp, e.code(0))), h.ID
			}},
		{name: "not enrolled, nothing counted", want: NotEnrolled, attempt: 0, heldStays: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "bob")
				return e.checker.Check(ctx, e.attempt(h, e.totp, e.code(0))), h.ID
			}},
		{name: "secret does not open", want: Unavailable, attempt: 0, heldStays: true,
			run: func(e *checkEnv) (Result, string) {
				other, _ := seal.New([][]byte{bytes.Repeat([]byte{9}, 32)}, nil)
				m := e.totp
				m.sealer = other
				h := e.hold("h", "alice")
				return e.checker.Check(ctx, e.attempt(h, m, e.code(0))), h.ID
			}},
		{name: "store down while counting", want: Unavailable, attempt: 0, heldStays: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "alice")
				e.checker.Store = failingStore{e.eph}
				return e.checker.Check(ctx, e.attempt(h, e.recovery, e.recCodes[0])), h.ID
			}},
		{name: "recovery accepted", want: Accepted, attempt: 1, left: 4, heldStays: true, verified: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "alice")
				res := e.checker.Check(ctx, e.attempt(h, e.recovery, e.recCodes[1]))
				if res.Proof.Remaining != 1 || res.Factor != factorRecovery {
					e.t.Errorf("remaining %d, factor %q", res.Proof.Remaining, res.Factor)
				}
				return res, h.ID
			}},
		{name: "recovery code used before", want: Wrong, attempt: 1, left: 4, heldStays: true,
			run: func(e *checkEnv) (Result, string) {
				first := e.hold("first", "alice")
				e.checker.Check(ctx, e.attempt(first, e.recovery, e.recCodes[0]))
				h := e.hold("h", "alice")
				return e.checker.Check(ctx, e.attempt(h, e.recovery, e.recCodes[0])), h.ID
			}},
		{name: "recovery code of another shape", want: Wrong, attempt: 1, left: 4, heldStays: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "alice")
				return e.checker.Check(ctx, e.attempt(h, e.recovery, "not a code!")), h.ID
			}},
		{name: "sms accepted", want: Accepted, attempt: 1, left: 4, heldStays: true, verified: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.holdSMS("h", "bob", "123456")
				return e.checker.Check(ctx, e.attempt(h, e.sms, "123 456")), h.ID
			}},
		{name: "sms wrong", want: Wrong, attempt: 1, left: 4, heldStays: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.holdSMS("h", "bob", "123456")
				res := e.checker.Check(ctx, e.attempt(h, e.sms, "654321"))
				if res.Proof.SMS != store.SMSWrong || res.Proof.Detail != "wrong" {
					e.t.Errorf("sms result %v %q", res.Proof.SMS, res.Proof.Detail)
				}
				return res, h.ID
			}},
		{name: "sms code expired", want: Wrong, attempt: 1, left: 4, heldStays: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.holdSMS("h", "bob", "123456")
				e.clock.Advance(2 * time.Minute)
				res := e.checker.Check(ctx, e.attempt(h, e.sms, "123456"))
				if res.Proof.SMS != store.SMSExpired {
					e.t.Errorf("sms result %v", res.Proof.SMS)
				}
				return res, h.ID
			}},
		{name: "confirm fails: not verified", want: Unavailable, attempt: 1, heldStays: true,
			run: func(e *checkEnv) (Result, string) {
				h := e.hold("h", "alice")
				a := e.attempt(h, e.totp, e.code(0))
				a.Confirm = func(context.Context, Proof) error { return errRefused }
				res := e.checker.Check(ctx, a)
				if !errors.Is(res.Err, errRefused) {
					e.t.Errorf("err %v", res.Err)
				}
				return res, h.ID
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
			res, id := tc.run(e)
			if res.Kind != tc.want {
				t.Fatalf("kind %v, want %v (err %v)", res.Kind, tc.want, res.Err)
			}
			if res.Attempt != tc.attempt {
				t.Errorf("attempt %d, want %d", res.Attempt, tc.attempt)
			}
			if tc.want == Wrong && res.Left != tc.left {
				t.Errorf("left %d, want %d", res.Left, tc.left)
			}
			if tc.want == Banned && !res.Until.After(e.clock.Now()) {
				t.Errorf("ban until %v", res.Until)
			}
			h := e.heldState(id)
			if (h != nil) != tc.heldStays {
				t.Fatalf("held login there: %v, want %v", h != nil, tc.heldStays)
			}
			if h != nil {
				if !h.Verified.IsZero() != tc.verified {
					t.Errorf("verified %v, want %v", h.Verified, tc.verified)
				}
				if h.Attempts != tc.attempt {
					t.Errorf("held attempts %d, want %d", h.Attempts, tc.attempt)
				}
			}
			if got := e.abandonReason(id); got != tc.abandon {
				t.Errorf("abandoned %q, want %q", got, tc.abandon)
			}
		})
	}
}

// afterUse submits code for a held login after another sign-in of alice
// used the current step.
func (e *checkEnv) afterUse(code string) (Result, string) {
	ctx := context.Background()
	first := e.hold("first", "alice")
	if res := e.checker.Check(ctx, e.attempt(first, e.totp, e.code(0))); res.Kind != Accepted {
		e.t.Fatalf("first use: %v", res.Kind)
	}
	h := e.hold("h", "alice")
	return e.checker.Check(ctx, e.attempt(h, e.totp, code)), h.ID
}

// holdSMS holds a login for user with a text-message code sent a moment
// ago, valid for a minute.
func (e *checkEnv) holdSMS(id, user, code string) *store.Held {
	e.t.Helper()
	e.hold(id, user)
	now := e.clock.Now()
	if err := e.eph.SetHeldSMS(context.Background(), id, "+447400123456", testSMSHash(id, code, nil), now, now.Add(time.Minute)); err != nil {
		e.t.Fatal(err)
	}
	h, err := e.eph.Held(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// failingStore fails every counting call.
type failingStore struct{ CheckStore }

var errDown = errors.New("store down")

func (failingStore) HeldAttempt(context.Context, string) (int, error) { return 0, errDown }
func (failingStore) Hit(context.Context, string, time.Time, time.Duration) (int, error) {
	return 0, errDown
}

// TestCheckStepUp: without a held login the budget key is counted, a
// wrong code leaves nothing to end, and the budget runs out.
func TestCheckStepUp(t *testing.T) {
	ctx := context.Background()
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	a := Attempt{User: "alice", Budget: "step-up:s1", Method: e.totp, ClientIP: "192.0.2.1"}
	for i := 1; i <= testMaxAttempts; i++ {
		a.Code = e.wrongCode()
		if res := e.checker.Check(ctx, a); res.Kind != Wrong || res.Attempt != i {
			t.Fatalf("wrong code %d: %v, attempt %d", i, res.Kind, res.Attempt)
		}
	}
	a.Code = e.code(0)
	if res := e.checker.Check(ctx, a); res.Kind != Exhausted {
		t.Fatalf("right code after the budget: %v", res.Kind)
	}
	// Another session has its own budget; the step is used once.
	b := Attempt{User: "alice", Budget: "step-up:s2", Method: e.totp, Code: e.code(0)}
	if res := e.checker.Check(ctx, b); res.Kind != Accepted {
		t.Fatalf("other session: %v", res.Kind)
	}
	if res := e.checker.Check(ctx, b); res.Kind != Replayed {
		t.Fatalf("same code again: %v", res.Kind)
	}
	b.User = "bob"
	if res := e.checker.Check(ctx, b); res.Kind != NotEnrolled {
		t.Fatalf("user without enrollment: %v", res.Kind)
	}
}

// TestCheckRegulatorOutcomes: only failures count against the user and
// the address; a right code clears the user's failures.
func TestCheckRegulatorOutcomes(t *testing.T) {
	ctx := context.Background()
	e := newCheckEnv(t, testLimit, testLimit)
	h := e.hold("h", "alice")
	for range 2 {
		if res := e.checker.Check(ctx, e.attempt(h, e.totp, e.wrongCode())); res.Kind != Wrong {
			t.Fatalf("wrong code: %v", res.Kind)
		}
	}
	if res := e.checker.Check(ctx, e.attempt(h, e.totp, e.code(0))); res.Kind != Accepted {
		t.Fatalf("right code: %v", res.Kind)
	}
	// The address kept its two failures: the next one from it is a ban.
	// The user's were forgotten, so the ban is the address's alone.
	h2 := e.hold("h2", "alice")
	e.clock.Advance(30 * time.Second)
	res := e.checker.Check(ctx, e.attempt(h2, e.totp, e.wrongCode()))
	if res.Kind != Banned {
		t.Fatalf("address at its limit: %v", res.Kind)
	}
	if until, banned, _ := e.eph.BannedUntil(ctx, "ip:192.0.2.1", e.clock.Now()); !banned || !until.Equal(res.Until) {
		t.Fatalf("ip ban %v %v, result until %v", banned, until, res.Until)
	}
	if _, banned, _ := e.eph.BannedUntil(ctx, "user:alice", e.clock.Now()); banned {
		t.Fatal("user banned: the right code did not clear the user's failures")
	}
}

// countingMethod counts the codes a method was asked to verify.
type countingMethod struct {
	Method
	n *atomic.Int64
}

func (m countingMethod) Verify(ctx context.Context, a Attempt) (Proof, error) {
	m.n.Add(1)
	return m.Method.Verify(ctx, a)
}

// barrierMethod is a TOTP method whose callers wait after the free look
// until all have looked.
type barrierMethod struct {
	totpMethod
	looked *sync.WaitGroup
}

func (m barrierMethod) Precheck(ctx context.Context, a Attempt) (Proof, error) {
	p, err := m.totpMethod.Precheck(ctx, a)
	m.looked.Done()
	m.looked.Wait()
	return p, err
}

// race runs f(0) ... f(n-1) at once and counts the kinds they return.
func race(n int, f func(i int) Kind) map[Kind]int {
	kinds := make([]Kind, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kinds[i] = f(i)
		}()
	}
	wg.Wait()
	count := map[Kind]int{}
	for _, k := range kinds {
		count[k]++
	}
	return count
}

// TestCheckConcurrentSameTOTP: the same right code submitted at once for
// several held logins of a user is accepted exactly once; the others are
// replays, and neither the winner nor the replays count against the
// address.
func TestCheckConcurrentSameTOTP(t *testing.T) {
	ctx := context.Background()
	// Limits above the number of racers: every attempt is reserved before
	// its code is looked at, so lower ones would ban the racers.
	wide := regulate.Limit{MaxFailures: 20, Window: 10 * time.Minute, Ban: 15 * time.Minute}
	e := newCheckEnv(t, wide, wide)
	code := e.code(0)
	const n = 10
	// Every racer passes the free look before any uses the step: the race
	// is decided where the step is used.
	var looked sync.WaitGroup
	looked.Add(n)
	m := barrierMethod{e.totp, &looked}
	var hs []*store.Held
	for i := range n {
		hs = append(hs, e.hold(fmt.Sprintf("h%d", i), "alice"))
	}
	kinds := race(n, func(i int) Kind { return e.checker.Check(ctx, e.attempt(hs[i], m, code)).Kind })
	if kinds[Accepted] != 1 || kinds[Replayed] != n-1 {
		t.Fatalf("results %v, want 1 accepted and %d replayed", kinds, n-1)
	}
	if n, _ := e.eph.Hit(ctx, "ip:192.0.2.1", e.clock.Now(), time.Hour); n != 1 {
		t.Fatalf("address count %d after a success and replays, want 0", n-1)
	}
	if acc, rep := len(e.events.named("code_accepted")), len(e.events.named("code_replayed")); acc != 1 || rep != n-1 {
		t.Fatalf("audit events: %d code_accepted, %d code_replayed", acc, rep)
	}
}

// TestCheckConcurrentSameTOTPOneLogin: two submissions of one code for the
// same held login: one accepted, the other a replay.
func TestCheckConcurrentSameTOTPOneLogin(t *testing.T) {
	ctx := context.Background()
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	h := e.hold("h", "alice")
	code := e.code(0)
	kinds := race(2, func(int) Kind { return e.checker.Check(ctx, e.attempt(h, e.totp, code)).Kind })
	if kinds[Accepted] != 1 || kinds[Replayed] != 1 {
		t.Fatalf("results %v, want one accepted, one replayed", kinds)
	}
	if got := e.heldState("h"); got == nil || got.Verified.IsZero() {
		t.Fatal("held login not verified")
	}
}

// TestCheckConcurrentWrongCodes: many wrong codes at once never verify
// more codes than the held login's budget, or, spread over several held
// logins, than the user's limit.
func TestCheckConcurrentWrongCodes(t *testing.T) {
	ctx := context.Background()
	t.Run("one held login", func(t *testing.T) {
		e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
		var checked atomic.Int64
		m := countingMethod{e.totp, &checked}
		h := e.hold("h", "alice")
		wrong := e.wrongCode()
		kinds := race(50, func(int) Kind { return e.checker.Check(ctx, e.attempt(h, m, wrong)).Kind })
		if n := checked.Load(); n > testMaxAttempts || n == 0 {
			t.Fatalf("%d codes verified, want 1..%d", n, testMaxAttempts)
		}
		if kinds[Exhausted] == 0 || e.heldState("h") != nil || e.abandonReason("h") != "attempts_exhausted" {
			t.Fatalf("held login not ended: %v", kinds)
		}
	})
	t.Run("one user, ten held logins", func(t *testing.T) {
		e := newCheckEnv(t, testLimit, regulate.Limit{})
		var checked atomic.Int64
		m := countingMethod{e.totp, &checked}
		wrong := e.wrongCode()
		var hs []*store.Held
		for i := range 10 {
			hs = append(hs, e.hold(fmt.Sprintf("h%d", i), "alice"))
		}
		kinds := race(50, func(i int) Kind { return e.checker.Check(ctx, e.attempt(hs[i%10], m, wrong)).Kind })
		if n := checked.Load(); n > int64(testLimit.MaxFailures) || n == 0 {
			t.Fatalf("%d codes verified, want 1..%d", n, testLimit.MaxFailures)
		}
		if kinds[Accepted] != 0 || kinds[Banned] == 0 {
			t.Fatalf("results %v", kinds)
		}
	})
}

// TestCheckConcurrentRecoveryCode: one recovery code used by several
// sign-ins at once: one wins.
func TestCheckConcurrentRecoveryCode(t *testing.T) {
	ctx := context.Background()
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	const n = 8
	var hs []*store.Held
	for i := range n {
		hs = append(hs, e.hold(fmt.Sprintf("h%d", i), "alice"))
	}
	kinds := race(n, func(i int) Kind { return e.checker.Check(ctx, e.attempt(hs[i], e.recovery, e.recCodes[0])).Kind })
	if kinds[Accepted] != 1 || kinds[Wrong] != n-1 {
		t.Fatalf("results %v, want 1 accepted, %d wrong", kinds, n-1)
	}
	enr, err := e.dur.Enrollment(ctx, "alice")
	if err != nil || len(enr.RecoveryHashes) != 1 {
		t.Fatalf("unused recovery codes %d (%v), want 1", len(enr.RecoveryHashes), err)
	}
}

// TestCheckAuditEvents: the checker writes each outcome's event once,
// with the factor that decided.
func TestCheckAuditEvents(t *testing.T) {
	ctx := context.Background()
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	h := e.hold("h", "alice")
	e.checker.Check(ctx, e.attempt(h, e.totp, e.wrongCode()))
	e.checker.Check(ctx, e.attempt(h, e.recovery, e.recCodes[0]))
	for ev, n := range map[string]int{"code_rejected": 1, "recovery_code_used": 1, "code_accepted": 0, "attempts_exhausted": 0} {
		if got := len(e.events.named(ev)); got != n {
			t.Errorf("%s logged %d times, want %d", ev, got, n)
		}
	}
	rej := e.events.named("code_rejected")
	if len(rej) == 1 {
		want := map[string]string{"factor": "totp", "user": "alice", "attempt": "1", "remote_ip": "192.0.2.1", "user_agent": "test"}
		for k, v := range want {
			if rej[0][k] != v {
				t.Errorf("rejection %s=%q, want %q", k, rej[0][k], v)
			}
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Accepted: "accepted", Unavailable: "unavailable", Kind(99): "Kind(99)"} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", int(k), got, want)
		}
	}
}

// enrolledOnlyInVerify finds the user not enrolled only once asked to
// verify (as the JSON protocol's method does, after the count).
type enrolledOnlyInVerify struct{}

func (enrolledOnlyInVerify) Factor() string { return "parse" }
func (enrolledOnlyInVerify) Verify(context.Context, Attempt) (Proof, error) {
	return Proof{}, errNotEnrolled
}

// TestCheckNotEnrolledAfterCount: codes sent for a user with nothing to
// check, found only after the count, are failures for the regulator, so
// a client that keeps sending them earns a ban like any guesser.
func TestCheckNotEnrolledAfterCount(t *testing.T) {
	ctx := context.Background()
	e := newCheckEnv(t, testLimit, regulate.Limit{})
	h := e.hold("h", "bob")
	var kinds []Kind
	for range testLimit.MaxFailures {
		kinds = append(kinds, e.checker.Check(ctx, e.attempt(h, enrolledOnlyInVerify{}, "000000")).Kind)
	}
	for i, k := range kinds[:testLimit.MaxFailures-1] {
		if k != NotEnrolled {
			t.Fatalf("attempt %d: %v (all: %v)", i+1, k, kinds)
		}
	}
	if last := kinds[testLimit.MaxFailures-1]; last != Banned {
		t.Fatalf("failure %d: %v (all: %v)", testLimit.MaxFailures, last, kinds)
	}
	if e.abandonReason("h") != "banned" {
		t.Fatalf("held login ended %q, want banned", e.abandonReason("h"))
	}
	if _, banned, _ := e.eph.BannedUntil(ctx, "user:bob", e.clock.Now()); !banned {
		t.Fatal("bob is not banned")
	}
}
