package account

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/store"
)

// fakeStore is an in-memory Store for the handler tests: one map per
// record kind, keyed by user.
type fakeStore struct {
	mu       sync.Mutex
	enr      map[string]store.Enrollment
	passkeys map[string][]store.Passkey
	devices  map[string][]store.Device
	signIns  map[string][]store.SignIn
	steps    map[string]int64
	fail     error // every call fails with it when set
}

var _ Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{enr: map[string]store.Enrollment{}, passkeys: map[string][]store.Passkey{},
		devices: map[string][]store.Device{}, signIns: map[string][]store.SignIn{}, steps: map[string]int64{}}
}

func (f *fakeStore) Enrollment(_ context.Context, user string) (store.Enrollment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Enrollment{}, f.fail
	}
	e, ok := f.enr[user]
	if !ok {
		return e, store.ErrNotFound
	}
	return e, nil
}

func (f *fakeStore) Passkeys(_ context.Context, user string) ([]store.Passkey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.passkeys[user]), f.fail
}

func (f *fakeStore) passkey(user string, id []byte) (int, error) {
	if f.fail != nil {
		return 0, f.fail
	}
	i := slices.IndexFunc(f.passkeys[user], func(p store.Passkey) bool { return bytes.Equal(p.ID, id) })
	if i < 0 {
		return 0, store.ErrNotFound
	}
	return i, nil
}

func (f *fakeStore) RenamePasskey(_ context.Context, user string, id []byte, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.passkey(user, id)
	if err == nil {
		f.passkeys[user][i].Name = name
	}
	return err
}

func (f *fakeStore) DeletePasskey(_ context.Context, user string, id []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.passkey(user, id)
	if err == nil {
		f.passkeys[user] = slices.Delete(f.passkeys[user], i, i+1)
	}
	return err
}

// update changes the user's enrollment, ErrNotFound when there is none.
func (f *fakeStore) update(user string, change func(*store.Enrollment) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	e, ok := f.enr[user]
	if !ok {
		return store.ErrNotFound
	}
	if err := change(&e); err != nil {
		return err
	}
	f.enr[user] = e
	return nil
}

func (f *fakeStore) SetTOTP(_ context.Context, user string, sealed []byte, at time.Time) error {
	return f.update(user, func(e *store.Enrollment) error { e.TOTPSecret, e.LastStep = sealed, 0; return nil })
}

func (f *fakeStore) RemoveTOTP(_ context.Context, user string) error {
	return f.update(user, func(e *store.Enrollment) error {
		if len(e.TOTPSecret) == 0 {
			return store.ErrNotFound
		}
		e.TOTPSecret = nil
		return nil
	})
}

func (f *fakeStore) UseTOTPStep(_ context.Context, user string, step int64, at time.Time) error {
	return f.update(user, func(e *store.Enrollment) error {
		if step <= e.LastStep {
			return store.ErrReplay
		}
		e.LastStep = step
		return nil
	})
}

func (f *fakeStore) SetPhone(_ context.Context, user, phone string, at time.Time) error {
	return f.update(user, func(e *store.Enrollment) error { e.Phone = phone; return nil })
}

func (f *fakeStore) RemovePhone(_ context.Context, user string) error {
	return f.update(user, func(e *store.Enrollment) error {
		if e.Phone == "" {
			return store.ErrNotFound
		}
		e.Phone = ""
		return nil
	})
}

func (f *fakeStore) ReplaceRecoveryCodes(_ context.Context, user string, hashes [][]byte) error {
	return f.update(user, func(e *store.Enrollment) error { e.RecoveryHashes = hashes; return nil })
}

func (f *fakeStore) SignIns(_ context.Context, user string, limit int) ([]store.SignIn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.signIns[user]
	return slices.Clone(s[:min(limit, len(s))]), f.fail
}

func (f *fakeStore) Devices(_ context.Context, user string) ([]store.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.devices[user]), f.fail
}

func (f *fakeStore) RevokeDevice(_ context.Context, user, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for i, d := range f.devices[user] {
		if d.ID == id && d.Revoked.IsZero() {
			f.devices[user][i].Revoked = time.Unix(1, 0)
			return nil
		}
	}
	return store.ErrNotFound
}

// fakeNotifier records the events it is told.
type fakeNotifier struct {
	mu     sync.Mutex
	events []notify.Event
}

func (n *fakeNotifier) Notify(_ context.Context, ev notify.Event) {
	n.mu.Lock()
	n.events = append(n.events, ev)
	n.mu.Unlock()
}

func (n *fakeNotifier) names() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, e := range n.events {
		out = append(out, e.Event)
	}
	return out
}

// fakeTexter "sends" codes by remembering them, or refuses.
type fakeTexter struct {
	mu      sync.Mutex
	sent    map[string]string // number to code
	refusal string
}

func (t *fakeTexter) SendConfirmation(_ *http.Request, user, to string) (string, string, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refusal != "" {
		return "", t.refusal, http.StatusTooManyRequests
	}
	code := fmt.Sprintf("%06d", len(t.sent)*7919%1000000+123456)
	t.sent[to] = code
	return code, "", 0
}

func (f *fakeStore) AddPasskey(_ context.Context, p store.Passkey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for _, ps := range f.passkeys {
		for _, q := range ps {
			if bytes.Equal(q.ID, p.ID) {
				return store.ErrExists
			}
		}
	}
	f.passkeys[p.User] = append(f.passkeys[p.User], p)
	return nil
}

// errRefused stands for passkey.ErrRefused.
var errRefused = errors.New("refused")

// fakeRegistrar "registers" a passkey whose response is the session value
// echoed back with a credential id; anything else is refused.
type fakeRegistrar struct {
	mu    sync.Mutex
	begun int
}

func (f *fakeRegistrar) BeginRegistration(user string, existing []store.Passkey) ([]byte, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.begun++
	return []byte(fmt.Sprintf(`{"challenge":"c%d","excluded":%d}`, f.begun, len(existing))), []byte(fmt.Sprintf("session-%s-%d", user, f.begun)), nil
}

func (f *fakeRegistrar) FinishRegistration(session []byte, user string, response []byte) (store.Passkey, error) {
	id, ok := strings.CutPrefix(string(response), string(session)+":")
	if !ok || id == "" {
		return store.Passkey{}, fmt.Errorf("challenge mismatch: %w", errRefused)
	}
	return store.Passkey{User: user, ID: []byte(id), PublicKey: []byte{1}}, nil
}
