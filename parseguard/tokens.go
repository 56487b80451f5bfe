package parseguard

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Session tokens are recognised in answers by their value, not by the key
// they are under: a GraphQL alias, a cloud function's result or a nested
// array can put a token under any name.
//
// A revocable Parse session token (the only kind Parse Server mints) is
// "r:" followed by 32 hex digits (cryptoUtils.newToken). Any JSON string,
// object key or value, that contains that shape anywhere (after its escapes
// are decoded, and once more when the decoded text itself holds escapes: a
// JSON document inside a string) is a candidate; so is any string under a
// key spelled like sessionToken (_SessionToken, session_token, any case),
// which also catches legacy tokens migrated from parse.com, whose shape is
// not recognisable. Both patterns match case-insensitively: over-matching
// only costs a registry lookup.
//
// A token the guard removes is blanked in place, keeping the answer's
// length: the string becomes "" followed by spaces (or, when the token was
// part of a longer text, the text without it, then spaces). The answer stays
// valid JSON, Content-Length stays right, and answers are filtered while
// they stream.

// tokenLen is the length of a revocable session token.
const tokenLen = 34

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// tokenAt reports whether s[i:] starts with a revocable token shape.
func tokenAt(s []byte, i int) bool {
	if i+tokenLen > len(s) || s[i]|0x20 != 'r' || s[i+1] != ':' {
		return false
	}
	for _, c := range s[i+2 : i+tokenLen] {
		if !isHex(c) {
			return false
		}
	}
	return true
}

// tokenSpans appends the start offsets of the token shapes in s.
func tokenSpans(s []byte, out []int) []int {
	for i := 0; i+tokenLen <= len(s); {
		j := bytes.IndexByte(s[i+1:], ':')
		if j < 0 {
			break
		}
		at := i + j // the byte before ':'
		if tokenAt(s, at) {
			out = append(out, at)
			i = at + tokenLen
			continue
		}
		i = at + 1
	}
	return out
}

// maybeToken is the quick test run on every string's raw bytes: only a
// string with an escape or an "r:"/"R:" can hold a token.
func maybeToken(raw []byte) bool {
	if len(raw) < tokenLen {
		return false // decoding only shortens a string
	}
	for i := 0; ; {
		j := bytes.IndexByte(raw[i:], ':')
		if j < 0 {
			break
		}
		if i+j > 0 && raw[i+j-1]|0x20 == 'r' {
			return true
		}
		i += j + 1
	}
	return bytes.IndexByte(raw, '\\') >= 0 || bytes.IndexByte(raw, '%') >= 0
}

// pctTokens returns the tokens spelled with a percent-encoded colon
// ("r%3A" and 32 hex digits, as in a URL's query), as plain tokens.
func pctTokens(s []byte) []string {
	var out []string
	for i := 0; i+tokenLen+2 <= len(s); {
		j := bytes.IndexByte(s[i+1:], '%')
		if j < 0 {
			break
		}
		at := i + j // the byte before '%'
		if at+tokenLen+2 <= len(s) && s[at]|0x20 == 'r' && s[at+2] == '3' && s[at+3]|0x20 == 'a' {
			hex := true
			for _, c := range s[at+4 : at+tokenLen+2] {
				if !isHex(c) {
					hex = false
					break
				}
			}
			if hex {
				out = append(out, "r:"+string(s[at+4:at+tokenLen+2]))
			}
		}
		i = at + 1
	}
	return out
}

// isTokenKey reports whether a decoded object key names a session token.
func isTokenKey(k []byte) bool {
	const want = "sessiontoken"
	if len(k) < len(want) || k[0] != '_' && k[0]|0x20 != 's' {
		return false
	}
	n := 0
	for _, c := range k {
		if c == '_' {
			continue
		}
		if n >= len(want) || c|0x20 != want[n] {
			return false
		}
		n++
	}
	return n == len(want)
}

