package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/vestibule-gw/vestibule/challenge"
)

// ipsStart parses an ips command's flags (they may follow the address:
// `ips unlock 192.0.2.1 -config c.yaml`) and loads the config without the
// key sections; it returns the positional arguments and a usage printer.
func ipsStart(ctx context.Context, name, synopsis string, args []string, o invocation) (*admin, []string, func(), error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	path := fs.String("config", "config.yaml", "config file")
	fs.Usage = func() {
		fmt.Fprintln(o.stderr, "usage: vestibule "+name+" "+synopsis)
		fs.PrintDefaults()
	}
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	a, err := start(ctx, *path, o, needs{skip: []string{"gate", "secrets", "sms"}})
	if err != nil {
		return nil, nil, nil, err
	}
	return a, rest, fs.Usage, nil
}

// ipsList: vestibule ips list, the client addresses banned now.
func ipsList(ctx context.Context, args []string, o invocation) error {
	a, rest, usage, err := ipsStart(ctx, "ips list", "[-config FILE]\n  the client addresses banned now, and until when", args, o)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 0 {
		usage()
		return fmt.Errorf("ips list takes no arguments, got %q", strings.Join(rest, " "))
	}
	eph, err := a.ephemeral(ctx)
	if err != nil {
		return err
	}
	return runIPsList(ctx, o.stdout, eph, time.Now())
}

func runIPsList(ctx context.Context, w io.Writer, eph adminEphemeral, now time.Time) error {
	bans, err := eph.Bans(ctx, "ip:", now)
	if err != nil {
		return err
	}
	if len(bans) == 0 {
		fmt.Fprintln(w, "no address is banned")
		return nil
	}
	fmt.Fprintf(w, "%-40s %s\n", "ADDRESS", "BANNED UNTIL")
	for _, b := range bans {
		fmt.Fprintf(w, "%-40s %s\n", strings.TrimPrefix(b.Key, "ip:"), b.Until.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	return nil
}

// ipsUnlock: vestibule ips unlock ADDR, the address's ban and text-message
// cap lifted.
func ipsUnlock(ctx context.Context, args []string, o invocation) error {
	a, rest, usage, err := ipsStart(ctx, "ips unlock", "[-config FILE] ADDR\n  lift the ban of a client address and forget its failed attempts", args, o)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 1 {
		usage()
		return errors.New("ips unlock needs one address, such as 192.0.2.1 or 2001:db8::1")
	}
	eph, err := a.ephemeral(ctx)
	if err != nil {
		return err
	}
	return runIPsUnlock(ctx, o.stdout, a, eph, rest[0], time.Now())
}

func runIPsUnlock(ctx context.Context, w io.Writer, a *admin, eph adminEphemeral, addr string, now time.Time) error {
	ip, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return fmt.Errorf("ips unlock: want an IP address such as 192.0.2.10, got %q", addr)
	}
	addrs := []string{ip.String()}
	if u := ip.Unmap().String(); u != addrs[0] {
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
	a.log.Warn("address unlocked by an administrator", "event", "unlock", "remote_ip", addrs[len(addrs)-1])
	if was.IsZero() {
		fmt.Fprintf(w, "%s: was not banned; failed attempts and text-message cap forgotten\n", addrs[len(addrs)-1])
	} else {
		fmt.Fprintf(w, "%s: ban (until %s) lifted, failed attempts and text-message cap forgotten\n", addrs[len(addrs)-1], was.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return nil
}
