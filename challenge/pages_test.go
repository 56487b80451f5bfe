package challenge

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/regulate"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/sms"
	"github.com/vestibule-gw/vestibule/static"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/templates"
)

// The pages render what the checker decides; server/*_test.go drive them
// through a real proxy. These cases are the ones a browser can't easily
// bring about: a first enrollment racing another sign-in of the same
// user, and a secret that no longer opens.

// racingDurable is the durable store with another sign-in of the user
// enrolling first, just before this one stores its enrollment.
type racingDurable struct {
	store.Durable
	first store.Enrollment
}

func (d racingDurable) EnrollNew(ctx context.Context, e store.Enrollment) error {
	d.Durable.EnrollNew(ctx, d.first)
	return d.Durable.EnrollNew(ctx, e)
}

type silentSender struct{}

func (silentSender) Send(context.Context, sms.Message) error { return nil }
func (silentSender) Name() string                            { return "test" }

// newPages is a Handler over the checkEnv's stores.
func newPages(t *testing.T, e *checkEnv, durable store.Durable) *Handler {
	t.Helper()
	key := bytes.Repeat([]byte{3}, 32)
	codec, err := gate.NewCodec("vestibule", [][]byte{key}, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Prefix: "/.vestibule/", AppName: "Test", Durable: durable, Ephemeral: e.eph, Sealer: e.sealer,
		Cookies: &gate.Issuer{Codec: codec, MaxAge: time.Hour, Now: e.clock.Now}, PendingKeys: [][]byte{key},
		MaxAttempts: testMaxAttempts, Templates: templates.FS, Static: static.FS, Now: e.clock.Now,
		Logger: slog.New(e.events), OnAbandon: e.checker.OnAbandon,
		SMS: &SMSOptions{Sender: silentSender{}, CodeLength: 6, CodeTTL: time.Minute, MaxAttempts: 3, CodeKeys: [][]byte{key}}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// post submits a form of the held login's page with its pending cookie
// and CSRF token.
func post(t *testing.T, h *Handler, held *store.Held, path string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	pc, err := h.pendingCookie(held.ID)
	if err != nil {
		t.Fatal(err)
	}
	get := httptest.NewRequest(http.MethodGet, "/", nil)
	get.AddCookie(pc)
	st, ok := h.state(get)
	if !ok {
		t.Fatal("pending cookie unreadable")
	}
	form.Set("csrf", st.CSRF)
	req := httptest.NewRequest(http.MethodPost, "/.vestibule/"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(pc)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestPagesFirstEnrollmentRace: a right first code whose enrollment loses
// to another sign-in's is sent to the code page, and this login is not
// verified by it.
func TestPagesFirstEnrollmentRace(t *testing.T) {
	for _, tc := range []struct {
		name string
		page string
		// prepare holds bob's login with what confirming needs, and
		// returns the code to submit.
		prepare func(e *checkEnv, h *Handler) (*store.Held, string)
	}{
		{name: "authenticator", page: "enroll", prepare: func(e *checkEnv, h *Handler) (*store.Held, string) {
			held := e.hold("h", "bob")
			sealed, _ := e.sealer.Seal([]byte(fixedSecret), []byte("bob"))
			if err := e.eph.SetHeldEnrollment(context.Background(), held.ID, sealed); err != nil {
				t.Fatal(err)
			}
			return e.heldState(held.ID), e.code(0)
		}},
		{name: "phone", page: "sms", prepare: func(e *checkEnv, h *Handler) (*store.Held, string) {
			held := e.hold("h", "bob")
			now := e.clock.Now()
			if err := e.eph.SetHeldSMS(context.Background(), held.ID, "+447400123456", h.smsHash(held.ID, "123456", nil), now, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			return e.heldState(held.ID), "123456"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
			h := newPages(t, e, racingDurable{e.dur, store.Enrollment{User: "bob", Phone: "+447400999999", CreatedAt: e.clock.Now()}})
			held, code := tc.prepare(e, h)
			w := post(t, h, held, tc.page, url.Values{"code": {code}})
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/.vestibule/verify" {
				t.Fatalf("answer %d to %q, want 303 to the code page", w.Code, w.Header().Get("Location"))
			}
			if got := e.heldState(held.ID); got == nil || !got.Verified.IsZero() {
				t.Fatalf("held login after the lost race: %+v", got)
			}
			if enr, err := e.dur.Enrollment(context.Background(), "bob"); err != nil || enr.Phone != "+447400999999" {
				t.Fatalf("enrollment %+v (%v), want the first one's", enr, err)
			}
		})
	}
}

// TestPagesSecretUnreadable: a TOTP secret that no longer opens answers
// 503, logs secret_unreadable and costs no attempt.
func TestPagesSecretUnreadable(t *testing.T) {
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	h := newPages(t, e, e.dur)
	other, err := seal.New([][]byte{bytes.Repeat([]byte{9}, 32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.totp = totpMethod{store: e.dur, sealer: other, totp: e.totpP, now: e.clock.Now}
	held := e.hold("h", "alice")
	w := post(t, h, held, "verify", url.Values{"code": {e.code(0)}})
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d, want 503", w.Code)
	}
	if n := len(e.events.named("secret_unreadable")); n != 1 {
		t.Fatalf("secret_unreadable logged %d times", n)
	}
	if got := e.heldState(held.ID); got == nil || got.Attempts != 0 {
		t.Fatalf("held login %+v, want it with no attempt", got)
	}
}

// TestPagesWrongAndExhausted: the code page counts down and ends the
// sign-in at the budget.
func TestPagesWrongAndExhausted(t *testing.T) {
	e := newCheckEnv(t, regulate.Limit{}, regulate.Limit{})
	h := newPages(t, e, e.dur)
	held := e.hold("h", "alice")
	for i := 1; i < testMaxAttempts; i++ {
		w := post(t, h, held, "verify", url.Values{"code": {e.wrongCode()}})
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), fmt.Sprintf("%d attempts left", testMaxAttempts-i)) {
			t.Fatalf("wrong code %d: %d\n%s", i, w.Code, w.Body.String())
		}
	}
	w := post(t, h, held, "verify", url.Values{"code": {e.wrongCode()}})
	if w.Code != http.StatusTooManyRequests || e.heldState(held.ID) != nil || e.abandonReason(held.ID) != "attempts_exhausted" {
		t.Fatalf("last wrong code: %d, held %v, abandoned %q", w.Code, e.heldState(held.ID) != nil, e.abandonReason(held.ID))
	}
}
