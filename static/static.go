// Package static embeds the gate pages' static files (stylesheet, no
// scripts), served under the gateway's reserved prefix; no CDN.
package static

import "embed"

// FS holds the static files.
//
//go:embed *.css
var FS embed.FS
