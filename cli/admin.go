package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/open"
)

// adminNames are the administrator commands as typed (for -h and errors).
var adminNames = map[string]string{
	"reset": "users reset", "revoke-devices": "devices revoke", "list": "users list", "show": "users show",
	"recovery-codes": "users recovery-codes", "unlock": "users unlock", "set-phone": "users set-phone",
}

// adminSynopsis is each administrator command's arguments and purpose.
var adminSynopsis = map[string]string{
	"reset":          "-user NAME [-config FILE]\n  remove the user's second factor and end their open sessions",
	"revoke-devices": "-user NAME [-config FILE]\n  forget the user's remembered devices and end their open sessions",
	"list":           "[-config FILE]\n  who is enrolled, with which factors",
	"show":           "-user NAME [-config FILE]\n  one user's factors and remembered devices",
	"recovery-codes": "-user NAME [-config FILE]\n  issue a new set of recovery codes, printed once",
	"unlock":         "-user NAME [-config FILE]\n  lift the user's ban and forget their failed attempts",
	"set-phone":      "-user NAME -number +447400123456 [-config FILE]\n  set the number for the user's text-message codes",
}

// adminSkips are the config sections an administrator command does not
// read: their ${VAR}s may be unset (no keys in the environment just to list
// users). Commands that open a sealed phone number or derive a counter key
// from the encryption keys (adminNeedsKeys) read "secrets".
func adminSkips(action string) []string {
	if adminNeedsKeys(action) {
		return []string{"gate", "sms"}
	}
	return []string{"gate", "secrets", "sms"}
}

// adminNeedsKeys reports whether a users command needs the encryption keys:
// set-phone seals the number, unlock finds the number's send-cap counter.
func adminNeedsKeys(action string) bool { return action == "set-phone" || action == "unlock" }

// loadAdminConfig loads the config for an administrator command.
func loadAdminConfig(path string, env Env, action string) (*config.Config, error) {
	return config.LoadWithout(path, env, adminSkips(action)...)
}

// adminEphemeral is what administrator commands change in the ephemeral
// store a running gateway uses: bans and revocations.
type adminEphemeral interface {
	store.Counters
	Revoke(ctx context.Context, key [32]byte, at, until time.Time) error
}

// errMemoryEphemeral: with store.ephemeral: memory, bans and revocations
// live inside the gateway process and no command can reach them.
var errMemoryEphemeral = open.ErrInProcess

// openEphemeral opens the ephemeral store the gateway shares (Redis, or the
// SQLite file), through the gateway's own store selection (store/open).
// close releases it.
func openEphemeral(ctx context.Context, cfg *config.Config) (adminEphemeral, func(), error) {
	stores := open.New(cfg.Store, open.Options{})
	e, err := stores.Shared(ctx)
	if err != nil {
		stores.Close()
		return nil, nil, err
	}
	return e, func() { stores.Close() }, nil
}

// openDurable opens the configured durable store (PostgreSQL or SQLite),
// through the gateway's own store selection (store/open); closing it
// releases it.
func openDurable(ctx context.Context, cfg *config.Config) (store.Durable, error) {
	db, err := open.New(cfg.Store, open.Options{}).Durable(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the durable store: %w", err)
	}
	return db, nil
}

