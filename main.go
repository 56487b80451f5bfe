// Command vestibule is a reverse-proxy two-factor gateway: it holds an app's
// successful password login until a second factor passes.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vestibule-gw/vestibule/cli"
)

// demoConfig is the commented top-level config.yaml; `vestibule demo` runs it.
//
//go:embed config.yaml
var demoConfig []byte

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli.Version = version
	if err := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv, demoConfig); err != nil {
		fmt.Fprintln(os.Stderr, "vestibule:", err)
		os.Exit(1)
	}
}
