package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/server"
)

// Env looks up environment variables (os.LookupEnv in production).
type Env func(string) (string, bool)

// Version is the build's version, set by main.
var Version = "dev"

// Run executes one vestibule command. demoConfig is the top-level
// config.yaml, embedded in the binary, which the demo command runs.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, demoConfig []byte) error {
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
	return run(ctx, cfg, newLogger(cfg, stderr), nil)
}

// run serves cfg until ctx ends; ready, if set, is told the listening URL.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(url string)) error {
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
		return fmt.Errorf("listen: %w", err)
	}
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
	}
	dir := o.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vestibule-demo-"); err != nil {
			return "", nil, err
		}
	}
	cfg.Store.SQLite = filepath.Join(dir, "vestibule.db")
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
	go func() { done <- run(ctx, cfg, newLogger(cfg, o.Log), func(u string) { readyc <- u }) }()
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
  then set up the second factor with any authenticator app.

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

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
