package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Fingerprint is a short hash of the config as applied, with every secret
// left out: replicas with the same fingerprint enforce the same rules, so
// a fleet where one replica was reloaded and another not shows in
// /metrics (vestibule_config_info).
func (c *Config) Fingerprint() string {
	cp := *c
	cp.Gate.Keys, cp.Gate.KeysFile = nil, ""
	cp.Secrets = Secrets{}
	cp.Store.Postgres, cp.Store.Redis = "", ""
	cp.SMS.Vonage.APIKey, cp.SMS.Vonage.APISecret = "", ""
	cp.SMS.Twilio.AuthToken = ""
	cp.SMS.Webhook.Secret = ""
	b, _ := json.Marshal(cp)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
