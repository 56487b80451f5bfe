// Package config owns Vestibule's configuration: the YAML schema, strict
// decoding onto the defaults (Defaults, over the constants of the leaf
// package config/defaults that other packages fall back to), ${ENV}
// expansion, and Validate, one validator per section, each naming every
// bad key.
package config