// endSessions ends every open gate session of user, on every replica: a
// revocation under gate.UserKey that the gateways apply in process (Redis
// by pub/sub at once, the SQLite file within seconds).
func endSessions(ctx context.Context, cfg *config.Config, user string, now time.Time) error {
	eph, closeEph, err := openEphemeral(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeEph()
	maxAge := cfg.Gate.MaxAge
	if maxAge <= 0 {
		maxAge = config.Defaults().Gate.MaxAge
	}
	if err := eph.Revoke(ctx, gate.UserKey(user), now, now.Add(maxAge)); err != nil {
		return fmt.Errorf("ending open sessions: %w", err)
	}
	return nil
}

// ipsCommand runs `vestibule ips list` and `vestibule ips unlock ADDR`.
func ipsCommand(ctx context.Context, sub string, args []string, stdout, stderr io.Writer, env Env) error {
	fs := flag.NewFlagSet("ips "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "config file")
	fs.Usage = func() {
		switch sub {
		case "list":
			fmt.Fprintln(stderr, "usage: vestibule ips list [-config FILE]\n  the client addresses banned now, and until when")
		default:
			fmt.Fprintln(stderr, "usage: vestibule ips unlock [-config FILE] ADDR\n  lift the ban of a client address and forget its failed attempts")
		}
		fs.PrintDefaults()
	}
	// Flags may follow the address: `ips unlock 192.0.2.1 -config c.yaml`.
	var rest []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	cfg, err := loadAdminConfig(*path, env, "ips")
	if err != nil {
		return err
	}
	log, closeLog, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	switch sub {
	case "list":
		if len(rest) != 0 {
			fs.Usage()
			return fmt.Errorf("ips list takes no arguments, got %q", strings.Join(rest, " "))
		}
	case "unlock":
		if len(rest) != 1 {
			fs.Usage()
			return errors.New("ips unlock needs one address, such as 192.0.2.1 or 2001:db8::1")
		}
	}
	eph, closeEph, err := openEphemeral(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeEph()
	now := time.Now()
	switch sub {
	case "list":
		bans, err := eph.Bans(ctx, "ip:", now)
		if err != nil {
			return err
		}
		if len(bans) == 0 {
			fmt.Fprintln(stdout, "no address is banned")
			return nil
		}
		fmt.Fprintf(stdout, "%-40s %s\n", "ADDRESS", "BANNED UNTIL")
		for _, b := range bans {
			fmt.Fprintf(stdout, "%-40s %s\n", strings.TrimPrefix(b.Key, "ip:"), b.Until.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
		return nil
	default:
		a, err := netip.ParseAddr(strings.Trim(rest[0], "[]"))
		if err != nil {
			return fmt.Errorf("ips unlock: want an IP address such as 192.0.2.10, got %q", rest[0])
		}
		addrs := []string{a.String()}
		if u := a.Unmap().String(); u != addrs[0] {
			addrs = append(addrs, u)
		}
		var was time.Time
		for _, ad := range addrs {
			if until, banned, err := eph.BannedUntil(ctx, "ip:"+ad, now); err != nil {
				return err
			} else if banned && until.After(was) {
				was = until
			}
			if err := eph.Unban(ctx, "ip:"+ad); err != nil {
				return err
			}
			// The text-message send cap of the address goes too.
			for _, k := range challenge.SMSIPCounters(ad) {
				if err := eph.Unban(ctx, k); err != nil {
					return err
				}
			}
		}
		log.Warn("address unlocked by an administrator", "event", "unlock", "remote_ip", addrs[len(addrs)-1])
		if was.IsZero() {
			fmt.Fprintf(stdout, "%s: was not banned; failed attempts and text-message cap forgotten\n", addrs[len(addrs)-1])
		} else {
			fmt.Fprintf(stdout, "%s: ban (until %s) lifted, failed attempts and text-message cap forgotten\n", addrs[len(addrs)-1], was.UTC().Format("2006-01-02 15:04 UTC"))
		}
		return nil
	}
}

// listenError says which key or variable moves a listener whose address
// is taken (a second instance on the host, most often).
func listenError(key, envName, addr string, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s %s: %w", key, addr, err)
	}
	hint := fmt.Sprintf("set %s in the config or %s in the environment to a free address", key, envName)
	if key == "admin.listen" {
		hint += fmt.Sprintf(` (each instance on a host needs its own, e.g. 127.0.0.1:9092), or %s=off / admin.listen: "" for none`, envName)
	}
	return fmt.Errorf("%s %s is already in use (another instance?): %s", key, addr, hint)
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
		case !d.Created.After(e.DevicesRevoked):
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
