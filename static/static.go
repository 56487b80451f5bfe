// Package static embeds the gate pages' static files (the stylesheet and
// passkey.js, the one script: WebAuthn for passkey forms), served under the
// gateway's reserved prefix; no CDN.
package static

import "embed"

// FS holds the static files.
//
//go:embed *.css *.js
var FS embed.FS
