package cookieguard

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Credential parameters are request fields an app accepts as a password
// login on any request (DokuWiki's u and p). Outside a login attempt on a
// login route they are taken out of the query, the cookies and form bodies
// (urlencoded and multipart), so they never reach the app.

// phpBase is the name a field is read under by PHP and frameworks like
// it: leading spaces dropped, an array suffix ("u[]", "u[x]") removed.
func phpBase(name string) string {
	name = strings.TrimLeft(name, " ")
	if i := strings.IndexByte(name, '['); i > 0 {
		name = name[:i]
	}
	return name
}

// credentialName reports whether a field name is read as one of params
// (case-insensitively, to fail closed for apps that fold case).
func credentialName(name string, params []string) bool {
	base := phpBase(name)
	mangled := base
	if strings.ContainsAny(base, ". ") {
		mangled = phpMangle.Replace(base) // PHP reads "a.b" and "a b" as "a_b"
	}
	for _, p := range params {
		if strings.EqualFold(base, p) || strings.EqualFold(mangled, p) {
			return true
		}
	}
	return false
}

var phpMangle = strings.NewReplacer(".", "_", " ", "_")

// stripCredentialQuery removes credential parameters from a raw query and
// reports whether it removed any. An undecodable name counts as one (the
// app may decode it differently).
func stripCredentialQuery(raw string, params []string) (string, bool) {
	isCredential := func(part string) bool {
		k, _, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		return err != nil || credentialName(name, params) || strings.Contains(part, ";") && credentialInSemicolons(part, params)
	}
	// First look, without allocating: the usual query has none.
	found := false
	for rest := raw; rest != "" && !found; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		found = isCredential(part)
	}
	if !found {
		return raw, false
	}
	var kept []string
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if !isCredential(part) {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, "&"), true
}

// credentialInSemicolons catches "a=1;u=alice" for apps that also split on
// semicolons.
func credentialInSemicolons(part string, params []string) bool {
	for _, sub := range strings.Split(part, ";") {
		k, _, _ := strings.Cut(sub, "=")
		if name, err := url.QueryUnescape(k); err != nil || credentialName(name, params) {
			return true
		}
	}
	return false
}

// stripCredentialCookies removes cookies named like credential parameters
// (PHP's $_REQUEST reads cookies too) and reports whether it removed any.
func stripCredentialCookies(h http.Header, params []string) bool {
	lines := h["Cookie"]
	found := false
	for _, line := range lines {
		// No allocation when there is nothing to remove (every request of
		// an app with credential parameters comes here).
		for rest := line; rest != "" && !found; {
			var part string
			part, rest, _ = strings.Cut(rest, ";")
			name, _, _ := strings.Cut(part, "=")
			found = credentialName(strings.TrimSpace(name), params)
		}
	}
	if !found {
		return false
	}
	var kept []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(part, "=")
			if n := strings.TrimSpace(name); n != "" && !credentialName(n, params) {
				kept = append(kept, strings.TrimSpace(part))
			}
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
	} else {
		h["Cookie"] = []string{strings.Join(kept, "; ")}
	}
	return true
}

// neutralName is what a credential field is renamed to in a body: a name
// of the same length made of underscores, so the body's length (and its
// Content-Length) does not change and it can be filtered as it streams.
func neutralName(n int) []byte { return bytes.Repeat([]byte{'_'}, n) }

// credentialBody wraps a form body so that credential fields reach the app
// under a neutral name, as the body streams (no buffering, same length).
// It reports through found whether it renamed anything. Other body types
// pass unchanged.
func credentialBody(r *http.Request, params []string, found func()) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	ct, ps, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil:
		return
	case ct == "application/x-www-form-urlencoded":
		r.Body = &formFilter{src: bufio.NewReaderSize(r.Body, 4096), body: r.Body, params: params, found: found}
	case ct == "multipart/form-data" && ps["boundary"] != "":
		r.Body = &multipartFilter{src: bufio.NewReaderSize(r.Body, 8192), body: r.Body, params: params, found: found,
			delim: []byte("\r\n--" + ps["boundary"]), atStart: true}
	}
	r.GetBody = nil
}

// maxFieldName bounds how much of a field name the filters buffer; a longer
// name can't decode to a short credential name unless its base ends early,
// which the prefix shows.
const maxFieldName = 1024

// formFilter renames credential fields of an urlencoded body as it streams.
type formFilter struct {
	src    *bufio.Reader
	body   io.Closer
	params []string
	found  func()
	out    []byte // pending output
	value  bool   // inside a value
	err    error
}

func (f *formFilter) Close() error { return f.body.Close() }

func (f *formFilter) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.fill()
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

