// Package config owns Vestibule's configuration: the YAML schema, strict
// decoding onto the defaults (written once, in defaults.go, where other
// packages also find them), ${ENV} expansion, and Validate, one validator
// per section, each naming every bad key.
package config
