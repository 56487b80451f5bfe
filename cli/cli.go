package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vestibule-gw/vestibule/audit"
	"github.com/vestibule-gw/vestibule/challenge"
	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/cookieguard"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/factor"
	"github.com/vestibule-gw/vestibule/notify"
	"github.com/vestibule-gw/vestibule/phone"
	"github.com/vestibule-gw/vestibule/seal"
	"github.com/vestibule-gw/vestibule/server"
	"github.com/vestibule-gw/vestibule/store"
	"github.com/vestibule-gw/vestibule/store/sealed"
)

// Env looks up environment variables (os.LookupEnv in production).
type Env func(string) (string, bool)

// Version is the build's version, set by main.
var Version = "dev"

// Run executes one vestibule command. demoConfig is the top-level
// config.yaml, embedded in the binary, which the demo command runs. A
// command's -h prints its usage and is no error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, demoConfig []byte) error {
	err := runCommand(ctx, args, stdout, stderr, env, demoConfig)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, demoConfig []byte) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, env)
	case "demo":
		return demo(ctx, args[1:], stdout, stderr, env, demoConfig)
	case "config":
		if len(args) > 1 && args[1] == "check" {
			return configCheck(args[2:], stdout, env)
		}
	case "keys":
		if len(args) > 1 && args[1] == "generate" {
			return keysGenerate(stdout)
		}
	case "users":
		if len(args) > 1 && args[1] == "reset" {
			return adminUser(ctx, args[2:], stdout, stderr, env, "reset")
		}
		if len(args) > 1 && args[1] == "invite" {
			return invite(ctx, args[2:], stdout, stderr, env)
		}
		if len(args) > 1 {
			switch args[1] {
			case "set-phone", "list", "show", "recovery-codes", "unlock":
				return adminUser(ctx, args[2:], stdout, stderr, env, args[1])
			}
		}
	case "devices":
		if len(args) > 1 && args[1] == "revoke" {
			return adminUser(ctx, args[2:], stdout, stderr, env, "revoke-devices")
		}
	case "parse":
		if len(args) > 1 && args[1] == "import-mfa" {
			return parseImportMFA(ctx, args[2:], stdout, stderr, env)
		}
	case "ips":
		if len(args) > 1 && (args[1] == "list" || args[1] == "unlock") {
			return ipsCommand(ctx, args[1], args[2:], stdout, stderr, env)
		}
	case "health":
		return health(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "vestibule", Version)
		return nil
	case "help", "-h", "--help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  vestibule demo [-listen ADDR]          run the gateway in front of a built-in demo app
  vestibule serve [-config FILE]         run the gateway (default config.yaml)
  vestibule config check [-config FILE]  validate a config and list every problem
  vestibule keys generate                print fresh keys for the config's secrets
  vestibule users reset -user NAME [-config FILE]
                                         remove a user's second factor (they enroll again)
  vestibule users invite NAME [-ttl 72h] [-config FILE]
                                         print a one-time link that lets NAME enroll a second factor
  vestibule users list [-config FILE]    who is enrolled, with which factors, last success
  vestibule users show -user NAME        one user's factors (phone masked)
  vestibule users recovery-codes -user NAME
                                         issue a new set of recovery codes, printed once
  vestibule users unlock -user NAME      lift a user's ban and text-message limits (store.redis or the SQLite ephemeral store)
  vestibule users set-phone -user NAME -number +447400123456 [-config FILE]
                                         set the number for a user's text-message codes
  vestibule devices revoke -user NAME [-config FILE]
                                         forget a user's remembered devices and end their open sessions
  vestibule ips list [-config FILE]      client addresses banned now
  vestibule ips unlock ADDR [-config FILE]
                                         lift an address's ban and text-message cap
  vestibule parse import-mfa [-config FILE] [-app-id ID] [-master-key-file F] [-dry-run] [-keep-in-parse]
                                         enroll users of Parse's own mfa adapter (authData.mfa) in the gateway
  (users reset also ends the user's open sessions on every replica; only
   users unlock and set-phone need secrets.encryption_keys in the environment)
  vestibule health [-url URL]            exit 0 if the admin /healthz answers (container HEALTHCHECK)
  vestibule version                      print the version
