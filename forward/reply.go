package forward

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Reply is a complete response made by the gateway itself.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Replace makes resp the gateway's own answer rep (a held login's
// challenge): status, headers and body, framed anew.
func (rep Reply) Replace(resp *http.Response) {
	resp.StatusCode, resp.Status = rep.Status, ""
	resp.Header = rep.Header
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	ReplaceBody(resp, rep.Body)
}

// ReplaceBody gives resp a new, complete body.
func ReplaceBody(resp *http.Response, b []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Del("Content-Encoding")
	resp.TransferEncoding = nil
	resp.Trailer = nil
}

// Hop-by-hop headers (RFC 9110 7.6.1) are not part of a held response.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

// RemoveHopHeaders removes hop-by-hop headers (and Content-Length) from a
// response header about to be held.
func RemoveHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for _, sf := range strings.Split(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}
