package server

import (
	"crypto/tls"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/regulate"
)

// Reload applies a new, validated config while serving: bypass and step-up
// rules, the failed-attempt limits and the pages' branding (accent colour,
// logo file read again) change at once. It returns the keys
// that differ but need a restart to take effect (they are not applied).
func (s *Server) Reload(cfg *config.Config) ([]string, error) {
	bypass, stepUp, err := pathRules(cfg)
	if err != nil {
		return nil, err
	}
	brand, err := loadBrand(cfg.Branding)
	if err != nil {
		return nil, err
	}
	s.px.SetRules(bypass, stepUp)
	s.reg.SetLimits(regulate.Limit(cfg.Regulation.User), regulate.Limit(cfg.Regulation.IP))
	s.ch.SetBrand(brand)
	s.acct.SetBrand(brand.Accent != "", len(brand.Logo) > 0)
	s.metrics.SetConfig(cfg.Fingerprint())
	var restart []string
	old := *s.cfg // the startup config: restart-only keys compare with it
	for key, same := range map[string]bool{
		"listen":            old.Listen == cfg.Listen,
		"public_url":        old.PublicURL == cfg.PublicURL,
		"prefix":            old.Prefix == cfg.Prefix,
		"upstream":          reflect.DeepEqual(old.Upstream, cfg.Upstream),
		"session_cookies":   reflect.DeepEqual(old.SessionCookies, cfg.SessionCookies),
		"credential_params": reflect.DeepEqual(old.CredentialParams, cfg.CredentialParams),
		"login":             reflect.DeepEqual(old.Login, cfg.Login),
		"logout":            reflect.DeepEqual(old.Logout, cfg.Logout),
		"gate":              reflect.DeepEqual(old.Gate, cfg.Gate),
		"secrets":           reflect.DeepEqual(old.Secrets, cfg.Secrets),
		"store":             reflect.DeepEqual(old.Store, cfg.Store),
		"sms":               reflect.DeepEqual(old.SMS, cfg.SMS),
		"factors":           old.Factors == cfg.Factors,
		"remember_device":   old.RememberDevice == cfg.RememberDevice,
		"parse":             reflect.DeepEqual(old.Parse, cfg.Parse),
		"server":            reflect.DeepEqual(old.Server, cfg.Server),
		"admin":             old.Admin == cfg.Admin,
		"log":               old.Log == cfg.Log,
		"app_name":          old.AppName == cfg.AppName,
		"enrollment":        reflect.DeepEqual(old.Enrollment, cfg.Enrollment),
		"account":           old.Account == cfg.Account,
	} {
		if !same {
			restart = append(restart, key)
		}
	}
	sort.Strings(restart)
	s.log.Info("config reloaded: bypass, step_up, regulation and branding applied", "event", "config_reloaded", "needs_restart", strings.Join(restart, ","))
	return restart, nil
}

// ReloadTLS (re)reads the certificate and key files. On error the current
// certificate stays in use.
func (s *Server) ReloadTLS() error {
	if s.cfg.Server.TLSCertFile == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.Server.TLSCertFile, s.cfg.Server.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("server.tls_cert_file / tls_key_file: %w", err)
	}
	s.cert.Store(&cert)
	return nil
}
