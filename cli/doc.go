// Package cli owns the vestibule command line: serve (with SIGHUP reloads
// and SIGTERM draining), demo, config check, keys generate, the
// administrator's users, devices and ips commands, users invite and parse
// import-mfa, health and version; each command loads what it needs and
// calls a plain function over the stores.
package cli
