package server

import (
	"html"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vestibule-gw/vestibule/config"
	"github.com/vestibule-gw/vestibule/demoapp"
)

func TestGatePagesSpeakTheUsersLanguage(t *testing.T) {
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate})
	b := e.browser()
	b.login("alice", "wonderland")
	cases := []struct{ accept, lang, want string }{
		{"de-DE,de;q=0.9,en;q=0.8", "de", "Zwei-Faktor-Anmeldung einrichten"},
		{"fr-CH, fr;q=0.9", "fr", "Configurer la connexion à deux facteurs"},
		{"es", "es", "Configurar el inicio de sesión en dos pasos"},
		{"en;q=0.5, es;q=0.9", "es", "Configurar el inicio de sesión"},
		{"ja, zh;q=0.8", "en", "Set up two-factor sign-in"},
		{"", "en", "Set up two-factor sign-in"},
	}
	for _, tc := range cases {
		p := b.do("GET", "/.vestibule/enroll", nil, "Accept-Language", tc.accept)
		must(t, p, http.StatusOK)
		body := html.UnescapeString(p.body)
		if !strings.Contains(body, tc.want) || !strings.Contains(body, `<html lang="`+tc.lang+`">`) || p.header.Get("Content-Language") != tc.lang {
			t.Errorf("Accept-Language %q: lang %s, want %q in %.300s", tc.accept, p.header.Get("Content-Language"), tc.want, body)
		}
	}
	// Messages with numbers are translated too.
	b2 := e.browser()
	b2.login("bob", "builder")
	b2.enroll()
	b2.get("/logout")
	b2.login("bob", "builder")
	q := b2.get("/.vestibule/verify")
	q = b2.do("POST", "/.vestibule/verify", map[string][]string{"csrf": {csrf(t, q)}, "code": {"000000"}}, "Accept-Language", "fr")
	if body := html.UnescapeString(q.body); !strings.Contains(body, "Ce code n'est pas valide. Encore 4 essais.") {
		t.Errorf("French wrong-code message: %.600s", body)
	}
}

func TestBranding(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "logo.png")
	os.WriteFile(logo, []byte("\x89PNG\r\n\x1a\nfake"), 0o600)
	e := newEnv(t, envOpt{style: demoapp.StyleRegenerate, mutate: func(c *config.Config) {
		c.Branding = config.Branding{Accent: "#c2185b", LogoFile: logo}
	}})
	b := e.browser()
	b.login("alice", "wonderland")
	p := b.get("/.vestibule/enroll")
	if !strings.Contains(p.body, `href="/.vestibule/brand.css"`) || !strings.Contains(p.body, `src="/.vestibule/logo"`) {
		t.Fatalf("branding missing from the page: %.400s", p.body)
	}
	css := b.get("/.vestibule/brand.css")
	if css.body != ":root{--accent:#c2185b}\n" || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("brand.css: %q", css.body)
	}
	img := b.get("/.vestibule/logo")
	if img.header.Get("Content-Type") != "image/png" || !strings.HasPrefix(img.body, "\x89PNG") {
		t.Errorf("logo: %s", img.header.Get("Content-Type"))
	}
	// A colour that could smuggle CSS is refused by the config.
	c := *e.cfg
	c.Branding.Accent = "red;}body{display:none"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "branding.accent") {
		t.Errorf("bad accent: %v", err)
	}
}

// TestProviderErrorsTranslated: the provider failure message on the SMS
// page is in the user's language too.
func TestProviderErrorsTranslated(t *testing.T) {
	f := newFakeTwilio(t)
	e := smsEnv(t, f, nil)
	b := e.browser()
	b.login("alice", "wonderland")
	f.mu.Lock()
	f.fail = true
	f.mu.Unlock()
	p := b.get("/.vestibule/sms")
	p = b.do("POST", "/.vestibule/sms/send", map[string][]string{"csrf": {csrf(t, p)}}, "Accept-Language", "es")
	if body := html.UnescapeString(p.body); !strings.Contains(body, "No se pudo enviar el SMS ahora") {
		t.Fatalf("Spanish provider error: %.500s", body)
	}
}