`)
}

func serve(ctx context.Context, args []string, stderr io.Writer, env Env) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.LoadWith(*path, env)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s:\n%w", *path, err)
	}
	log, closeLog, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	reload := func() (*config.Config, error) {
		c, err := config.LoadWith(*path, env)
		if err == nil {
			err = c.Validate()
		}
		return c, err
	}
	return run(ctx, cfg, log, nil, reload)
}

// run serves cfg until ctx ends; ready, if set, is told the listening URL.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(url string), reload func() (*config.Config, error)) error {
	if cfg.Upstream.URL == "demo" {
		url, stop, err := demoapp.Start(ctx, demoapp.Options{Name: cfg.AppName})
		if err != nil {
			return fmt.Errorf("starting the demo app: %w", err)
		}
		defer stop()
		cfg.Upstream.URL = url
		log.Info("demo app started", "upstream", url)
	}
	srv, err := server.New(ctx, cfg, server.Deps{Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return listenError("listen", config.EnvListen, cfg.Listen, err)
	}
	if cfg.Admin.Listen != "" {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			ln.Close()
			return listenError("admin.listen", config.EnvAdminListen, cfg.Admin.Listen, err)
		}
		go srv.ServeAdmin(ctx, aln)
		log.Info("admin listener (healthz, readyz, metrics)", "addr", aln.Addr().String())
	}
	if cfg.Server.HTTPRedirectListen != "" {
		rln, err := net.Listen("tcp", cfg.Server.HTTPRedirectListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server.http_redirect_listen: %w", err)
		}
		rsrv := &http.Server{Handler: srv.RedirectHandler(), ReadHeaderTimeout: 5 * time.Second}
		go rsrv.Serve(rln)
		go func() { <-ctx.Done(); rsrv.Close() }()
	}
	// SIGHUP reloads the config's safe parts (bypass, step_up, regulation)
	// and the TLS certificate, without dropping connections.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if reload != nil {
					if next, err := reload(); err != nil {
						log.Error("config reload refused; keeping the running config", "event", "config_reload_failed", "err", err)
					} else if restart, err := srv.Reload(next); err != nil {
						log.Error("config reload failed; keeping the running config", "event", "config_reload_failed", "err", err)
					} else if len(restart) > 0 {
						log.Warn("these changes need a restart to take effect", "keys", strings.Join(restart, ","))
					}
				}
				if err := srv.ReloadTLS(); err != nil {
					log.Error("reloading the TLS certificate failed; keeping the current one", "event", "tls_reload_failed", "err", err)
				} else if cfg.Server.TLSCertFile != "" {
					log.Info("TLS certificate reloaded", "event", "tls_reloaded")
				}
			}
		}
	}()
	addr := "http://" + ln.Addr().String()
	log.Info("vestibule listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "upstream", cfg.Upstream.URL)
	if ready != nil {
		ready(addr)
	}
	return srv.Serve(ctx, ln)
}

// DemoOptions configure StartDemo.
type DemoOptions struct {
	Listen  string // "" : the config's listen address
	DataDir string // "" : a new temporary directory
	Log     io.Writer
}

// StartDemo runs the demo (the embedded config with the built-in app as
// upstream) in the background and returns the gateway URL. Missing secrets
// get throwaway random keys. stop ends it and waits.
func StartDemo(ctx context.Context, demoConfig []byte, env Env, o DemoOptions) (url string, stop func(), err error) {
	genKeys := map[string]string{}
	lookup := func(k string) (string, bool) {
		if v, ok := env(k); ok && v != "" {
			return v, true
		}
		if strings.HasPrefix(k, "VESTIBULE_") && strings.HasSuffix(k, "_KEY") {
			if _, ok := genKeys[k]; !ok {
				genKeys[k] = randomKey()
			}
			return genKeys[k], true
		}
		return env(k)
	}
	cfg, err := config.ParseWith(demoConfig, "config.yaml", lookup)
	if err != nil {
		return "", nil, err
	}
	if o.Listen != "" {
		// Another address: the public URL follows it, or the gate pages'
		// same-origin check would refuse the browser's form posts.
		cfg.Listen = o.Listen
		cfg.PublicURL = ""
		if strings.HasSuffix(o.Listen, ":0") {
			cfg.Admin.Listen = "127.0.0.1:0" // tests run demos side by side
		}
	}
	dir := o.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vestibule-demo-"); err != nil {
			return "", nil, err
		}
	}
	cfg.Store.SQLite = filepath.Join(dir, "vestibule.db")
	cfg.Server.DrainDelay = 0 // no load balancer to tell: Ctrl-C stops at once
	if !cfg.SMS.Enabled {
		// The demo shows text-message codes too, without a provider: the
		// codes are printed to the demo's log. Never outside the demo.
		cfg.SMS.Enabled, cfg.SMS.Sender, cfg.SMS.AllowLogSender = true, "log", true
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	url = "http://" + net.JoinHostPort(host, port)
	if cfg.PublicURL == "" {
		cfg.PublicURL = url
	}
	ln.Close()
	cfg.Listen = ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	readyc := make(chan string, 1)
	done := make(chan error, 1)
	log, closeLog, err := newLogger(cfg, o.Log)
	if err != nil {
		cancel()
		return "", nil, err
	}
	go func() { defer closeLog(); done <- run(ctx, cfg, log, func(u string) { readyc <- u }, nil) }()
	select {
	case <-readyc:
	case err := <-done:
		cancel()
		return "", nil, err
	}
	return url, func() { cancel(); <-done; os.RemoveAll(dir) }, nil
}

func demo(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, demoConfig []byte) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "address to listen on (default: the config's, 127.0.0.1:8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url, stop, err := StartDemo(ctx, demoConfig, env, DemoOptions{Listen: *listen, Log: stderr})
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stdout, `
Vestibule demo is running.

  Open %s/ in your browser and sign in as
    alice / wonderland   or   bob / builder
  then set up the second factor with any authenticator app, or choose
  text messages: the demo prints them to this terminal instead of sending.

  Keys and the enrollment database are throwaway: they vanish when you stop (Ctrl-C).
