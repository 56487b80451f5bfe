package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/vestibule-gw/vestibule/config"
)

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
		cfg.Listen = o.Listen
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
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() || ip.IsLoopback() {
		// Browsers treat http://localhost as a secure context and allow
		// passkeys there, never on an IP address: the demo shows them.
		host = "localhost"
	}
	url = "http://" + net.JoinHostPort(host, port)
	// The demo's public URL is where it listens (config.yaml's is
	// 127.0.0.1, for serve): same origin for the gate pages' form posts.
	cfg.PublicURL = url
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

// demo runs the gateway in front of the built-in demo app: vestibule demo.
func demo(ctx context.Context, args []string, o invocation) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	listen := fs.String("listen", "", "address to listen on (default: the config's, 127.0.0.1:8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url, stop, err := StartDemo(ctx, o.demoConfig, o.env, DemoOptions{Listen: *listen, Log: o.stderr})
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(o.stdout, `
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
