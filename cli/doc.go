// Package cli owns the vestibule command line: the serve, demo, config check
// and keys generate commands, and starting the demo (the embedded config with
// the built-in demo app) for the README's first command and the browser test.
package cli
