package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Listen addresses from the environment. They win over the config file
// (whatever it says, ${...} or not) and lose to a command-line flag:
//
//	flag (demo -listen)  >  VESTIBULE_LISTEN / VESTIBULE_ADMIN_LISTEN  >  listen / admin.listen  >  default
//
// An empty variable counts as unset; VESTIBULE_ADMIN_LISTEN=off turns the
// admin listener off.
const (
	EnvListen      = "VESTIBULE_LISTEN"
	EnvAdminListen = "VESTIBULE_ADMIN_LISTEN"
)

func (c *Config) applyEnvListen(env func(string) (string, bool)) {
	if v, ok := env(EnvListen); ok && strings.TrimSpace(v) != "" {
		c.Listen = strings.TrimSpace(v)
	}
	if v, ok := env(EnvAdminListen); ok && strings.TrimSpace(v) != "" {
		c.Admin.Listen = strings.TrimSpace(v)
		if c.Admin.Listen == "off" {
			c.Admin.Listen = ""
		}
	}
}

// LoadWithout is LoadWith for a command that does not use some parts of the
// config: an administrator's command on the stores needs no cookie or
// encryption keys. Under each key path starting with one of skip ("gate",
// "secrets", "sms"), an unset ${VAR} expands to "" and key files are not
// read. The result is for that command only: never validate or serve it.
func LoadWithout(path string, env func(string) (string, bool), skip ...string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	skipped := func(p string) bool {
		for _, s := range skip {
			if p == s || strings.HasPrefix(p, s+".") || strings.HasPrefix(p, s+"[") {
				return true
			}
		}
		return false
	}
	cfg, err := parseWith(data, path, env, skipped)
	if err != nil {
		return nil, err
	}
	if skipped("gate.keys_file") {
		cfg.Gate.KeysFile = ""
	}
	if skipped("secrets.encryption_keys_file") {
		cfg.Secrets.EncryptionKeysFile = ""
	}
	if err := cfg.readKeyFiles(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return cfg, nil
}

// unsetVar is an unset ${NAME} without a fallback.
type unsetVar string

func (u unsetVar) Error() string {
	return fmt.Sprintf("environment variable %s is not set (use ${%s:-default} for an optional value)", string(u), string(u))
}

// unsetMessage words an unset variable for where it is used: a key gets
// how to make one and where to put it (a default in the file would be a
// key anyone can read), another secret where to set it.
func unsetMessage(path string, err error) error {
	name, ok := err.(unsetVar)
	if !ok {
		return err
	}
	n := string(name)
	switch {
	case strings.HasPrefix(path, "gate.keys"), strings.HasPrefix(path, "secrets.encryption_keys"):
		file := "gate.keys_file"
		if strings.HasPrefix(path, "secrets.") {
			file = "secrets.encryption_keys_file"
		}
		return fmt.Errorf("environment variable %s is not set: it holds a secret key. Generate one with `vestibule keys generate` "+
			"(or `openssl rand -base64 32`) and set %s=<key> in the gateway's environment, or list keys in %s; "+
			"a default written in the file would be a key anyone who reads the file has", n, n, file)
	case isSecretPath(path):
		return fmt.Errorf("environment variable %s is not set: it holds a secret; set it in the gateway's environment "+
			"(a default in the file would be readable by anyone who reads the file)", n)
	}
	return err
}

// isSecretPath reports whether a key path holds a credential.
func isSecretPath(path string) bool {
	for _, s := range []string{"sms.vonage.api_secret", "sms.vonage.api_key", "sms.twilio.auth_token", "sms.webhook.secret", "store.postgres", "store.redis"} {
		if path == s {
			return true
		}
	}
	return false
}
