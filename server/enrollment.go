package server

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/enroll"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/store"
)

// EnrollmentPolicy builds the enrollment policy of a validated config:
// invitations are read with keys derived from the gate keys (so the
// `vestibule users invite` command and every replica agree) and claimed in
// used (the ephemeral store).
func EnrollmentPolicy(cfg *config.Config, used store.Counters) (*enroll.Policy, error) {
	keys, err := cfg.GateKeys()
	if err != nil {
		return nil, err
	}
	iv, err := enroll.NewInvites(keys, used)
	if err != nil {
		return nil, fmt.Errorf("gate.keys: %w", err)
	}
	e := cfg.Enrollment
	until, err := e.OpenUntilTime()
	if err != nil {
		return nil, fmt.Errorf("enrollment.open_until: %w", err)
	}
	p := &enroll.Policy{Mode: e.Mode, OpenUntil: until, Contact: e.Contact, Invites: iv}
	for i, s := range e.Networks {
		n, err := config.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("enrollment.networks[%d]: %w", i, err)
		}
		p.Networks = append(p.Networks, n)
	}
	return p, nil
}

// EnrollmentNotifier builds the enrollment webhook of a validated config
// (nil, nil when enrollment.webhook.url is unset).
func EnrollmentNotifier(cfg *config.Config, now func() time.Time, log *slog.Logger) (*notify.Notifier, error) {
	w := cfg.Enrollment.Webhook
	if w.URL == "" {
		return nil, nil
	}
	n, err := notify.New(notify.Options{URL: w.URL, Secret: []byte(w.Secret), Timeout: w.Timeout, Now: now, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("enrollment.webhook: %w", err)
	}
	return n, nil
}

// enrollmentParts builds both for server.New; Close waits for the
// webhook's background sends.
func (s *Server) enrollmentParts(cfg *config.Config, d Deps) (*enroll.Policy, *notify.Notifier, error) {
	p, err := EnrollmentPolicy(cfg, s.ephemeral)
	if err != nil {
		return nil, nil, err
	}
	n, err := EnrollmentNotifier(cfg, d.Now, d.Logger)
	if n != nil {
		s.owned = append(s.owned, n)
	}
	return p, n, err
}
