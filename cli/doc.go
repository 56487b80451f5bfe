// Package cli owns the vestibule command line. cli.go maps each command
// as typed to one function: serve (with SIGHUP reloads and SIGTERM
// draining, serve.go), demo, config check and keys generate (config.go),
// the administrator's users and devices commands (users.go), ips list and
// unlock (ips.go), users invite, parse import-mfa, health and version.
// A command over the stores starts from one helper (start, setup.go): the
// config loaded without the sections it does not read, the logger, the
// stores it needs; then calls a plain runX function over them.
package cli
