package parseguard

import (
	"fmt"
	"testing"
)

func TestDecide(t *testing.T) {
	allow := rules{allowLoginAs: true, allowVerifyPassword: true}
	// ok is a readable request to a REST route, from outside master_key_from.
	ok := func(k kind) facts { return facts{where: rest, route: "x", kind: k} }
	with := func(f facts, change func(*facts)) facts { change(&f); return f }
	for _, tc := range []struct {
		name  string
		f     facts
		rules rules
		want  decision
	}{
		{"query passes", ok(pass), rules{}, decision{}},
		{"GraphQL query passes", facts{where: graphQL, kind: pass}, rules{}, decision{}},
		{"dot segments", facts{dotted: true, where: rest, upgrade: true}, allow, decision{action: refuseDotted}},
		{"not a Parse path", facts{where: elsewhere, upgrade: true}, allow, decision{action: notParse}},
		{"upgrade", with(ok(pass), func(f *facts) { f.upgrade = true }), allow, decision{action: refuseUpgrade}},
		{"body too large", with(ok(login), func(f *facts) { f.readErr = fmt.Errorf("reading: %w", errBodyTooLarge) }), allow, decision{action: refuseTooLarge}},
		{"compressed body", with(ok(login), func(f *facts) { f.readErr = fmt.Errorf("%w: gzip", errEncoding) }), allow, decision{action: refuseEncoding}},
		{"invalid JSON", with(ok(login), func(f *facts) { f.readErr = errBadJSON }), allow, decision{action: refuseJSON}},
		{"upgrade refused before the body is read", with(ok(login), func(f *facts) { f.upgrade, f.readErr = true, errBadJSON }), allow, decision{action: refuseUpgrade}},
		{"master key from outside", with(ok(pass), func(f *facts) { f.master = true }), allow, decision{action: refuseMaster}},
		{"master key refused before its tokens", with(ok(pass), func(f *facts) { f.master, f.token = true, tokenRefused }), allow, decision{action: refuseMaster}},
		{"master key from inside", with(ok(pass), func(f *facts) { f.master, f.masterAllowed = true, true }), rules{}, decision{}},
		{"registry unavailable", with(ok(pass), func(f *facts) { f.token = tokensUnavailable }), allow, decision{action: tokenUnavailable}},
		{"token not released", with(ok(pass), func(f *facts) { f.token = tokenRefused }), allow, decision{action: refuseToken}},
		{"tokens of two users", with(ok(pass), func(f *facts) { f.token = tokensMismatch }), allow, decision{action: refuseMismatch}},
		{"token refused before its route", with(ok(refused), func(f *facts) { f.token = tokenRefused }), allow, decision{action: refuseToken}},
		{"loginAs in a batch", ok(refused), allow, decision{action: refuseBatch}},
		{"loginAs not allowed", with(ok(loginAs), func(f *facts) { f.master, f.masterAllowed = true, true }), rules{}, decision{action: refuseLoginAs}},
		{"loginAs without master key", ok(loginAs), allow, decision{action: refuseLoginAs}},
		{"loginAs allowed", with(ok(loginAs), func(f *facts) { f.master, f.masterAllowed = true, true }), allow, decision{}},
		{"verifyPassword not allowed", ok(verifyPassword), rules{}, decision{action: refuseVerifyPassword}},
		{"verifyPassword allowed is regulated", ok(verifyPassword), allow, decision{regulate: true}},
		{"login is regulated", ok(login), rules{}, decision{regulate: true}},
		{"signed-in session deletion", with(ok(deleteSession), func(f *facts) { f.signedIn = true }), rules{}, decision{deleting: true}},
		{"anonymous session deletion", ok(deleteSession), rules{}, decision{}},
		{"follow passes", with(ok(follow), func(f *facts) { f.signedIn = true }), rules{}, decision{}},
		{"logout passes", ok(logout), rules{}, decision{}},
		{"mint passes", ok(mint), rules{}, decision{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(&tc.f, &tc.rules); got != tc.want {
				t.Errorf("decide(%+v, %+v) = %+v, want %+v", tc.f, tc.rules, got, tc.want)
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	f := facts{where: rest, route: "login", kind: login, signedIn: true}
	r := rules{}
	for b.Loop() {
		if d := decide(&f, &r); !d.regulate {
			b.Fatal(d)
		}
	}
}
