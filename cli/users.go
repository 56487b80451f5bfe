package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sealed"
)

// The administrator's commands on one user's second factor, run against
// the configured stores (the gateway may be running): users list, show,
// reset, recovery-codes, unlock, set-phone and devices revoke.

// userCommand is how a users or devices command is typed.
type userCommand struct {
	name     string // as typed: "users reset"
	synopsis string // its arguments and purpose, for -h
	user     bool   // takes -user NAME (or NAME after the flags)
	number   bool   // takes -number
	// keys: it seals a phone number or derives a counter key from one, so
	// it reads secrets.encryption_keys; the others show the masked part
	// only and run without the keys in the environment.
	keys bool
}

var (
	cmdList = userCommand{name: "users list", synopsis: "[-config FILE]\n  who is enrolled, with which factors"}
	cmdShow = userCommand{name: "users show", user: true,
		synopsis: "-user NAME [-config FILE]\n  one user's factors and remembered devices"}
	cmdReset = userCommand{name: "users reset", user: true,
		synopsis: "-user NAME [-config FILE]\n  remove the user's second factor and end their open sessions"}
	cmdRecoveryCodes = userCommand{name: "users recovery-codes", user: true,
		synopsis: "-user NAME [-config FILE]\n  issue a new set of recovery codes, printed once"}
	cmdUnlock = userCommand{name: "users unlock", user: true, keys: true,
		synopsis: "-user NAME [-config FILE]\n  lift the user's ban and forget their failed attempts"}
	cmdSetPhone = userCommand{name: "users set-phone", user: true, number: true, keys: true,
		synopsis: "-user NAME -number +447400123456 [-config FILE]\n  set the number for the user's text-message codes"}
	cmdRevokeDevices = userCommand{name: "devices revoke", user: true,
		synopsis: "-user NAME [-config FILE]\n  forget the user's remembered devices and end their open sessions"}
)

// userArgs is what a users command was given.
type userArgs struct {
	path, user, number string
}

// parse reads the command's flags; NAME may be given after them
// (`users show alice`), and flags may follow it.
func (c userCommand) parse(args []string, stderr io.Writer) (userArgs, error) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "config file")
	user, number := new(string), new(string)
	if c.user {
		user = fs.String("user", "", "user name (as the app knows it); or give it after the flags")
	}
	if c.number {
		number = fs.String("number", "", "phone number, with the country code (+447400123456)")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vestibule %s %s\n", c.name, c.synopsis)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return userArgs{}, err
	}
	if c.user && *user == "" && fs.NArg() > 0 {
		*user = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return userArgs{}, err
		}
	}
	if c.user && *user == "" {
		return userArgs{}, errors.New("-user is required")
	}
	return userArgs{path: *path, user: *user, number: *number}, nil
}

// start parses the command's arguments and opens what it needs: the
// config without the sections it does not read, the logger and the
// durable store (sealed as the gateway writes it, for the commands that
// read the keys). user is NAME as the gateway files it.
func (c userCommand) start(ctx context.Context, args []string, o invocation) (a *admin, f userArgs, err error) {
	if f, err = c.parse(args, o.stderr); err != nil {
		return nil, f, err
	}
	skip := []string{"gate", "secrets", "sms"}
	if c.keys {
		skip = []string{"gate", "sms"}
	}
	name := func(cfg *config.Config) error {
		if !c.user {
			return nil
		}
		u, err := adminUserName(cfg, f.user)
		f.user = u
		return err
	}
	a, err = start(ctx, f.path, o, needs{skip: skip, keys: c.keys, durable: true, check: name})
	if err != nil {
		return nil, f, err
	}
	if c.keys {
		a.db = sealed.NewDurable(a.db, a.sealer)
	}
	return a, f, nil
}

// run starts the command and calls do with what it opened.
func (c userCommand) run(ctx context.Context, args []string, o invocation, do func(a *admin, f userArgs) error) error {
	a, f, err := c.start(ctx, args, o)
	if err != nil {
		return err
	}
	defer a.Close()
	return do(a, f)
}

// notEnrolled words a store's ErrNotFound for the user.
func notEnrolled(user string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user %q has no second factor enrolled", user)
	}
	return err
}

// usersList: vestibule users list.
func usersList(ctx context.Context, args []string, o invocation) error {
	return cmdList.run(ctx, args, o, func(a *admin, _ userArgs) error {
		return runList(ctx, o.stdout, a.db)
	})
}

