package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Lookup finds an environment variable (os.LookupEnv in production).
type Lookup func(name string) (string, bool)

// Load reads and parses a config file, expanding ${VAR} from the process
// environment. It does not validate; call Validate.
func Load(path string) (*Config, error) { return LoadWith(path, os.LookupEnv) }

// LoadWith is Load with an explicit environment.
func LoadWith(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseWith(data, path, env)
	if err != nil {
		return nil, err
	}
	if err := cfg.readKeyFiles(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse parses config YAML (name is used in messages), expanding ${VAR}
// from the process environment.
func Parse(data []byte, name string) (*Config, error) { return ParseWith(data, name, os.LookupEnv) }

// ParseWith parses config YAML with an explicit environment. Unknown keys,
// wrong types and unset variables are errors naming the key and line.
//
// In values (never in keys), ${NAME} is replaced by the variable's value and
// ${NAME:-fallback} by the value or, when unset or empty, the fallback. An
// unset ${NAME} without fallback is an error; "$$" is a literal "$".
// Expansion happens on parsed scalars, so a value can't change the document's
// structure.
func ParseWith(data []byte, name string, env func(string) (string, bool)) (*Config, error) {
	return parseWith(data, name, env, nil)
}

// parseWith is ParseWith; skip, if set, names the key paths whose unset
// variables expand to "" instead of failing (see LoadWithout).
func parseWith(data []byte, name string, env func(string) (string, bool), skip func(path string) bool) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) { // io.EOF: an empty file, all defaults
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		doc = yaml.Node{}
	}
	cfg := Defaults()
	if len(doc.Content) == 0 {
		cfg.applyMethodDefaults()
		cfg.applyEnvListen(env)
		return cfg, nil
	}
	root := doc.Content[0]
	var p problems
	expand(root, "", env, skip, &p)
	check(root, reflect.TypeOf(Config{}), "", &p)
	if err := p.err(name); err != nil {
		return nil, err
	}
	if err := root.Decode(cfg); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	cfg.Gate.Keys = nonEmpty(cfg.Gate.Keys)
	cfg.Secrets.EncryptionKeys = nonEmpty(cfg.Secrets.EncryptionKeys)
	cfg.applyMethodDefaults()
	cfg.applyEnvListen(env)
	return cfg, nil
}

func nonEmpty(xs []string) []string {
	out := xs[:0:0]
	for _, x := range xs {
		if strings.TrimSpace(x) != "" {
			out = append(out, strings.TrimSpace(x))
		}
	}
	return out
}

func (c *Config) applyMethodDefaults() {
	fill := func(ms []string, def []string) []string {
		if len(ms) == 0 {
			if def == nil {
				return nil
			}
			return append([]string(nil), def...)
		}
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = strings.ToUpper(strings.TrimSpace(m))
		}
		return out
	}
	for i := range c.Login.Routes {
		c.Login.Routes[i].Methods = fill(c.Login.Routes[i].Methods, defaultLoginMethods)
	}
	for i := range c.Logout.Routes {
		c.Logout.Routes[i].Methods = fill(c.Logout.Routes[i].Methods, defaultLogoutMethods)
	}
	for i := range c.Bypass {
		c.Bypass[i].Methods = fill(c.Bypass[i].Methods, defaultBypassMethods)
	}
	for i := range c.StepUp {
		c.StepUp[i].Methods = fill(c.StepUp[i].Methods, nil) // none: every method
	}
}

// readKeyFiles appends the keys in gate.keys_file and
// secrets.encryption_keys_file (one per line, # comments), relative to dir.
func (c *Config) readKeyFiles(dir string) error {
	read := func(key, path string) ([]string, error) {
		if path == "" {
			return nil, nil
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, line)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: reading %s: %w", key, path, err)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s: %s holds no keys", key, path)
		}
		return out, nil
	}
	gk, err := read("gate.keys_file", c.Gate.KeysFile)
	if err != nil {
		return err
	}
	c.Gate.Keys = append(c.Gate.Keys, gk...)
	ek, err := read("secrets.encryption_keys_file", c.Secrets.EncryptionKeysFile)
	if err != nil {
		return err
	}
	c.Secrets.EncryptionKeys = append(c.Secrets.EncryptionKeys, ek...)
	for _, f := range []struct {
		key, path string
		dst       *string
	}{{"store.postgres_file", c.Store.PostgresFile, &c.Store.Postgres}, {"store.redis_file", c.Store.RedisFile, &c.Store.Redis}} {
		if f.path == "" {
			continue
		}
		if *f.dst != "" {
			return fmt.Errorf("%s: set either it or %s, not both", f.key, strings.TrimSuffix(f.key, "_file"))
		}
		lines, err := read(f.key, f.path)
		if err != nil {
			return err
		}
		*f.dst = lines[0]
	}
	return nil
}

