package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
	"github.com/vestibule-gw/vestibule/server"
)

// serve runs the gateway: vestibule serve [-config FILE].
func serve(ctx context.Context, args []string, o invocation) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	path := fs.String("config", "config.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadValid(*path, o.env)
	if err != nil {
		return err
	}
	log, closeLog, err := newLogger(cfg, o.stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	reload := func() (*config.Config, error) {
		c, err := config.LoadWith(*path, o.env)
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
		url, stop, err := demoapp.Start(ctx, demoapp.Options{Name: cfg.AppName, SecurityPage: cfg.Prefix + "account"})
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