func runList(ctx context.Context, w io.Writer, db store.Durable) error {
	l, err := db.Enrollments(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-30s %-10s %-22s %s\n", "USER", "FACTORS", "LAST SUCCESS", "RECOVERY CODES LEFT")
	for _, e := range l {
		fmt.Fprintf(w, "%-30s %-10s %-22s %d\n", e.User, factorsOf(e), when(e.LastUsed), len(e.RecoveryHashes))
	}
	return nil
}

// usersShow: vestibule users show NAME.
func usersShow(ctx context.Context, args []string, o invocation) error {
	return cmdShow.run(ctx, args, o, func(a *admin, f userArgs) error {
		return runShow(ctx, o.stdout, a.db, f.user, a.cfg.RememberDevice.MaxAge)
	})
}

func runShow(ctx context.Context, w io.Writer, db store.Durable, user string, deviceMaxAge time.Duration) error {
	e, err := db.Enrollment(ctx, user)
	if err != nil {
		return notEnrolled(user, err)
	}
	fmt.Fprintf(w, "user:                %s\nfactors:             %s\nphone:               %s\nenrolled:            %s\nlast success:        %s\nrecovery codes left: %d\ndevices revoked:     %s\n",
		e.User, factorsOf(e), cmp.Or(sealed.MaskedPhone(e.Phone), "none"), when(e.CreatedAt), when(e.LastUsed), len(e.RecoveryHashes), when(e.DevicesRevoked))
	return listDevices(ctx, w, db, e, deviceMaxAge)
}

// usersReset: vestibule users reset NAME. The user's open sessions end too.
func usersReset(ctx context.Context, args []string, o invocation) error {
	return cmdReset.run(ctx, args, o, func(a *admin, f userArgs) error {
		return runReset(ctx, o.stdout, a, f.user, time.Now())
	})
}

func runReset(ctx context.Context, w io.Writer, a *admin, user string, now time.Time) error {
	if err := a.db.Reset(ctx, user); err != nil {
		return notEnrolled(user, err)
	}
	a.log.Warn("second factor reset by an administrator", "event", "factor_reset", "user", user)
	a.notify(ctx, notify.Event{Event: "factor_reset", User: user, By: "admin"})
	fmt.Fprintf(w, "%s: second factor removed; they will enroll again at their next sign-in\n", user)
	return endUserSessions(ctx, w, a, user, now)
}

// devicesRevoke: vestibule devices revoke NAME. The user's open sessions
// end too.
func devicesRevoke(ctx context.Context, args []string, o invocation) error {
	return cmdRevokeDevices.run(ctx, args, o, func(a *admin, f userArgs) error {
		return runRevokeDevices(ctx, o.stdout, a, f.user, time.Now())
	})
}

func runRevokeDevices(ctx context.Context, w io.Writer, a *admin, user string, now time.Time) error {
	if err := a.db.RevokeDevices(ctx, user, now); err != nil {
		return notEnrolled(user, err)
	}
	a.log.Warn("remembered devices revoked by an administrator", "event", "devices_revoked", "user", user)
	a.notify(ctx, notify.Event{Event: "devices_revoked", User: user, By: "admin"})
	fmt.Fprintf(w, "%s: remembered devices revoked\n", user)
	return endUserSessions(ctx, w, a, user, now)
}

// endUserSessions ends the sessions that passed the old factor (or a
// revoked device) on every gateway and says so.
func endUserSessions(ctx context.Context, w io.Writer, a *admin, user string, now time.Time) error {
	if err := a.endSessions(ctx, user, now); err != nil {
		if errors.Is(err, errMemoryEphemeral) {
			fmt.Fprintf(w, "%s: open sessions NOT ended: %v; they last until gate.max_age\n", user, err)
			return nil
		}
		return fmt.Errorf("%s: open sessions NOT ended (run the command again): %w", user, err)
	}
	a.log.Warn("open sessions ended by an administrator", "event", "sessions_revoked", "user", user)
	fmt.Fprintf(w, "%s: open sessions ended on every gateway\n", user)
	return nil
}

// usersRecoveryCodes: vestibule users recovery-codes NAME.
func usersRecoveryCodes(ctx context.Context, args []string, o invocation) error {
	return cmdRecoveryCodes.run(ctx, args, o, func(a *admin, f userArgs) error {
		return runRecoveryCodes(ctx, o.stdout, a, f.user)
	})
}

func runRecoveryCodes(ctx context.Context, w io.Writer, a *admin, user string) error {
	codes, err := factor.NewRecoveryCodes(rand.Reader, 10)
	if err != nil {
		return err
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		n, _ := factor.NormalizeRecoveryCode(c)
		hashes[i] = factor.HashRecoveryCode(n)
	}
	if err := a.db.ReplaceRecoveryCodes(ctx, user, hashes); err != nil {
		return notEnrolled(user, err)
	}
	a.log.Warn("recovery codes replaced by an administrator", "event", "recovery_codes_replaced", "user", user)
	a.notify(ctx, notify.Event{Event: "recovery_codes_replaced", User: user, By: "admin"})
	fmt.Fprintf(w, "New recovery codes for %s (shown once; the old ones no longer work):\n", user)
	for _, c := range codes {
		fmt.Fprintln(w, "  "+c)
	}
	return nil
}

// usersUnlock: vestibule users unlock NAME. The user's failure ban and
// the text-message cooldown and caps (the enrolled number's too) go.
func usersUnlock(ctx context.Context, args []string, o invocation) error {
	return cmdUnlock.run(ctx, args, o, func(a *admin, f userArgs) error {
		bans, err := a.ephemeral(ctx)
		if errors.Is(err, errMemoryEphemeral) {
			return errors.New("users unlock can't reach bans kept in memory (store.ephemeral: memory): they end by themselves, or restart the gateway")
		}
		if err != nil {
			return err
		}
		return runUnlock(ctx, o.stdout, a, bans, f.user)
	})
}

func runUnlock(ctx context.Context, w io.Writer, a *admin, bans store.Counters, user string) error {
	keys := []string{"user:" + user}
	var number string
	if e, err := a.db.Enrollment(ctx, user); err == nil {
		number = e.Phone
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	keys = append(keys, challenge.SMSUserCounters(a.sealer.Derive("sms-code"), user, number)...)
	for _, k := range keys {
		if err := bans.Unban(ctx, k); err != nil {
			return err
		}
	}
	a.log.Warn("user unlocked by an administrator", "event", "unlock", "user", user)
	fmt.Fprintf(w, "%s: ban lifted, failed attempts and text-message limits forgotten\n", user)
	return nil
}

// usersSetPhone: vestibule users set-phone NAME -number +447400123456.
func usersSetPhone(ctx context.Context, args []string, o invocation) error {
	return cmdSetPhone.run(ctx, args, o, func(a *admin, f userArgs) error {
		return runSetPhone(ctx, o.stdout, a, f.user, f.number, time.Now())
	})
}

func runSetPhone(ctx context.Context, w io.Writer, a *admin, user, number string, now time.Time) error {
	p, err := phone.Parse(number, a.cfg.SMS.DefaultRegion)
	if err != nil {
		return fmt.Errorf("-number: %q is not a valid phone number (include the country code)", number)
	}
	if err := a.db.SetPhone(ctx, user, p, now); err != nil {
		return notEnrolled(user, err)
	}
	a.log.Warn("phone number set by an administrator", "event", "phone_set", "user", user, "phone", phone.Mask(p))
	a.notify(ctx, notify.Event{Event: "phone_set", User: user, By: "admin", Phone: phone.Mask(p)})
	fmt.Fprintf(w, "%s: text-message codes go to %s\n", user, phone.Mask(p))
	return nil
}

func factorsOf(e store.Enrollment) string {
	var f []string
	if len(e.TOTPSecret) > 0 {
		f = append(f, "totp")
	}
	if e.Phone != "" {
		f = append(f, "sms")
	}
	return strings.Join(f, ",")
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// listDevices prints the user's remembered devices, where each was last
// used and whether it still skips the code (users show).
func listDevices(ctx context.Context, w io.Writer, db store.Durable, e store.Enrollment, maxAge time.Duration) error {
	dl, ok := db.(store.DeviceLog)
	if !ok {
		return nil
	}
	devices, err := dl.Devices(ctx, e.User)
	if err != nil {
		return err
	}
	if len(devices) == 0 {
		fmt.Fprintln(w, "remembered devices:  none")
		return nil
	}
	fmt.Fprintf(w, "remembered devices:  %d (each cookie is a bearer token; `vestibule devices revoke` voids them all)\n", len(devices))
	fmt.Fprintf(w, "  %-12s %-8s %-22s %-22s %-39s %s\n", "ID", "STATE", "REMEMBERED", "LAST USED", "LAST ADDRESS", "BROWSER")
	now := time.Now()
	for _, d := range devices {
		state := "active"
		switch {
		case !d.Created.After(e.DevicesRevoked), !d.Revoked.IsZero(): // all at once, or this one (security page)
			state = "revoked"
		case d.Created.Before(e.CreatedAt):
			state = "void" // from an earlier enrollment
		case maxAge > 0 && now.After(d.Created.Add(maxAge)):
			state = "expired"
		}
		ua := strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return '?'
			}
			return r
		}, d.UserAgent)
		fmt.Fprintf(w, "  %-12s %-8s %-22s %-22s %-39s %s\n", d.ID, state, when(d.Created), when(d.LastSeen), d.LastIP, ua)
	}
	return nil
}
