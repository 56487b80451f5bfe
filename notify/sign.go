package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// The headers of a signed webhook request.
const (
	HeaderTimestamp = "X-Vestibule-Timestamp"
	HeaderSignature = "X-Vestibule-Signature"
)

// Sign returns the signature header value for a timestamp and body:
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)). Receivers
// recompute it, compare in constant time, and refuse timestamps more than a
// few minutes old.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SignRequest sets the timestamp (unix seconds of now) and signature
// headers of a webhook request whose body is body.
func SignRequest(req *http.Request, secret []byte, now time.Time, body []byte) {
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
}
