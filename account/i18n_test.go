package account

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/vestibule-gw/vestibule/templates"
)

// TestPageTranslated: every message the security page shows, in its
// templates and in its Go code, has a German, French and Spanish
// translation. Messages in the code are the string literals that start
// with a capital letter (log messages start lower-case).
func TestPageTranslated(t *testing.T) {
	msgs := map[string]string{}
	reT := regexp.MustCompile(`\{\{(?:printf \()?t \$?\.Lang ("(?:[^"\\]|\\.)*")`)
	names, _ := fs.Glob(templates.FS, "account*.html")
	if len(names) < 4 {
		t.Fatalf("found %d account templates", len(names))
	}
	for _, name := range names {
		b, _ := fs.ReadFile(templates.FS, name)
		for _, m := range reT.FindAllStringSubmatch(string(b), -1) {
			s, err := strconv.Unquote(m[1])
			if err != nil {
				t.Fatal(err)
			}
			msgs[s] = name
		}
	}
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "browser.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, _ := strconv.Unquote(lit.Value)
			if r := []rune(s); len(r) > 3 && unicode.IsUpper(r[0]) && !strings.ContainsAny(s, "/\x00") && !headerLike(s) {
				msgs[s] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	if len(msgs) < 40 {
		t.Fatalf("found only %d messages: the scan is broken", len(msgs))
	}
	for msg, where := range msgs {
		for _, lang := range []string{"de", "fr", "es"} {
			if !templates.Has(lang, msg) {
				t.Errorf("%s: %q has no %s translation", where, msg, lang)
			}
		}
	}
}

// headerLike tells HTTP header names, values and methods (Cache-Control,
// DENY, "POST ") from messages.
func headerLike(s string) bool {
	return s == "Origin" || strings.HasSuffix(s, " ") || s == strings.ToUpper(s) ||
		!strings.Contains(s, " ") && strings.Contains(s, "-")
}