// unquote decodes the content of a JSON string (without its quotes). Bytes
// that are not escapes are kept as they are (invalid UTF-8 too), so the
// result is never longer than raw. ok is false for a broken escape.
func unquote(raw, dst []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		if i+1 >= len(raw) {
			return dst, false
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw, i+1)
			if !ok {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(raw, i+3); ok && i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// quote appends s as JSON string content with the shortest escapes.
func quote(dst, s []byte) []byte {
	const hexd = "0123456789abcdef"
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// decider says whether a token found in an answer is removed.
type decider interface{ remove(tok string) bool }

type funcDecider func(string) bool

func (f funcDecider) remove(tok string) bool { return f(tok) }

// scanner finds session-token candidates in JSON strings and blanks the
// ones decide says to remove. It keeps its state between chunks of a
// stream; offsets are relative to the buffer given to run.
type scanner struct {
	// decide is asked about every candidate; true removes it.
	decide decider

	scan     int  // next byte to look at
	inStr    bool // inside a string that starts at strStart
	esc      bool
	strStart int
	keyTok   bool // the last string was a session-token key
	valTok   bool // a ':' followed such a key: the next string is its value
	strVal   bool // the open string is a session-token key's value
	strEsc   bool // the open string has an escape
	scratch  []byte
	removed  int
}

// run lexes buf[s.scan:] and returns how many bytes of buf are final (all
// but an unterminated string, which may still hold a token).
func (s *scanner) run(buf []byte) int {
	for s.scan < len(buf) {
		if s.inStr {
			if s.esc {
				s.esc = false
				s.scan++
				continue
			}
			// The next quote, unless a backslash comes first (two
			// IndexByte calls run much faster than a byte loop).
			rest := buf[s.scan:]
			j := 0
			for j < len(rest) && j < 24 && rest[j] != '"' && rest[j] != '\\' {
				j++ // short strings: a loop beats two calls
			}
			if j == 24 {
				q := bytes.IndexByte(rest[j:], '"')
				if q < 0 {
					q = len(rest) - j
				}
				if k := bytes.IndexByte(rest[j:j+q], '\\'); k >= 0 {
					q = k
				}
				j += q
			}
			if j == len(rest) {
				s.scan = len(buf)
				break
			}
			s.scan += j
			if buf[s.scan] == '\\' {
				s.strEsc = true
				s.esc = true
				s.scan++
				continue
			}
			s.inStr = false
			if s.strVal || s.strEsc || s.scan-s.strStart-1 >= len("sessiontoken") {
				s.closeString(buf, s.strStart, s.scan+1, true)
			} else {
				s.keyTok = false // too short to be a key or hold a token
			}
			s.scan++
			continue
		}
		switch buf[s.scan] {
		case '"':
			s.inStr, s.strStart, s.strEsc = true, s.scan, false
			s.strVal, s.valTok = s.valTok, false
			s.keyTok = false
		case ':':
			s.valTok, s.keyTok = s.keyTok, false
		case ' ', '\t', '\r', '\n':
		default:
			s.keyTok, s.valTok = false, false
		}
		s.scan++
	}
	if s.inStr {
		return s.strStart
	}
	return len(buf)
}

// end handles a stream that ends inside a string (broken JSON): the rest
// is checked as a string all the same.
func (s *scanner) end(buf []byte) {
	if s.inStr {
		s.inStr = false
		s.closeString(buf, s.strStart, len(buf), false)
	}
}

// closeString checks the string buf[start:stop] (from its opening quote to
// past its closing one, or to the end of an unterminated answer) and
// blanks the tokens decide removes, in place.
func (s *scanner) closeString(buf []byte, start, stop int, closed bool) {
	rawEnd := stop
	if closed {
		rawEnd--
	}
	raw := buf[start+1 : rawEnd]
	isVal := s.strVal
	s.strVal = false
	hasEsc := s.strEsc || !closed && bytes.IndexByte(raw, '\\') >= 0
	if n := len(raw); n >= len("sessiontoken") && n <= 64 && (raw[0] == '_' || raw[0]|0x20 == 's' || hasEsc) {
		k := raw
		if hasEsc {
			k, _ = unquote(raw, s.scratch[:0])
		}
		s.keyTok = isTokenKey(k)
	}
	// The usual string is shorter than a token, or has neither an escape
	// nor an "r:": nothing more to do.
	if !(isVal && len(raw) > 0) && (len(raw) < tokenLen || !hasEsc && !maybeToken(raw)) {
		return
	}
	text, ok := raw, true
	if hasEsc {
		s.scratch, ok = unquote(raw, s.scratch[:0])
		text = s.scratch
	}
	whole, remove := !ok, !ok // an undecodable string that may hold a token goes whole
	var spans []int
	if ok {
		for _, at := range tokenSpans(text, nil) {
			if s.decide.remove(string(text[at : at+tokenLen])) {
				spans = append(spans, at)
				remove = true
			}
		}
		// A JSON text inside the string: look once more, decoded.
		if bytes.IndexByte(text, '\\') >= 0 && hiddenToken(text, s.decide, 2) {
			whole, remove = true, true
		}
		// A token in a URL's query (percent-encoded colon).
		if bytes.IndexByte(text, '%') >= 0 {
			for _, tok := range pctTokens(text) {
				if s.decide.remove(tok) {
					whole, remove = true, true
				}
			}
		}
		// A legacy token under a session-token key.
		if isVal && len(text) > 0 && len(tokenSpans(text, nil)) == 0 && s.decide.remove(string(text)) {
			whole, remove = true, true
		}
	}
	if !remove {
		return
	}
	s.removed++
	w := buf[start:stop]
	var out []byte
	if !whole {
		cut := make([]byte, 0, len(text))
		prev := 0
		for _, at := range spans {
			cut = append(cut, text[prev:at]...)
			prev = at + tokenLen
		}
		cut = append(cut, text[prev:]...)
		if out = quote(make([]byte, 0, len(cut)+8), cut); len(out)+2 > len(w) {
			out = nil
		}
	}
	// '"' out '"', then spaces to the old length.
	if len(w) < 2 {
		w[0] = ' '
		return
	}
	n := copy(w[1:], out)
	w[0], w[n+1] = '"', '"'
	for i := n + 2; i < len(w); i++ {
		w[i] = ' '
	}
}

// hiddenToken reports whether text, decoded once more as JSON string
// content (it may be a JSON document someone will decode again), holds a
// token decide removes.
func hiddenToken(text []byte, decide decider, depth int) bool {
	if depth == 0 {
		return false
	}
	dec, ok := unquote(text, nil)
	if !ok {
		// Escapes JSON can't decode: look for tokens spelled with \u
		// escapes the lenient way, byte by byte.
		dec = lenientUnescape(text)
	}
	for _, at := range tokenSpans(dec, nil) {
		if decide.remove(string(dec[at : at+tokenLen])) {
			return true
		}
	}
	return bytes.IndexByte(dec, '\\') >= 0 && hiddenToken(dec, decide, depth-1)
}

// lenientUnescape decodes the \uXXXX and two-character escapes it can and
// keeps every other byte.
func lenientUnescape(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if s[i+1] == 'u' {
				if r, ok := hex4(s, i+2); ok {
					out = utf8.AppendRune(out, r)
					i += 5
					continue
				}
			}
			if d, ok := unquote(s[i:i+2], nil); ok {
				out = append(out, d...)
				i++
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}

// redactTokens blanks, in place, every token in a whole JSON answer that
// decide says to remove, and returns how many strings it changed.
func redactTokens(b []byte, decide func(string) bool) int {
	s := scanner{decide: funcDecider(decide)}
	s.run(b)
	s.end(b)
	return s.removed
}

// findTokenValues returns the distinct session-token candidates in a whole
// JSON answer, leaving it unchanged.
func findTokenValues(b []byte) []string {
	var out []string
	seen := map[string]bool{}
	redactTokens(b, func(t string) bool {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
		return false
	})
	return out
}

// errStringTooLong: a streamed answer has a string too long to check.
var (
	errStringTooLong = errors.New("answer string too long to check for session tokens")
	errClosed        = errors.New("answer read after close")
)

var filterBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// tokenFilter streams an answer through a scanner: everything up to an
// unterminated string is passed on at once; a string is passed on when it
// ends (at most max bytes long).
type tokenFilter struct {
	src         io.ReadCloser
	s           scanner
	bp          *[]byte
	buf         []byte
	head, ready int
	n           int
	max         int
	err         error
	// report, if set, is told at Close how many strings were changed.
	report interface{ filtered(n int) }
}

func newTokenFilter(src io.ReadCloser, decide func(string) bool, max int) *tokenFilter {
	f := &tokenFilter{src: src, s: scanner{decide: funcDecider(decide)}, max: max}
	f.init()
	return f
}

// init takes a buffer from the pool (Close gives it back).
func (f *tokenFilter) init() {
	f.bp = filterBufs.Get().(*[]byte)
	f.buf = *f.bp
}

func (f *tokenFilter) Read(p []byte) (int, error) {
	for {
		if f.head < f.ready {
			c := copy(p, f.buf[f.head:f.ready])
			f.head += c
			return c, nil
		}
		if f.err != nil {
			return 0, f.err
		}
		if f.head > 0 {
			// Keep the unfinished string at the front.
			copy(f.buf, f.buf[f.head:f.n])
			f.n -= f.head
			f.s.scan -= f.head
			f.s.strStart -= f.head
			f.head, f.ready = 0, 0
		}
		if f.n == len(f.buf) {
			if len(f.buf) >= f.max {
				f.err = errStringTooLong
				continue
			}
			nb := make([]byte, min(2*len(f.buf), f.max))
			copy(nb, f.buf[:f.n])
			f.buf = nb
		}
		m, err := f.src.Read(f.buf[f.n:])
		f.n += m
		f.ready = f.s.run(f.buf[:f.n])
		if err != nil {
			if err == io.EOF {
				f.s.end(f.buf[:f.n])
				f.ready = f.n
			}
			f.err = err
		}
	}
}

func (f *tokenFilter) Close() error {
	err := f.src.Close()
	if f.report != nil && f.s.removed > 0 {
		f.report.filtered(f.s.removed)
		f.report = nil
	}
	if f.bp != nil {
		filterBufs.Put(f.bp)
		f.bp, f.buf = nil, nil
		f.head, f.ready, f.n = 0, 0, 0
		f.err = errClosed
	}
	return err
}
