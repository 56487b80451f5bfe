package sealed

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/store"
)

// Sealer seals and opens values bound to an owner (seal.Sealer).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Ephemeral is a store.Ephemeral whose held logins are sealed at rest:
// Session, Response.Header and Response.Body go into one sealed value kept
// in Response.Body, Phone is sealed on its own. Everything else (counters,
// tokens by hash, revocations) passes through unchanged.
type Ephemeral struct {
	store.Ephemeral
	s Sealer
}

var _ store.Ephemeral = (*Ephemeral)(nil)

// NewEphemeral wraps next.
func NewEphemeral(next store.Ephemeral, s Sealer) *Ephemeral {
	return &Ephemeral{Ephemeral: next, s: s}
}

// heldSecrets is the sealed part of a held login.
type heldSecrets struct {
	Session map[string]string `json:"s,omitempty"`
	Header  http.Header       `json:"h,omitempty"`
	Body    []byte            `json:"b,omitempty"`
}

func heldAAD(id string) []byte  { return []byte("vestibule-held\x00" + id) }
func phoneAAD(id string) []byte { return []byte("vestibule-held-phone\x00" + id) }

// sealedPrefix marks a sealed phone number (held logins).
const sealedPrefix = "sealed:"

func (e *Ephemeral) sealPhone(id, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	v, err := e.s.Seal([]byte(p), phoneAAD(id))
	if err != nil {
		return "", fmt.Errorf("sealing phone number: %w", err)
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(v), nil
}

func (e *Ephemeral) openPhone(id, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	b64, ok := strings.CutPrefix(v, sealedPrefix)
	if !ok {
		return "", errNotSealed
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return "", errNotSealed
	}
	p, err := e.s.Open(raw, phoneAAD(id))
	if err != nil {
		return "", err
	}
	return string(p), nil
}

var errNotSealed = errors.New("value is not sealed")

// CreateHeld seals the held login's secrets and stores it.
func (e *Ephemeral) CreateHeld(ctx context.Context, h *store.Held) error {
	secrets, err := json.Marshal(heldSecrets{Session: h.Session, Header: h.Response.Header, Body: h.Response.Body})
	if err != nil {
		return fmt.Errorf("encoding held login: %w", err)
	}
	c := *h
	if c.Response.Body, err = e.s.Seal(secrets, heldAAD(h.ID)); err != nil {
		return fmt.Errorf("sealing held login: %w", err)
	}
	c.Response.Header = http.Header{}
	c.Session = map[string]string{}
	if c.Phone, err = e.sealPhone(h.ID, h.Phone); err != nil {
		return err
	}
	return e.Ephemeral.CreateHeld(ctx, &c)
}

// open restores a held login read from the store. A held login that does
// not open (written before sealing, or under a key no longer configured)
// counts as gone: the user signs in again.
func (e *Ephemeral) open(h *store.Held) (*store.Held, error) {
	pt, err := e.s.Open(h.Response.Body, heldAAD(h.ID))
	if err != nil {
		return nil, fmt.Errorf("%w: held login does not open", store.ErrNotFound)
	}
	var s heldSecrets
	if err := json.Unmarshal(pt, &s); err != nil {
		return nil, fmt.Errorf("%w: held login is corrupt", store.ErrNotFound)
	}
	if h.Phone, err = e.openPhone(h.ID, h.Phone); err != nil {
		return nil, fmt.Errorf("%w: held login's number does not open", store.ErrNotFound)
	}
	h.Session, h.Response.Header, h.Response.Body = s.Session, s.Header, s.Body
	if h.Session == nil {
		h.Session = map[string]string{}
	}
	if h.Response.Header == nil {
		h.Response.Header = http.Header{}
	}
	return h, nil
}

// Held returns the opened held login.
func (e *Ephemeral) Held(ctx context.Context, id string) (*store.Held, error) {
	h, err := e.Ephemeral.Held(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.open(h)
}

// TakeHeld removes and returns the opened held login.
func (e *Ephemeral) TakeHeld(ctx context.Context, id string) (*store.Held, error) {
	h, err := e.Ephemeral.TakeHeld(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.open(h)
}

// PopExpiredHeld removes and returns expired held logins, opened. One that
// does not open is still returned (with no session, answer or number), so
// its end is recorded.
func (e *Ephemeral) PopExpiredHeld(ctx context.Context, at time.Time, max int) ([]*store.Held, error) {
	hs, err := e.Ephemeral.PopExpiredHeld(ctx, at, max)
	for i, h := range hs {
		if o, oerr := e.open(h); oerr == nil {
			hs[i] = o
			continue
		}
		h.Session, h.Response.Header, h.Response.Body, h.Phone = map[string]string{}, http.Header{}, nil, ""
	}
	return hs, err
}

// SetHeldSMS stores the code's hash with the number sealed.
func (e *Ephemeral) SetHeldSMS(ctx context.Context, id, p string, hash []byte, sentAt, expires time.Time) error {
	sp, err := e.sealPhone(id, p)
	if err != nil {
		return err
	}
	return e.Ephemeral.SetHeldSMS(ctx, id, sp, hash, sentAt, expires)
}

// HeldCount forwards to the wrapped store when it counts held logins.
func (e *Ephemeral) HeldCount(ctx context.Context) (int, error) {
	if hc, ok := e.Ephemeral.(interface {
		HeldCount(context.Context) (int, error)
	}); ok {
		return hc.HeldCount(ctx)
	}
	return 0, errors.ErrUnsupported
}

// Unwrap returns the wrapped store.
func (e *Ephemeral) Unwrap() store.Ephemeral { return e.Ephemeral }

// Durable is a store.Durable whose phone numbers are sealed at rest. The
// stored form is "s1|<masked number>|<sealed number, base64>", so admin
// listings can show the masked number without the keys (MaskedPhone).
// Numbers stored in clear before sealing still read; they are sealed when
// next written.
type Durable struct {
	store.Durable
	s Sealer
}

var (
	_ store.Durable   = (*Durable)(nil)
	_ store.DeviceLog = (*Durable)(nil)
)

// SeeDevice and Devices pass the device log through (it holds no secret:
// a device's public id, times, address and browser); a wrapped store
// without a device log keeps nothing.
func (d *Durable) SeeDevice(ctx context.Context, dev store.Device) error {
	if dl, ok := d.Durable.(store.DeviceLog); ok {
		return dl.SeeDevice(ctx, dev)
	}
	return nil
}

func (d *Durable) Devices(ctx context.Context, user string) ([]store.Device, error) {
	if dl, ok := d.Durable.(store.DeviceLog); ok {
		return dl.Devices(ctx, user)
	}
	return nil, nil
}

// RevokeDevice passes through too; without a device log there is no
// device to forget (ErrNotFound).
func (d *Durable) RevokeDevice(ctx context.Context, user, id string) error {
	if dl, ok := d.Durable.(store.DeviceLog); ok {
		return dl.RevokeDevice(ctx, user, id)
	}
	return store.ErrNotFound
}

// NewDurable wraps next.
func NewDurable(next store.Durable, s Sealer) *Durable { return &Durable{Durable: next, s: s} }

const phoneTag = "s1|"

func userPhoneAAD(user string) []byte { return []byte("vestibule-phone\x00" + user) }

// sealPhone returns the stored form of user's number p.
func (d *Durable) sealPhone(user, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	v, err := d.s.Seal([]byte(p), userPhoneAAD(user))
	if err != nil {
		return "", fmt.Errorf("sealing phone number: %w", err)
	}
	return phoneTag + phone.Mask(p) + "|" + base64.RawStdEncoding.EncodeToString(v), nil
}

func (d *Durable) openPhone(user, v string) (string, error) {
	rest, ok := strings.CutPrefix(v, phoneTag)
	if !ok {
		return v, nil // clear, from before sealing
	}
	i := strings.LastIndexByte(rest, '|')
	if i < 0 {
		return "", fmt.Errorf("phone number of %q is corrupt", user)
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest[i+1:])
	if err != nil {
		return "", fmt.Errorf("phone number of %q is corrupt", user)
	}
	p, err := d.s.Open(raw, userPhoneAAD(user))
	if err != nil {
		return "", fmt.Errorf("opening the phone number of %q (is its encryption key still configured?): %w", user, err)
	}
	return string(p), nil
}

// MaskedPhone returns the masked number of a stored phone value, sealed or
// not, without opening it ("" for none).
func MaskedPhone(stored string) string {
	if rest, ok := strings.CutPrefix(stored, phoneTag); ok {
		if i := strings.LastIndexByte(rest, '|'); i >= 0 {
			return rest[:i]
		}
		return "•••"
	}
	return phone.Mask(stored)
}

func (d *Durable) sealEnrollment(e store.Enrollment) (store.Enrollment, error) {
	var err error
	e.Phone, err = d.sealPhone(e.User, e.Phone)
	return e, err
}

// Enrollment returns the user's enrollment with the number opened.
func (d *Durable) Enrollment(ctx context.Context, user string) (store.Enrollment, error) {
	e, err := d.Durable.Enrollment(ctx, user)
	if err != nil {
		return e, err
	}
	e.Phone, err = d.openPhone(e.User, e.Phone)
	return e, err
}

// Enroll stores an enrollment with its number sealed.
func (d *Durable) Enroll(ctx context.Context, e store.Enrollment) error {
	e, err := d.sealEnrollment(e)
	if err != nil {
		return err
	}
	return d.Durable.Enroll(ctx, e)
}

// EnrollNew stores a first enrollment with its number sealed.
func (d *Durable) EnrollNew(ctx context.Context, e store.Enrollment) error {
	e, err := d.sealEnrollment(e)
	if err != nil {
		return err
	}
	return d.Durable.EnrollNew(ctx, e)
}

// SetPhone stores the user's number sealed.
func (d *Durable) SetPhone(ctx context.Context, user, p string, at time.Time) error {
	sp, err := d.sealPhone(user, p)
	if err != nil {
		return err
	}
	return d.Durable.SetPhone(ctx, user, sp, at)
}

// Enrollments lists enrollments with their numbers opened.
func (d *Durable) Enrollments(ctx context.Context) ([]store.Enrollment, error) {
	l, err := d.Durable.Enrollments(ctx)
	if err != nil {
		return nil, err
	}
	for i := range l {
		if l[i].Phone, err = d.openPhone(l[i].User, l[i].Phone); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Unwrap returns the wrapped store.
func (d *Durable) Unwrap() store.Durable { return d.Durable }

// SealClearPhones seals the numbers an earlier version stored in clear and
// returns how many it sealed. Each is re-read just before it is written, so
// a number changed meanwhile is left to its writer (who sealed it).
func (d *Durable) SealClearPhones(ctx context.Context) (int, error) {
	l, err := d.Durable.Enrollments(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range l {
		if e.Phone == "" || strings.HasPrefix(e.Phone, phoneTag) {
			continue
		}
		now, err := d.Durable.Enrollment(ctx, e.User)
		if err != nil || now.Phone != e.Phone {
			continue
		}
		if err := d.SetPhone(ctx, e.User, e.Phone, e.CreatedAt); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
