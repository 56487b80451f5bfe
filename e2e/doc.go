// Package e2e holds end-to-end tests that drive the real demo (the embedded
// config.yaml with the built-in app) through a headless Chromium, as a person
// would use it. It has no code of its own.
package e2e
