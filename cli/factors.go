package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/store"
)

// The second factors one at a time: `users show` lists a user's passkeys,
// `users remove-factor NAME FACTOR` removes one factor (never the last,
// unless -allow-none: then the user is reset and enrolls again).

// usersRemoveFactor: vestibule users remove-factor NAME FACTOR. The user's
// open sessions end too.
func usersRemoveFactor(ctx context.Context, args []string, o invocation) error {
	return cmdRemoveFactor.run(ctx, args, o, func(a *admin, f userArgs) error {
		return runRemoveFactor(ctx, o.stdout, a, f, time.Now())
	})
}

func runRemoveFactor(ctx context.Context, w io.Writer, a *admin, f userArgs, now time.Time) error {
	what, err := removeFactor(ctx, a.db, f.user, f.factor, f.allowNone)
	if err != nil {
		return notEnrolled(f.user, err)
	}
	kind, _, _ := strings.Cut(strings.ToLower(f.factor), ":")
	a.log.Warn("second factor removed by an administrator", "event", "factor_removed", "user", f.user, "factor", kind)
	a.notify(ctx, notify.Event{Event: "factor_removed", User: f.user, By: "admin", Factor: kind})
	fmt.Fprintf(w, "%s: removed %s\n", f.user, what)
	return endUserSessions(ctx, w, a, f.user, now)
}

// passkeyID is how the commands name a passkey: its credential id,
// base64url.
func passkeyID(p store.Passkey) string { return base64.RawURLEncoding.EncodeToString(p.ID) }

// listPasskeys prints the user's passkeys (users show).
func listPasskeys(ctx context.Context, w io.Writer, db store.Durable, user string) error {
	ps, err := db.Passkeys(ctx, user)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		fmt.Fprintln(w, "passkeys:            none")
		return nil
	}
	fmt.Fprintf(w, "passkeys:            %d\n", len(ps))
	fmt.Fprintf(w, "  %-24s %-22s %-22s %-22s %-9s %s\n", "NAME", "ADDED", "LAST USED", "KIND", "COUNTER", "ID")
	for _, p := range ps {
		kind := "device-bound"
		if p.BackupEligible {
			kind = "synced passkey"
		}
		fmt.Fprintf(w, "  %-24s %-22s %-22s %-22s %-9d %s\n", printable(p.Name), when(p.CreatedAt), when(p.LastUsed), kind, p.SignCount, passkeyID(p))
	}
	return nil
}

// printable replaces control characters in text a user or a browser
// chose (a passkey's name, a user agent) before it reaches a terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// factorNames are what remove-factor takes.
const factorNames = "totp, sms, webauthn (every passkey), webauthn:ID or webauthn:NAME (one), recovery"

// errLastFactor: remove-factor would leave the user without a second
// factor.
var errLastFactor = errors.New("it is the user's last second factor")

// removeFactor removes one factor of user (see factorNames) and says what
// it removed. A factor that would be the last (TOTP, phone, passkeys;
// recovery codes are no factor of their own) is refused with
// errLastFactor unless allowNone, and then the user is reset instead.
func removeFactor(ctx context.Context, db store.Durable, user, which string, allowNone bool) (string, error) {
	enr, err := db.Enrollment(ctx, user)
	if err != nil {
		return "", err
	}
	pks, err := db.Passkeys(ctx, user)
	if err != nil {
		return "", err
	}
	kind, arg, _ := strings.Cut(strings.ToLower(strings.TrimSpace(which)), ":")
	if kind == "webauthn" || kind == "passkey" {
		_, arg, _ = strings.Cut(strings.TrimSpace(which), ":") // names and ids keep their case
	}
	have := len(pks)
	if len(enr.TOTPSecret) > 0 {
		have++
	}
	if enr.Phone != "" {
		have++
	}
	var remove func() error
	var what string
	gone := 1
	switch kind {
	case "totp":
		if len(enr.TOTPSecret) == 0 {
			return "", fmt.Errorf("user %q has no authenticator app", user)
		}
		what, remove = "authenticator app (totp)", func() error { return db.RemoveTOTP(ctx, user) }
	case "sms":
		if enr.Phone == "" {
			return "", fmt.Errorf("user %q has no phone number", user)
		}
		what, remove = "phone number (sms)", func() error { return db.RemovePhone(ctx, user) }
	case "recovery":
		gone = 0
		what, remove = fmt.Sprintf("%d recovery codes", len(enr.RecoveryHashes)), func() error { return db.ReplaceRecoveryCodes(ctx, user, nil) }
	case "webauthn", "passkey":
		sel, err := pickPasskeys(pks, arg)
		if err != nil {
			return "", fmt.Errorf("user %q: %w", user, err)
		}
		gone = len(sel)
		what = fmt.Sprintf("%d passkey(s)", len(sel))
		remove = func() error {
			for _, p := range sel {
				if err := db.DeletePasskey(ctx, user, p.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return nil
		}
	default:
		return "", fmt.Errorf("unknown factor %q: want %s", which, factorNames)
	}
	if gone > 0 && have-gone <= 0 {
		if !allowNone {
			return "", fmt.Errorf("%s of %q: %w; add another first, or give -allow-none to reset the user (every factor and recovery code; they enroll again at their next sign-in)", what, user, errLastFactor)
		}
		if err := db.Reset(ctx, user); err != nil {
			return "", err
		}
		return what + " (the last factor: the user was reset)", nil
	}
	if err := remove(); err != nil {
		return "", err
	}
	return what, nil
}

// pickPasskeys selects the passkeys arg names: all of them ("" ), the one
// whose id (base64url) is arg, or those named arg (only one may be).
func pickPasskeys(pks []store.Passkey, arg string) ([]store.Passkey, error) {
	if len(pks) == 0 {
		return nil, errors.New("no passkeys")
	}
	if arg == "" {
		return pks, nil
	}
	var byName []store.Passkey
	for _, p := range pks {
		if passkeyID(p) == arg {
			return []store.Passkey{p}, nil
		}
		if p.Name == arg {
			byName = append(byName, p)
		}
	}
	switch len(byName) {
	case 1:
		return byName, nil
	case 0:
		return nil, fmt.Errorf("no passkey with the id or name %q (users show lists them)", arg)
	default:
		return nil, fmt.Errorf("%d passkeys are named %q: give the id (users show lists them)", len(byName), arg)
	}
}
