package cookieguard

import (
	"errors"
	"regexp"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	public := []PathRule{{Prefix: "/static/"}}
	stepUp := []StepUpRule{{Rule: PathRule{Prefix: "/admin/"}, MaxAge: 10 * time.Minute}}
	form := Rules{Bypass: public, StepUp: stepUp, UserField: true}
	basic := Rules{Bypass: public, Basic: true, UserField: true}
	creds := Rules{UserField: true, CredentialParams: true}
	answerNames := Rules{} // the user comes only from the app's answer
	get := func(path string) Facts { return Facts{Method: "GET", Path: path, Canonical: true} }
	with := func(f Facts, change func(*Facts)) Facts { change(&f); return f }
	released := func(f Facts) Facts { f.Released, f.Sessions = true, true; return f }

	cases := []struct {
		name  string
		facts Facts
		rules Rules
		want  Decision
	}{
		{"anonymous request forwarded as is", get("/"), form, Decision{}},
		{"released session forwarded as its user", released(get("/account")), form, Decision{Released: true}},
		{"released session on a non-canonical path refused",
			with(released(get("/a/../admin")), func(f *Facts) { f.Canonical = false }), form, Decision{Action: RefusePath}},
		{"unreleased session on a non-canonical path: cookies stripped",
			with(get("/a/../admin"), func(f *Facts) { f.Canonical, f.Sessions = false, true }), form, Decision{Cookies: StripCookies}},
		{"unreleased session cookies stripped", with(get("/account"), func(f *Facts) { f.Sessions = true }), form, Decision{Cookies: StripCookies}},
		{"unreleased session cookies kept on a public path", with(get("/static/app.css"), func(f *Facts) { f.Sessions = true }), form, Decision{}},
		{"public path is case-sensitive", with(get("/STATIC/app.css"), func(f *Facts) { f.Sessions = true }), form, Decision{Cookies: StripCookies}},
		{"browser with a pending challenge sent to its code page",
			with(get("/account"), func(f *Facts) { f.Sessions, f.WantsPage, f.Pending = true, true, true }), form, Decision{Action: ToPending}},
		{"pending challenge but no page wanted: stripped",
			with(get("/api"), func(f *Facts) { f.Sessions, f.Pending = true, true }), form, Decision{Cookies: StripCookies}},
		{"upgrade without a released session refused", with(get("/ws"), func(f *Facts) { f.Upgrade = true }), form, Decision{Action: RefuseUpgrade}},
		{"upgrade on a public path passes", with(get("/static/ws"), func(f *Facts) { f.Upgrade = true }), form, Decision{}},
		{"upgrade of a released session passes", with(released(get("/ws")), func(f *Facts) { f.Upgrade = true }), form, Decision{Released: true}},
		{"upgrade refused before its login request is read",
			with(get("/login"), func(f *Facts) { f.Upgrade, f.LoginRoute, f.LoginTooLarge = true, true, true }), form, Decision{Action: RefuseUpgrade}},
		{"login attempt", with(get("/login"), func(f *Facts) { f.LoginRoute, f.LoginUser = true, "alice" }), form,
			Decision{Login: FormLogin, User: "alice"}},
		{"login attempt keeps only marked pre-login cookies",
			with(get("/login"), func(f *Facts) { f.LoginRoute, f.LoginUser, f.Sessions = true, "alice", true }), form,
			Decision{Login: FormLogin, User: "alice", Cookies: PreLoginCookies}},
		{"login route request naming no user is no login", with(get("/login"), func(f *Facts) { f.LoginRoute = true }), form, Decision{}},
		{"login route without a user field: the answer names the user",
			with(get("/login"), func(f *Facts) { f.LoginRoute = true }), answerNames, Decision{Login: FormLogin}},
		{"login body too large", with(get("/login"), func(f *Facts) { f.LoginRoute, f.LoginTooLarge = true, true }), form, Decision{Action: LoginTooLarge}},
		{"login body unreadable", with(get("/login"), func(f *Facts) { f.LoginRoute, f.LoginErr = true, errors.New("reset") }), form,
			Decision{Action: LoginUnreadable}},
		{"ambiguous login refused", with(get("/login"), func(f *Facts) { f.LoginRoute, f.LoginRefused = true, "user field twice" }), form,
			Decision{Action: LoginAmbiguous, Reason: "user field twice"}},
		{"login facts ignored off a login route", with(get("/x"), func(f *Facts) { f.LoginTooLarge = true }), form, Decision{}},
		{"logout of a session watched", with(released(get("/logout")), func(f *Facts) { f.LogoutRoute = true }), form,
			Decision{Released: true, Logout: true}},
		{"logout without a session not watched", with(get("/logout"), func(f *Facts) { f.LogoutRoute = true }), form, Decision{}},
		{"logout of a stripped session not watched", with(get("/logout"), func(f *Facts) { f.LogoutRoute, f.Sessions = true, true }), form,
			Decision{Cookies: StripCookies}},
		{"logout on a public path with an unreleased session watched",
			with(get("/static/logout"), func(f *Facts) { f.LogoutRoute, f.Sessions = true, true }), form, Decision{Logout: true}},
		{"step-up path with an old second factor",
			with(released(get("/admin/users")), func(f *Facts) { f.Age = 11 * time.Minute }), form, Decision{Action: ToStepUp}},
		{"step-up path with a fresh second factor",
			with(released(get("/admin/users")), func(f *Facts) { f.Age = 9 * time.Minute }), form, Decision{Released: true}},
		{"step-up path folded (case, slashes)",
			with(released(get("/ADMIN//users")), func(f *Facts) { f.Age = time.Hour }), form, Decision{Action: ToStepUp}},
		{"Authorization not bound to a session removed", with(get("/"), func(f *Facts) { f.Authorization = true }), form,
			Decision{Authorization: UnboundAuthorization}},
		{"Authorization of a released session removed outside Basic mode",
			with(released(get("/")), func(f *Facts) { f.Authorization = true }), form, Decision{Released: true, Authorization: AppAuthorization}},
		{"Basic: unbound credentials on GET are a login",
			with(get("/"), func(f *Facts) { f.Authorization, f.Basic, f.Sessions, f.BasicUser = true, true, true, "bob" }), basic,
			Decision{Login: BasicLogin, User: "bob", Cookies: PreLoginCookies}},
		{"Basic: bound credentials pass",
			with(released(get("/")), func(f *Facts) { f.Authorization, f.Basic = true, true }), basic, Decision{Released: true}},
		{"Basic: unbound credentials on POST removed",
			with(get("/"), func(f *Facts) {
				f.Method, f.Authorization, f.Basic, f.Sessions, f.BasicUser = "POST", true, true, true, "bob"
			}), basic,
			Decision{Authorization: UnboundAuthorization, Cookies: StripCookies}},
		{"Basic: unreadable credentials refused",
			with(get("/"), func(f *Facts) {
				f.Authorization, f.Basic, f.Sessions, f.BasicErr = true, true, true, errors.New("not base64")
			}), basic,
			Decision{Action: LoginAmbiguous, Reason: "not base64"}},
		{"Basic: browser with a pending challenge sent to its code page",
			with(get("/"), func(f *Facts) {
				f.Authorization, f.Basic, f.Sessions, f.WantsPage, f.Pending = true, true, true, true, true
			}), basic,
			Decision{Action: ToPending}},
		{"Basic: pending challenge, no page wanted: no second login",
			with(get("/"), func(f *Facts) {
				f.Authorization, f.Basic, f.Sessions, f.Pending, f.BasicUser = true, true, true, true, "bob"
			}), basic,
			Decision{Authorization: UnboundAuthorization, Cookies: StripCookies}},
		{"Basic: a form login wins over the credentials",
			with(get("/login"), func(f *Facts) {
				f.Authorization, f.Basic, f.Sessions, f.LoginRoute, f.LoginUser, f.BasicUser = true, true, true, true, "alice", "bob"
			}), basic,
			Decision{Login: FormLogin, User: "alice", Authorization: UnboundAuthorization, Cookies: PreLoginCookies}},
		{"credential parameters stripped outside a login", get("/doku.php"), creds, Decision{StripCredentials: true}},
		{"credential parameters reach a form login",
			with(get("/login"), func(f *Facts) { f.LoginRoute, f.LoginUser = true, "alice" }), creds,
			Decision{Login: FormLogin, User: "alice", StripCredentials: true, CredentialLogin: true}},
		{"cookie stage pending redirect keeps its removals",
			with(get("/doku.php"), func(f *Facts) { f.Sessions, f.WantsPage, f.Pending, f.Authorization = true, true, true, true }), creds,
			Decision{Action: ToPending, Authorization: UnboundAuthorization, StripCredentials: true}},
		{"method-restricted public path",
			with(get("/hook"), func(f *Facts) { f.Method, f.Sessions = "POST", true }),
			Rules{Bypass: []PathRule{{Pattern: regexp.MustCompile("^/hook$"), Methods: []string{"GET"}}}},
			Decision{Cookies: StripCookies}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(&tc.facts, &tc.rules); got != tc.want {
				t.Errorf("Decide =\n %+v, want\n %+v", got, tc.want)
			}
		})
	}
}

// BenchmarkDecide is the decision alone for a released browser request.
func BenchmarkDecide(b *testing.B) {
	f := Facts{Method: "GET", Path: "/account/settings", Canonical: true, Released: true, Sessions: true, WantsPage: true}
	rules := Rules{Bypass: []PathRule{{Prefix: "/static/"}}, StepUp: []StepUpRule{{Rule: PathRule{Prefix: "/admin/"}, MaxAge: time.Minute}}, UserField: true}
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(&f, &rules); !d.Released {
			b.Fatal("not released")
		}
	}
}

// TestFoldPath: case and repeated slashes fold; a folded path (a trailing
// slash included) comes back as it is, without allocating.
func TestFoldPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/admin/", "/admin/"},
		{"/Admin//Users", "/admin/users"},
		{"//x", "/x"},
		{"/", "/"},
		{"", ""},
	} {
		if got := foldPath(tc.in); got != tc.want {
			t.Errorf("foldPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { foldPath("/admin/settings/") }); n != 0 {
		t.Errorf("folding a folded path allocates %v times", n)
	}
}
