package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"sort"

	"github.com/vestibule-gw/vestibule/config"
)

// configCheck validates a config and lists every problem: vestibule
// config check [-config FILE].
func configCheck(_ context.Context, args []string, o invocation) error {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	path := fs.String("config", "config.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := loadValid(*path, o.env); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "%s: ok\n", *path)
	return nil
}

// loadValid reads the whole config, validated, as the gateway serves it.
func loadValid(path string, env Env) (*config.Config, error) {
	cfg, err := config.LoadWith(path, env)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s:\n%w", path, err)
	}
	return cfg, nil
}

// keysGenerate prints fresh keys for the config's secrets: vestibule keys
// generate.
func keysGenerate(_ context.Context, _ []string, o invocation) error {
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
		fmt.Fprintf(o.stdout, "%s=%s\n", k, keys[k])
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
