package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/gate"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/server"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/open"
)

// needs is what a command over the stores reads.
type needs struct {
	// validated: the whole config, validated as the gateway serves it
	// (a command that signs with the gate keys). Otherwise the config
	// without the sections in skip: their ${VAR}s may be unset (no keys
	// in the environment just to list users).
	validated bool
	skip      []string
	// keys: the encryption keys (a.sealer), for commands that seal a
	// phone number or a secret or derive a counter key.
	keys bool
	// durable: the durable store (a.db).
	durable bool
	// check, if set, is told the config before anything is opened (the
	// command's own preconditions).
	check func(*config.Config) error
}

// admin is a command's setup over the stores: its config, logger and
// what it opened. Close releases them.
type admin struct {
	cfg     *config.Config
	log     *slog.Logger
	sealer  *seal.Sealer  // with needs.keys
	db      store.Durable // with needs.durable
	closers []func()
}

// start loads the config at path as the command needs it, makes the
// logger (stderr and the audit file) and opens what the command reads.
func start(ctx context.Context, path string, o invocation, n needs) (*admin, error) {
	var cfg *config.Config
	var err error
	if n.validated {
		cfg, err = loadValid(path, o.env)
	} else {
		cfg, err = config.LoadWithout(path, o.env, n.skip...)
	}
	if err != nil {
		return nil, err
	}
	if n.check != nil {
		if err := n.check(cfg); err != nil {
			return nil, err
		}
	}
	log, closeLog, err := newLogger(cfg, o.stderr)
	if err != nil {
		return nil, err
	}
	a := &admin{cfg: cfg, log: log, closers: []func(){closeLog}}
	if n.keys {
		if a.sealer, err = newSealer(cfg); err != nil {
			a.Close()
			return nil, err
		}
	}
	if n.durable {
		if a.db, err = openDurable(ctx, cfg); err != nil {
			a.Close()
			return nil, err
		}
		db := a.db
		a.closers = append(a.closers, func() { db.Close() })
	}
	return a, nil
}

// Close releases what start opened, last first.
func (a *admin) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// ephemeral opens the ephemeral store the gateway shares (Redis, or the
// SQLite file); Close releases it.
func (a *admin) ephemeral(ctx context.Context) (adminEphemeral, error) {
	eph, closeEph, err := openEphemeral(ctx, a.cfg)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, closeEph)
	return eph, nil
}

// notify tells the enrollment webhook of an administrator's change,
// waiting at most its timeout. A failure is logged (by the notifier) and
// never fails the command.
func (a *admin) notify(ctx context.Context, ev notify.Event) {
	n, err := server.EnrollmentNotifier(a.cfg, time.Now, a.log)
	if err != nil {
		a.log.Warn("enrollment webhook not configured correctly; not told", "event", "enrollment_webhook_failed", "change", ev.Event, "user", ev.User, "err", err)
		return
	}
	n.Send(ctx, ev)
}

// endSessions ends every open gate session of user, on every replica: a
// revocation under gate.UserKey that the gateways apply in process (Redis
// by pub/sub at once, the SQLite file within seconds).
func (a *admin) endSessions(ctx context.Context, user string, now time.Time) error {
	eph, err := a.ephemeral(ctx)
	if err != nil {
		return err
	}
	maxAge := a.cfg.Gate.MaxAge
	if maxAge <= 0 {
		maxAge = config.Defaults().Gate.MaxAge
	}
	if err := eph.Revoke(ctx, gate.UserKey(user), now, now.Add(maxAge)); err != nil {
		return fmt.Errorf("ending open sessions: %w", err)
	}
	return nil
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

// newSealer is the config's encryption keys, as the gateway uses them:
// phone numbers are sealed with them, counter keys derived from them.
func newSealer(cfg *config.Config) (*seal.Sealer, error) {
	keys, err := cfg.EncryptionKeys()
	if err != nil {
		return nil, err
	}
	s, err := seal.New(keys, nil)
	if err != nil {
		return nil, fmt.Errorf("secrets.encryption_keys: %w", err)
	}
	return s, nil
}

// adminUserName is NAME as the gateway files it: the way the app compares
// names (login.user.normalize), so an administrator's "Alice " finds the
// enrollment the gateway made for the app's "Alice" (and, with casefold,
// for "alice").
func adminUserName(cfg *config.Config, name string) (string, error) {
	u, err := cookieguard.NormalizerOf(cfg.Login.User.Normalize).Normalize(name)
	if err != nil {
		return "", fmt.Errorf("-user: %w", err)
	}
	return u, nil
}

// parseInterleaved parses flags that may come before, between and after
// the positional arguments (`ips unlock 192.0.2.1 -config c.yaml`) and
// returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newLogger makes the gateway's logger: text or JSON to w, every line with
// its request id, and security events also to log.audit_file when set.
func newLogger(cfg *config.Config, w io.Writer) (*slog.Logger, func(), error) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	var main slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Log.Format == "json" {
		main = slog.NewJSONHandler(w, opts)
	}
	closeFn := func() {}
	var auditOut io.Writer
	if cfg.Log.AuditFile != "" {
		f, err := os.OpenFile(cfg.Log.AuditFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("log.audit_file: %w", err)
		}
		auditOut, closeFn = &lockedWriter{w: f}, func() { f.Close() }
	}
	return slog.New(audit.NewHandler(main, auditOut)), closeFn, nil
}

// lockedWriter serialises writes so JSON lines never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
