package enroll

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/store/memory"
)

var (
	key1 = []byte("0123456789abcdef0123456789abcdef")
	key2 = []byte("fedcba9876543210fedcba9876543210")
	t0   = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
)

func invites(t *testing.T, keys ...[]byte) *Invites {
	t.Helper()
	iv, err := NewInvites(keys, memory.New(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	return iv
}

func TestDecide(t *testing.T) {
	iv := invites(t, key1)
	alice, _, _ := iv.Issue("alice", t0, 72*time.Hour)
	expired, _, _ := iv.Issue("alice", t0.Add(-73*time.Hour), 72*time.Hour)
	other, _ := NewInvites([][]byte{key2}, nil)
	forged, _, _ := other.Issue("alice", t0, time.Hour)
	nets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	closes := t0.Add(time.Hour)
	cases := []struct {
		name   string
		p      *Policy
		q      Request
		allow  bool
		via    string
		reason string
	}{
		{"nil policy is open", nil, Request{User: "alice"}, true, "open", ""},
		{"open", &Policy{Mode: "open"}, Request{User: "alice"}, true, "open", ""},
		{"open before open_until", &Policy{Mode: "open", OpenUntil: closes}, Request{User: "alice", Now: t0}, true, "open", ""},
		{"open at open_until", &Policy{Mode: "open", OpenUntil: closes}, Request{User: "alice", Now: closes}, false, "", "closed"},
		{"invite without one", &Policy{Mode: "invite", Invites: iv}, Request{User: "alice", Now: t0}, false, "", "invite_required"},
		{"invite valid", &Policy{Mode: "invite", Invites: iv}, Request{User: "alice", Invite: alice, Now: t0}, true, "invite", ""},
		{"invite for another user", &Policy{Mode: "invite", Invites: iv}, Request{User: "bob", Invite: alice, Now: t0}, false, "", "invite_other_user"},
		{"invite expired", &Policy{Mode: "invite", Invites: iv}, Request{User: "alice", Invite: expired, Now: t0}, false, "", "invite_expired"},
		{"invite signed with another key", &Policy{Mode: "invite", Invites: iv}, Request{User: "alice", Invite: forged, Now: t0}, false, "", "invite_invalid"},
		{"invite tampered", &Policy{Mode: "invite", Invites: iv}, Request{User: "alice", Invite: alice[:len(alice)-4] + "AAAA", Now: t0}, false, "", "invite_invalid"},
		{"invite after open_until still works", &Policy{Mode: "open", OpenUntil: closes, Invites: iv}, Request{User: "alice", Invite: alice, Now: closes}, true, "invite", ""},
		{"networks inside v4", &Policy{Mode: "networks", Networks: nets}, Request{User: "alice", ClientIP: "10.1.2.3", Now: t0}, true, "networks", ""},
		{"networks inside v4-mapped", &Policy{Mode: "networks", Networks: nets}, Request{User: "alice", ClientIP: "::ffff:10.1.2.3", Now: t0}, true, "networks", ""},
		{"networks inside v6", &Policy{Mode: "networks", Networks: nets}, Request{User: "alice", ClientIP: "2001:db8::5", Now: t0}, true, "networks", ""},
		{"networks outside", &Policy{Mode: "networks", Networks: nets}, Request{User: "alice", ClientIP: "192.0.2.1", Now: t0}, false, "", "network"},
		{"networks unparsable address", &Policy{Mode: "networks", Networks: nets}, Request{User: "alice", ClientIP: "", Now: t0}, false, "", "network"},
		{"networks outside with an invite", &Policy{Mode: "networks", Networks: nets, Invites: iv}, Request{User: "alice", ClientIP: "192.0.2.1", Invite: alice, Now: t0}, true, "invite", ""},
		{"open ignores a bad invite", &Policy{Mode: "open", Invites: iv}, Request{User: "bob", Invite: alice, Now: t0}, true, "open", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.p.Decide(tc.q)
			if v.Allowed != tc.allow || v.Via != tc.via || v.Reason != tc.reason {
				t.Fatalf("Decide = %+v, want allowed=%v via=%q reason=%q", v, tc.allow, tc.via, tc.reason)
			}
			if (v.Via == "invite") != (v.Invite != nil) {
				t.Fatalf("invite verdict without its invitation: %+v", v)
			}
		})
	}
}

func TestInviteTokens(t *testing.T) {
	iv := invites(t, key1)
	tok, inv, err := iv.Issue("alice", t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok, "alice") || len(tok) > 300 {
		t.Errorf("token shows the user or is long (%d): %s", len(tok), tok)
	}
	got, err := iv.Read(tok, t0.Add(59*time.Minute))
	if err != nil || got != inv {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	if _, err := iv.Read(tok, t0.Add(time.Hour)); err != ErrExpired {
		t.Errorf("at expiry: %v", err)
	}
	// Rotation: a token made with the old first key still reads.
	rotated := invites(t, key2, key1)
	if _, err := rotated.Read(tok, t0); err != nil {
		t.Errorf("after rotation: %v", err)
	}
	if _, err := invites(t, key2).Read(tok, t0); err != ErrInvalid {
		t.Errorf("without the key: %v", err)
	}
	// The gate cookie's codec can't read it, nor it a token of another name.
	if _, err := iv.Read(strings.Repeat("A", 2000), t0); err != ErrInvalid {
		t.Errorf("oversized: %v", err)
	}
	two, inv2, _ := iv.Issue("alice", t0, time.Hour)
	if two == tok || inv2.Nonce == inv.Nonce {
		t.Error("two invitations share a token or nonce")
	}
}

// TestInviteClaimOnce: of many concurrent claims exactly one wins, and
// later ones fail; IsUsed sees it.
func TestInviteClaimOnce(t *testing.T) {
	iv := invites(t, key1)
	_, inv, _ := iv.Issue("alice", t0, time.Hour)
	ctx := context.Background()
	if used, err := iv.IsUsed(ctx, inv, t0); used || err != nil {
		t.Fatalf("fresh invitation used=%v err=%v", used, err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := iv.Claim(ctx, inv, t0); err == nil {
				wins.Add(1)
			} else if err != ErrUsed {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d claims won, want 1", wins.Load())
	}
	if err := iv.Claim(ctx, inv, t0.Add(50*time.Minute)); err != ErrUsed {
		t.Errorf("later claim: %v", err)
	}
	if used, _ := iv.IsUsed(ctx, inv, t0.Add(50*time.Minute)); !used {
		t.Error("IsUsed does not see the claim")
	}
	noStore, _ := NewInvites([][]byte{key1}, nil)
	if err := noStore.Claim(ctx, inv, t0); err == nil {
		t.Error("claim without a store succeeded")
	}
}
