// Package templates embeds the gate pages' HTML templates, so the binary
// carries them; the challenge package parses them once at start.
package templates

import "embed"

// FS holds layout.html and one file per page.
//
//go:embed *.html
var FS embed.FS
