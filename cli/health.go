package cli

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"
)

// health asks the admin listener whether the gateway is alive.
func health(_ context.Context, args []string, o invocation) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(o.stderr)
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
	fmt.Fprintln(o.stdout, "ok")
	return nil
}
