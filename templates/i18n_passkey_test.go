package templates

import (
	"io/fs"
	"regexp"
	"testing"
)

// TestPasskeyPagesTranslated: every message of the passkey pages (the
// passkey form in layout.html, passkey.html, and the passkey parts of
// verify.html, stepup.html and enroll.html) is translated into every
// language, and the passkey catalog has the same messages in each.
func TestPasskeyPagesTranslated(t *testing.T) {
	msg := regexp.MustCompile(`\{\{t \.Lang "([^"]+)"\}\}`)
	for _, name := range []string{"layout.html", "passkey.html", "verify.html", "stepup.html", "enroll.html"} {
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msg.FindAllStringSubmatch(string(b), -1) {
			for _, lang := range Languages[1:] {
				if T(lang, m[1]) == m[1] {
					t.Errorf("%s: %q has no %s translation", name, m[1], lang)
				}
			}
		}
	}
	for _, lang := range Languages[1:] {
		for en := range passkeyCatalog["de"] {
			if _, ok := passkeyCatalog[lang][en]; !ok {
				t.Errorf("passkey message %q has no %s translation", en, lang)
			}
		}
		if len(passkeyCatalog[lang]) != len(passkeyCatalog["de"]) {
			t.Errorf("%s has %d passkey messages, de %d", lang, len(passkeyCatalog[lang]), len(passkeyCatalog["de"]))
		}
	}
}