// problems collects errors, each naming a key path.
type problems []string

func (p *problems) add(path string, line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path == "" {
		path = "(top level)"
	}
	if line > 0 {
		*p = append(*p, fmt.Sprintf("%s (line %d): %s", path, line, msg))
		return
	}
	*p = append(*p, fmt.Sprintf("%s: %s", path, msg))
}

func (p problems) err(name string) error {
	if len(p) == 0 {
		return nil
	}
	return &Error{File: name, Problems: p}
}

// Error lists every problem found in a config.
type Error struct {
	File     string
	Problems []string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0])
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, s := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(s)
	}
	return b.String()
}

// expand replaces ${VAR} in scalar values (not mapping keys).
func expand(n *yaml.Node, path string, env func(string) (string, bool), skip func(string) bool, p *problems) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expand(n.Content[i+1], join(path, n.Content[i].Value), env, skip, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expand(c, fmt.Sprintf("%s[%d]", path, i), env, skip, p)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		lookup := env
		if skip != nil && skip(path) {
			lookup = func(name string) (string, bool) {
				if v, ok := env(name); ok {
					return v, ok
				}
				return "", true // not needed here: empty
			}
		}
		v, err := expandString(n.Value, lookup)
		if err != nil {
			p.add(path, n.Line, "%v", unsetMessage(path, err))
			return
		}
		n.Value = v
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = "" // re-resolve: "${N}" may now be an int or duration
		}
	}
}

func expandString(s string, env func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$$"):
			b.WriteByte('$')
			s = s[2:]
		case strings.HasPrefix(s, "${"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return "", errors.New(`unterminated "${" (write "$$" for a literal "$")`)
			}
			expr := s[2:end]
			s = s[end+1:]
			name, def, hasDef := strings.Cut(expr, ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid variable name %q in ${...}", name)
			}
			v, ok := env(name)
			switch {
			case ok && v != "":
				b.WriteString(v)
			case hasDef:
				b.WriteString(def)
			case ok:
				// set but empty: an empty value, which validation may reject
			default:
				return "", unsetVar(name)
			}
		default:
			b.WriteByte('$')
			s = s[1:]
		}
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var durationType = reflect.TypeOf(time.Duration(0))

// check walks the document against the Config type: unknown keys, wrong
// shapes and values that don't decode are reported with their key path.
func check(n *yaml.Node, t reflect.Type, path string, p *problems) {
	if n.Kind == yaml.AliasNode {
		// Aliases could nest exponentially or refer to themselves; a config
		// file has no need for them.
		p.add(path, n.Line, "aliases (*%s) are not supported; write the value out", n.Value)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value keeps the default
	}
	switch {
	case t == durationType:
		var d time.Duration
		if err := n.Decode(&d); err != nil || n.Kind != yaml.ScalarNode {
			p.add(path, n.Line, "want a duration such as 30s, 5m or 12h, got %s", show(path, n))
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			p.add(path, n.Line, "want a mapping of keys (%s)", strings.Join(keysOf(t), ", "))
			return
		}
		fields := fieldsOf(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			kp := join(path, k.Value)
			if seen[k.Value] {
				p.add(kp, k.Line, "given twice")
			}
			seen[k.Value] = true
			f, ok := fields[k.Value]
			if !ok {
				p.add(kp, k.Line, "unknown key; %s takes: %s", orTop(path), strings.Join(keysOf(t), ", "))
				continue
			}
			check(n.Content[i+1], f, kp, p)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			p.add(path, n.Line, "want a list (use [a, b] or one \"- item\" per line)")
			return
		}
		for i, c := range n.Content {
			check(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), p)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.add(path, n.Line, "want a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), p)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			p.add(path, n.Line, "want a single %s value", kindName(t))
			return
		}
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			p.add(path, n.Line, "want %s, got %s", kindName(t), show(path, n))
		}
	}
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// show quotes a bad value unless the key may hold a secret.
func show(path string, n *yaml.Node) string {
	lp := strings.ToLower(path)
	if strings.Contains(lp, "key") || strings.Contains(lp, "secret") || strings.Contains(lp, "token") || strings.Contains(lp, "password") {
		return "a value (hidden: this key may hold a secret)"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return fmt.Sprintf("%q", v)
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = f.Type
	}
	return out
}

func keysOf(t reflect.Type) []string {
	var ks []string
	for k := range fieldsOf(t) {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
