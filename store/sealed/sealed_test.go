package sealed

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/memory"
	"github.com/vestibule-gw/vestibule/store/sqlite"
	"github.com/vestibule-gw/vestibule/store/storetest"
)

func sealer(t *testing.T, keys ...byte) *seal.Sealer {
	t.Helper()
	var ks [][]byte
	for _, k := range keys {
		ks = append(ks, bytes.Repeat([]byte{k}, 32))
	}
	s, err := seal.New(ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The wrappers keep every promise of the store contracts.
func TestEphemeralConformance(t *testing.T) {
	storetest.Ephemeral(t, func(t *testing.T, now func() time.Time) store.Ephemeral {
		return NewEphemeral(memory.New(now), sealer(t, 1))
	})
}

func TestDurableConformance(t *testing.T) {
	storetest.Durable(t, func(t *testing.T, now func() time.Time) store.Durable {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "v.db"), now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return NewDurable(db, sealer(t, 1))
	})
}

func held(c *storetest.Clock) *store.Held {
	return &store.Held{ID: "h1", User: "alice", Session: map[string]string{"sid": "cookie-value-123"},
		Response: store.HeldResponse{Status: 303, Header: http.Header{"Set-Cookie": {"sid=cookie-value-123; HttpOnly"}},
			Body: []byte(`{"sessionToken":"r:token-abc"}`)},
		Phone: "+447400123456", Created: c.Now(), Expires: c.Now().Add(5 * time.Minute)}
}

// What reaches the wrapped store is sealed; what comes back is the
// original; after a key rotation (new key first, old key kept) it still
// opens, and without the old key it counts as gone.
func TestHeldSealedAndRotation(t *testing.T) {
	ctx := context.Background()
	c := storetest.NewClock()
	mem := memory.New(c.Now)
	e := NewEphemeral(mem, sealer(t, 1))
	if err := e.CreateHeld(ctx, held(c)); err != nil {
		t.Fatal(err)
	}
	if err := e.SetHeldSMS(ctx, "h1", "+447400999888", []byte("mac"), c.Now(), c.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	raw, err := mem.Held(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	dump := string(raw.Response.Body) + raw.Phone + strings.Join(raw.Response.Header.Values("Set-Cookie"), "")
	for _, v := range raw.Session {
		dump += v
	}
	for _, secret := range []string{"cookie-value-123", "token-abc", "7400999888", "7400123456"} {
		if strings.Contains(dump, secret) {
			t.Errorf("%q is in the wrapped store", secret)
		}
	}
	check := func(e store.Ephemeral) {
		t.Helper()
		h, err := e.Held(ctx, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if h.Session["sid"] != "cookie-value-123" || h.Response.Header.Get("Set-Cookie") != "sid=cookie-value-123; HttpOnly" ||
			string(h.Response.Body) != `{"sessionToken":"r:token-abc"}` || h.Phone != "+447400999888" || h.Response.Status != 303 {
			t.Errorf("opened held login: %+v", h)
		}
	}
	check(e)
	check(NewEphemeral(mem, sealer(t, 2, 1))) // rotated: the old key still opens
	if _, err := NewEphemeral(mem, sealer(t, 2)).Held(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("without its key: %v, want ErrNotFound", err)
	}
	// A held login moved to another id does not open.
	raw.ID = "h2"
	mem.CreateHeld(ctx, raw)
	if _, err := e.Held(ctx, "h2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("copied row: %v, want ErrNotFound", err)
	}
	h, err := e.TakeHeld(ctx, "h1")
	if err != nil || h.Session["sid"] != "cookie-value-123" {
		t.Errorf("TakeHeld: %+v, %v", h, err)
	}
	// Expired ones come back opened, and one that does not open still comes back.
	e.CreateHeld(ctx, held(c))
	c.Advance(time.Hour)
	hs, err := e.PopExpiredHeld(ctx, c.Now(), 10)
	if err != nil || len(hs) != 2 {
		t.Fatalf("PopExpiredHeld: %d, %v", len(hs), err)
	}
	for _, h := range hs {
		if h.ID == "h1" && h.Session["sid"] != "cookie-value-123" {
			t.Errorf("expired held login not opened: %+v", h)
		}
		if h.ID == "h2" && len(h.Session) != 0 {
			t.Errorf("unopenable held login: %+v", h)
		}
	}
}

func TestPhoneSealedAndMasked(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "v.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := NewDurable(db, sealer(t, 1))
	if err := d.SetPhone(ctx, "alice", "+447400123456", time.Now()); err != nil {
		t.Fatal(err)
	}
	raw, err := db.Enrollment(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw.Phone, "7400123456") || MaskedPhone(raw.Phone) != "+44 •••• ••3456" {
		t.Errorf("stored %q, masked %q", raw.Phone, MaskedPhone(raw.Phone))
	}
	if e, err := d.Enrollment(ctx, "alice"); err != nil || e.Phone != "+447400123456" {
		t.Errorf("Enrollment: %q, %v", e.Phone, err)
	}
	if l, err := NewDurable(db, sealer(t, 2, 1)).Enrollments(ctx); err != nil || len(l) != 1 || l[0].Phone != "+447400123456" {
		t.Errorf("after rotation: %+v, %v", l, err)
	}
	// A number stored in clear before sealing still reads, and is sealed when written again.
	db.SetPhone(ctx, "bob", "+447400111222", time.Now())
	if e, err := d.Enrollment(ctx, "bob"); err != nil || e.Phone != "+447400111222" || MaskedPhone("+447400111222") != "+44 •••• ••1222" {
		t.Errorf("clear number: %q, %v", e.Phone, err)
	}
	// Numbers stored in clear are sealed by the migration; sealed ones are left alone.
	if n, err := d.SealClearPhones(ctx); err != nil || n != 1 {
		t.Errorf("SealClearPhones: %d, %v", n, err)
	}
	if raw, _ := db.Enrollment(ctx, "bob"); strings.Contains(raw.Phone, "7400111222") || MaskedPhone(raw.Phone) != "+44 •••• ••1222" {
		t.Errorf("after the migration bob's number is stored as %q", raw.Phone)
	}
	if e, err := d.Enrollment(ctx, "bob"); err != nil || e.Phone != "+447400111222" {
		t.Errorf("after the migration: %q, %v", e.Phone, err)
	}
	if n, _ := d.SealClearPhones(ctx); n != 0 {
		t.Errorf("second migration sealed %d", n)
	}
	// A sealed number copied to another user does not open.
	db.SetPhone(ctx, "carol", raw.Phone, time.Now())
	if _, err := d.Enrollment(ctx, "carol"); err == nil {
		t.Error("a number copied to another user opened")
	}
}
