package revoked

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestView(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	k := [32]byte{1}
	cases := []struct {
		name   string
		adds   [][2]time.Duration // at, until after t0
		after  time.Duration      // clock moved by
		wantAt time.Duration
		wantOK bool
	}{
		{"never revoked", nil, 0, 0, false},
		{"revoked", [][2]time.Duration{{0, time.Hour}}, time.Minute, 0, true},
		{"lapsed", [][2]time.Duration{{0, time.Hour}}, time.Hour, 0, false},
		{"later at wins, in either order", [][2]time.Duration{{2 * time.Minute, time.Hour}, {time.Minute, time.Hour}}, 0, 2 * time.Minute, true},
		{"later until wins: an earlier end does not shorten", [][2]time.Duration{{0, 2 * time.Hour}, {time.Minute, time.Hour}}, 90 * time.Minute, time.Minute, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t0}
			v := New(c.now)
			for _, a := range tc.adds {
				v.Add(k, t0.Add(a[0]), t0.Add(a[1]))
			}
			c.t = t0.Add(tc.after)
			at, ok := v.RevokedAt(k)
			if ok != tc.wantOK || (ok && !at.Equal(t0.Add(tc.wantAt))) {
				t.Errorf("RevokedAt = %v, %v; want %v, %v", at, ok, t0.Add(tc.wantAt), tc.wantOK)
			}
			if _, ok := v.RevokedAt([32]byte{2}); ok {
				t.Error("another key is revoked")
			}
		})
	}
}

// TestPruning: lapsed revocations leave memory every SweepEvery additions
// and on Prune; live ones stay.
func TestPruning(t *testing.T) {
	c := &clock{time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	v := New(c.now)
	for i := range SweepEvery - 1 {
		v.Add([32]byte{byte(i), 1}, c.t, c.t.Add(time.Minute))
	}
	if v.Len() != SweepEvery-1 {
		t.Fatalf("premise: %d kept, want %d", v.Len(), SweepEvery-1)
	}
	c.t = c.t.Add(time.Hour)
	v.Add([32]byte{0, 2}, c.t, c.t.Add(time.Minute)) // the SweepEvery-th addition
	if v.Len() != 1 {
		t.Errorf("after a sweep: %d kept, want the live one", v.Len())
	}
	c.t = c.t.Add(time.Hour)
	v.Prune()
	if v.Len() != 0 {
		t.Errorf("after Prune: %d kept, want 0", v.Len())
	}
}

// TestForget: a revocation read with All is forgotten, unless a later one
// was merged in meanwhile.
func TestForget(t *testing.T) {
	c := &clock{time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	v := New(c.now)
	a, b := [32]byte{1}, [32]byte{2}
	v.Add(a, c.t, c.t.Add(time.Hour))
	v.Add(b, c.t, c.t.Add(time.Hour))
	all := v.All()
	v.Add(b, c.t.Add(time.Second), c.t.Add(time.Hour)) // revoked again
	for k, r := range all {
		v.Forget(k, r)
	}
	if _, ok := v.RevokedAt(a); ok {
		t.Error("a was forgotten but is still revoked")
	}
	if at, ok := v.RevokedAt(b); !ok || !at.Equal(c.t.Add(time.Second)) {
		t.Errorf("b, revoked again meanwhile: %v %v; want kept", at, ok)
	}
}