`, url)
	<-ctx.Done()
	return nil
}

func configCheck(args []string, stdout io.Writer, env Env) error {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	path := fs.String("config", "config.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.LoadWith(*path, env)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s:\n%w", *path, err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return nil
}

func keysGenerate(stdout io.Writer) error {
	keys := map[string]string{
		"VESTIBULE_COOKIE_KEY":     randomKey(),
		"VESTIBULE_ENCRYPTION_KEY": randomKey(),
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(stdout, "%s=%s\n", k, keys[k])
	}
	return nil
}

func randomKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.StdEncoding.EncodeToString(b)
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

// health asks the admin listener whether the gateway is alive.
func health(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	u := fs.String("url", "http://127.0.0.1:9091/healthz", "health URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(*u)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s", resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
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

// adminUser runs an administrator's action on one user's second factor
// against the configured durable store (the gateway may be running).
func adminUser(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, action string) error {
	fs := flag.NewFlagSet(adminNames[action], flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "config file")
	var user *string
	if action == "list" {
		user = new(string)
	} else {
		user = fs.String("user", "", "user name (as the app knows it); or give it after the flags")
	}
	number := new(string)
	if action == "set-phone" {
		number = fs.String("number", "", "phone number, with the country code (+447400123456)")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vestibule %s %s\n", adminNames[action], adminSynopsis[action])
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" && fs.NArg() > 0 && action != "list" {
		// `users show alice` as well as -user alice; flags may follow.
		*user = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if *user == "" && action != "list" {
		return errors.New("-user is required")
	}
	cfg, err := loadAdminConfig(*path, env, action)
	if err != nil {
		return err
	}
	u, err := adminUserName(cfg, *user, action)
	if err != nil {
		return err
	}
	log, closeLog, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	db, err := openDurable(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	revokedAt := time.Now()
	// Phone numbers are sealed at rest, as the gateway writes them: the
	// commands that read or write one in clear (or a counter derived from
	// it) need the encryption keys; the others show the masked part only.
	var sealer *seal.Sealer
	if adminNeedsKeys(action) {
		if sealer, err = newSealer(cfg); err != nil {
			return err
		}
		db = sealed.NewDurable(db, sealer)
	}
	switch action {
	case "reset":
		err = db.Reset(ctx, u)
	case "revoke-devices":
		err = db.RevokeDevices(ctx, u, revokedAt)
	case "list":
		l, err := db.Enrollments(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-30s %-10s %-22s %s\n", "USER", "FACTORS", "LAST SUCCESS", "RECOVERY CODES LEFT")
		for _, e := range l {
			fmt.Fprintf(stdout, "%-30s %-10s %-22s %d\n", e.User, factorsOf(e), when(e.LastUsed), len(e.RecoveryHashes))
		}
		return nil
	case "show":
		e, err := db.Enrollment(ctx, u)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("user %q has no second factor enrolled", u)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user:                %s\nfactors:             %s\nphone:               %s\nenrolled:            %s\nlast success:        %s\nrecovery codes left: %d\ndevices revoked:     %s\n",
			e.User, factorsOf(e), cmp.Or(sealed.MaskedPhone(e.Phone), "none"), when(e.CreatedAt), when(e.LastUsed), len(e.RecoveryHashes), when(e.DevicesRevoked))
		return listDevices(ctx, stdout, db, e, cfg.RememberDevice.MaxAge)
	case "recovery-codes":
		codes, err := factor.NewRecoveryCodes(rand.Reader, 10)
		if err != nil {
			return err
		}
		hashes := make([][]byte, len(codes))
		for i, c := range codes {
			n, _ := factor.NormalizeRecoveryCode(c)
			hashes[i] = factor.HashRecoveryCode(n)
		}
		if err = db.ReplaceRecoveryCodes(ctx, u, hashes); err == nil {
			log.Warn("recovery codes replaced by an administrator", "event", "recovery_codes_replaced", "user", u)
			notifyAdmin(ctx, cfg, log, notify.Event{Event: "recovery_codes_replaced", User: u, By: "admin"})
			fmt.Fprintf(stdout, "New recovery codes for %s (shown once; the old ones no longer work):\n", u)
			for _, c := range codes {
				fmt.Fprintln(stdout, "  "+c)
			}
			return nil
		}
	case "unlock":
		bans, closeEph, err := openEphemeral(ctx, cfg)
		if errors.Is(err, errMemoryEphemeral) {
			return errors.New("users unlock can't reach bans kept in memory (store.ephemeral: memory): they end by themselves, or restart the gateway")
		}
		if err != nil {
			return err
		}
		defer closeEph()
		// The user's failure ban, and the text-message cooldown and caps
		// (the enrolled number's too).
		keys := []string{"user:" + u}
		var number string
		if e, err := db.Enrollment(ctx, u); err == nil {
			number = e.Phone
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		keys = append(keys, challenge.SMSUserCounters(sealer.Derive("sms-code"), u, number)...)
		for _, k := range keys {
			if err := bans.Unban(ctx, k); err != nil {
				return err
			}
		}
		log.Warn("user unlocked by an administrator", "event", "unlock", "user", u)
		fmt.Fprintf(stdout, "%s: ban lifted, failed attempts and text-message limits forgotten\n", u)
		return nil
	case "set-phone":
		var p string
		if p, err = phone.Parse(*number, cfg.SMS.DefaultRegion); err != nil {
			return fmt.Errorf("-number: %q is not a valid phone number (include the country code)", *number)
		}
		*number = p
		err = db.SetPhone(ctx, u, p, time.Now())
	}
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user %q has no second factor enrolled", u)
	}
	if err != nil {
		return err
	}
	switch action {
	case "reset", "revoke-devices":
		if action == "reset" {
			log.Warn("second factor reset by an administrator", "event", "factor_reset", "user", u)
			notifyAdmin(ctx, cfg, log, notify.Event{Event: "factor_reset", User: u, By: "admin"})
			fmt.Fprintf(stdout, "%s: second factor removed; they will enroll again at their next sign-in\n", u)
		} else {
			log.Warn("remembered devices revoked by an administrator", "event", "devices_revoked", "user", u)
			notifyAdmin(ctx, cfg, log, notify.Event{Event: "devices_revoked", User: u, By: "admin"})
			fmt.Fprintf(stdout, "%s: remembered devices revoked\n", u)
		}
		// Sessions that passed the old factor (or a revoked device) end too.
		if err := endSessions(ctx, cfg, u, revokedAt); err != nil {
			if errors.Is(err, errMemoryEphemeral) {
				fmt.Fprintf(stdout, "%s: open sessions NOT ended: %v; they last until gate.max_age\n", u, err)
				return nil
			}
			return fmt.Errorf("%s: open sessions NOT ended (run the command again): %w", u, err)
		}
		log.Warn("open sessions ended by an administrator", "event", "sessions_revoked", "user", u)
		fmt.Fprintf(stdout, "%s: open sessions ended on every gateway\n", u)
	case "set-phone":
		log.Warn("phone number set by an administrator", "event", "phone_set", "user", u, "phone", phone.Mask(*number))
		notifyAdmin(ctx, cfg, log, notify.Event{Event: "phone_set", User: u, By: "admin", Phone: phone.Mask(*number)})
		fmt.Fprintf(stdout, "%s: text-message codes go to %s\n", u, phone.Mask(*number))
	}
	return nil
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
func adminUserName(cfg *config.Config, name, action string) (string, error) {
	if action == "list" {
		return "", nil
	}
	u, err := cookieguard.NormalizerOf(cfg.Login.User.Normalize).Normalize(name)
	if err != nil {
		return "", fmt.Errorf("-user: %w", err)
	}
	return u, nil
}