// fill produces the next chunk of output: a whole (possibly renamed) name
// with its "=", or a run of value bytes.
func (f *formFilter) fill() {
	if f.value {
		chunk, err := f.src.ReadSlice('&')
		if err == bufio.ErrBufferFull {
			err = nil
		} else if err == nil {
			f.value = false // the '&' ends the pair
		}
		f.out = append(f.out[:0], chunk...)
		f.err = err
		return
	}
	// A name: up to '=' or '&' (a bare name), bounded.
	var name []byte
	for {
		c, err := f.src.ReadByte()
		if err != nil {
			f.err = err
			break
		}
		name = append(name, c)
		if c == '=' {
			f.value = true
			break
		}
		if c == '&' || len(name) >= maxFieldName {
			break
		}
	}
	raw := bytes.TrimRight(name, "=&")
	if len(raw) > 0 && len(raw) < maxFieldName {
		dec, err := url.QueryUnescape(string(raw))
		if err != nil || credentialName(dec, f.params) || bytes.IndexByte(raw, ';') >= 0 && credentialInSemicolons(string(raw), f.params) {
			copy(name, neutralName(len(raw)))
			f.found()
		}
	} else if len(raw) >= maxFieldName {
		// A long name: its base shows in the prefix (an array suffix).
		s := string(raw)
		if i := strings.LastIndexByte(s, '%'); i >= 0 && i >= len(s)-2 {
			s = s[:i]
		}
		if dec, err := url.QueryUnescape(s); err != nil || credentialName(dec, f.params) {
			copy(name, neutralName(len(raw)))
			f.found()
		}
	}
	f.out = append(f.out[:0], name...)
}

// multipartFilter renames the form-data name of credential parts of a
// multipart body as it streams. Part headers that can't be read fail the
// request (the app might read them differently).
type multipartFilter struct {
	src     *bufio.Reader
	body    io.Closer
	params  []string
	found   func()
	delim   []byte // CRLF "--" boundary
	atStart bool   // before the first boundary (no leading CRLF)
	out     []byte
	err     error
}

func (m *multipartFilter) Close() error { return m.body.Close() }

func (m *multipartFilter) Read(p []byte) (int, error) {
	for len(m.out) == 0 {
		if m.err != nil {
			return 0, m.err
		}
		m.fill()
	}
	n := copy(p, m.out)
	m.out = m.out[n:]
	return n, nil
}

var errBadPart = errors.New("multipart part headers can't be read")

// maxPartHeader bounds a part's header block.
const maxPartHeader = 8 << 10

func (m *multipartFilter) fill() {
	if m.atStart {
		// The body starts with "--boundary" (a preamble is possible but
		// browsers send none; anything before it passes as it is).
		m.atStart = false
		first := m.delim[2:]
		peek, err := m.src.Peek(len(first))
		if err == nil && bytes.Equal(peek, first) {
			m.src.Discard(len(first))
			m.out = append(m.out[:0], first...)
			m.afterDelimiter()
			return
		}
	}
	// Copy body bytes up to the next delimiter, keeping a tail that may be
	// the start of a delimiter split across reads.
	buf, err := m.src.Peek(m.src.Buffered())
	if len(buf) < len(m.delim) {
		buf, err = m.src.Peek(len(m.delim))
		if err != nil && len(buf) == 0 {
			m.err = err
			return
		}
	}
	if i := bytes.Index(buf, m.delim); i >= 0 {
		m.out = append(m.out[:0], buf[:i+len(m.delim)]...)
		m.src.Discard(i + len(m.delim))
		m.afterDelimiter()
		return
	}
	if err != nil {
		// The end: pass what is left.
		m.out = append(m.out[:0], buf...)
		m.src.Discard(len(buf))
		m.err = err
		return
	}
	keep := len(m.delim) - 1
	n := len(buf) - keep
	if n <= 0 {
		// Not enough buffered to decide: read more.
		if _, err := m.src.Peek(m.src.Buffered() + 1); err != nil {
			m.out = append(m.out[:0], buf...)
			m.src.Discard(len(buf))
			m.err = err
		}
		return
	}
	m.out = append(m.out[:0], buf[:n]...)
	m.src.Discard(n)
}

// afterDelimiter handles what follows a boundary: "--" (the end) or a line
// break and a part's header block, whose Content-Disposition name is
// renamed when it is a credential.
func (m *multipartFilter) afterDelimiter() {
	peek, _ := m.src.Peek(2)
	if bytes.Equal(peek, []byte("--")) {
		return // closing delimiter: the rest streams as epilogue
	}
	var hdr []byte
	for {
		line, err := m.src.ReadSlice('\n')
		hdr = append(hdr, line...)
		if err != nil || len(hdr) > maxPartHeader {
			m.err = errBadPart
			return
		}
		if len(hdr) > 2 && (bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n"))) {
			break
		}
	}
	// Every header line of the block (the first is the rest of the
	// boundary line).
	lines := bytes.SplitAfter(hdr, []byte("\n"))
	for i, line := range lines {
		if i == 0 {
			continue
		}
		k, v, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(":"))
		if !ok || !strings.EqualFold(strings.TrimSpace(string(k)), "Content-Disposition") {
			continue
		}
		_, params, err := mime.ParseMediaType(string(v))
		if err != nil {
			// Unreadable to us; maybe readable to the app.
			if credentialInDisposition(string(v), m.params) {
				m.err = errBadPart
				return
			}
			continue
		}
		if credentialName(params["name"], m.params) {
			vlen := len(v)
			repl := []byte(" form-data; name=\"")
			if vlen < len(repl)+2 {
				repl = []byte(" form-data;name=")
				repl = append(repl, neutralName(vlen-len(repl))...)
			} else {
				repl = append(repl, neutralName(vlen-len(repl)-1)...)
				repl = append(repl, '"')
			}
			copy(line[len(k)+1:], repl)
			m.found()
		}
	}
	m.out = append(m.out, hdr...)
}

// credentialInDisposition is a loose check of an unparsable
// Content-Disposition value for a credential name.
func credentialInDisposition(v string, params []string) bool {
	lv := strings.ToLower(v)
	for _, p := range params {
		if strings.Contains(lv, strings.ToLower(p)) {
			return true
		}
	}
	return false
}
