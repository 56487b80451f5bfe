package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/enroll"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/store"
)

// invite prints a one-time enrollment link for one user: `vestibule users
// invite NAME`. The link is signed with the gate keys, so the running
// gateway (every replica) accepts it without being told.
func invite(ctx context.Context, args []string, o invocation) error {
	fs := flag.NewFlagSet("users invite", flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	path := fs.String("config", "config.yaml", "config file")
	user := fs.String("user", "", "user name (as the app knows it; the user id in Parse mode)")
	ttl := fs.Duration("ttl", 0, "how long the link stays valid (default enrollment.invite_ttl)")
	// `users invite alice -ttl 24h` as well as flags first.
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *user == "" && len(rest) == 1 {
		*user = rest[0]
	}
	if *user == "" || len(rest) > 1 || (len(rest) == 1 && rest[0] != *user) {
		return errors.New("usage: vestibule users invite NAME [-ttl 72h] [-config FILE]")
	}
	// The link is signed with the gate keys: the whole config, validated.
	var u string
	a, err := start(ctx, *path, o, needs{validated: true, durable: true, check: func(cfg *config.Config) error {
		if *ttl == 0 {
			*ttl = cfg.Enrollment.InviteTTL
		}
		if *ttl < 5*time.Minute || *ttl > 30*24*time.Hour {
			return fmt.Errorf("-ttl: want 5m to 720h, got %s", *ttl)
		}
		// Filed as the gateway files the held login's user (Parse user
		// ids come out of it unchanged).
		var err error
		u, err = adminUserName(cfg, *user)
		return err
	}})
	if err != nil {
		return err
	}
	defer a.Close()
	_, err = a.db.Enrollment(ctx, u)
	enrolled := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("reading %s's enrollment: %w", u, err)
	}
	keys, err := a.cfg.GateKeys()
	if err != nil {
		return err
	}
	iv, err := enroll.NewInvites(keys, nil)
	if err != nil {
		return err
	}
	return runInvite(ctx, o.stdout, a, iv, u, enrolled, time.Now(), *ttl)
}

// runInvite issues the invitation, prints its link, logs it (event
// invite_created, never the token) and tells the enrollment webhook.
func runInvite(ctx context.Context, stdout io.Writer, a *admin, iv *enroll.Invites, user string, enrolled bool, now time.Time, ttl time.Duration) error {
	cfg := a.cfg
	tok, inv, err := iv.Issue(user, now, ttl)
	if err != nil {
		return err
	}
	link := strings.TrimSuffix(cfg.PublicURL, "/") + cfg.Prefix + "invite?t=" + url.QueryEscape(tok)
	expires := inv.ExpiresAt()
	a.log.Warn("enrollment invitation issued by an administrator", "event", "invite_created", "user", user,
		"expires", expires.Format(time.RFC3339))
	fmt.Fprintf(stdout, "Invitation for %s, valid once until %s:\n\n  %s\n\n", user, expires.Format("2006-01-02 15:04 UTC"), link)
	fmt.Fprintf(stdout, "Send it to %s over a channel you trust: whoever opens it and has the password can enroll.\n", user)
	fmt.Fprintln(stdout, "They open it, then sign in to the application in the same browser within the hour.")
	if enrolled {
		fmt.Fprintf(stdout, "Note: %s has a second factor already; the link works only after `vestibule users reset -user %s`.\n", user, user)
	}
	if cfg.Enrollment.Mode == config.EnrollOpen && cfg.Enrollment.OpenUntil == "" {
		fmt.Fprintln(stdout, "Note: enrollment.mode is open: anyone with the password can enroll this user without the link.")
	}
	a.notify(ctx, notify.Event{Event: "invite_created", User: user, By: "admin"})
	return nil
}
