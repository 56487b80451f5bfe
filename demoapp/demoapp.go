package demoapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Style is how the app handles its session id at login.
type Style int

const (
	// StyleRegenerate issues a new session cookie on login (Django, Rails).
	StyleRegenerate Style = iota
	// StyleKeep sets a session cookie on the first visit and keeps that id
	// at login, marking it authenticated server side; the login answer sets
	// no cookie (PHP without session_regenerate_id).
	StyleKeep
)

func (s Style) String() string {
	if s == StyleKeep {
		return "keep"
	}
	return "regenerate"
}

// Options configure an App.
type Options struct {
	Style Style
	// Users maps user names to passwords; nil means DefaultUsers.
	Users map[string]string
	// CookieName is the session cookie; "" means "demo_session".
	CookieName string
	// Name is shown in page titles; "" means "Demo App".
	Name string
	// Random supplies session ids; nil means crypto/rand.
	Random io.Reader
	// Phones, if set, are sent in an X-User-Phone header of a successful
	// login answer, as apps that know their users' numbers can.
	Phones map[string]string
	// SecurityPage, if set, is linked from every signed-in page, as an app
	// behind Vestibule links to the gateway's security page (for example
	// "/.vestibule/account").
	SecurityPage string
}

// DefaultUsers are the demo's two accounts.
func DefaultUsers() map[string]string {
	return map[string]string{"alice": "wonderland", "bob": "builder"}
}

// App is the demo app; it is an http.Handler.
type App struct {
	o        Options
	mu       sync.Mutex
	sessions map[string]string // id -> user ("" when anonymous)
	logins   int               // login form posts received
}

// LoginPosts returns how many login posts the app has received.
func (a *App) LoginPosts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logins
}

// New returns an App.
func New(o Options) *App {
	if o.Users == nil {
		o.Users = DefaultUsers()
	}
	if o.CookieName == "" {
		o.CookieName = "demo_session"
	}
	if o.Name == "" {
		o.Name = "Demo App"
	}
	if o.Random == nil {
		o.Random = rand.Reader
	}
	return &App{o: o, sessions: map[string]string{}}
}

// Sessions returns a copy of the app's sessions: id to user ("" when
// anonymous).
func (a *App) Sessions() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.sessions))
	for k, v := range a.sessions {
		out[k] = v
	}
	return out
}

// UserOf returns the user of a session id ("" when anonymous) and whether
// the session exists.
func (a *App) UserOf(id string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.sessions[id]
	return u, ok
}

func (a *App) newID() string {
	b := make([]byte, 16)
	if _, err := io.ReadFull(a.o.Random, b); err != nil {
		panic(fmt.Sprintf("demoapp: random: %v", err))
	}
	return hex.EncodeToString(b)
}

// session returns the request's session id and user, if the cookie names a
// live session.
func (a *App) session(r *http.Request) (id, user string, ok bool) {
	c, err := r.Cookie(a.o.CookieName)
	if err != nil {
		return "", "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	user, ok = a.sessions[c.Value]
	if !ok {
		return "", "", false
	}
	return c.Value, user, true
}

func (a *App) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: a.o.CookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// normalize makes routing forgiving the way many legacy apps are: case
// insensitive, repeated and trailing slashes ignored.
func normalize(p string) string {
	p = strings.ToLower(p)
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

// ServeHTTP routes the demo app's pages.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, user, ok := a.session(r)
	if a.o.Style == StyleKeep && !ok {
		// PHP's session_start(): every visitor gets an id at once.
		id = a.newID()
		a.mu.Lock()
		a.sessions[id] = ""
		a.mu.Unlock()
		a.setCookie(w, id)
	}
	p := normalize(r.URL.Path)
	if strings.HasPrefix(p, "/static/") {
		if p == "/static/app.css" {
			w.Header().Set("Content-Type", "text/css; charset=utf-8")
			io.WriteString(w, appCSS)
			return
		}
		http.NotFound(w, r)
		return
	}
	switch p {
	case "/":
		a.render(w, http.StatusOK, "home", user, "")
	case "/login", "/signin":
		if r.Method == http.MethodPost {
			a.login(w, r, id)
			return
		}
		msg := ""
		if r.URL.Query().Get("error") != "" {
			msg = "Wrong user name or password."
		}
		a.render(w, http.StatusOK, "login", user, msg)
	case "/account":
		if user == "" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		a.render(w, http.StatusOK, "account", user, "")
	case "/logout":
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if id != "" {
			a.mu.Lock()
			delete(a.sessions, id)
			a.mu.Unlock()
		}
		http.SetCookie(w, &http.Cookie{Name: a.o.CookieName, Value: "", Path: "/", MaxAge: -1})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	case "/rotate":
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if user == "" {
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		nid := a.newID()
		a.mu.Lock()
		delete(a.sessions, id)
		a.sessions[nid] = user
		a.mu.Unlock()
		a.setCookie(w, nid)
		io.WriteString(w, "rotated\n")
	case "/healthz":
		io.WriteString(w, "ok\n")
	case "/whoami":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if user == "" {
			user = "anonymous"
		}
		io.WriteString(w, user+"\n")
	case "/echo-headers":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// The forwarding and identity headers always, then every header
		// the app received, so tests see whatever reached it.
		for _, h := range []string{"X-Forwarded-For", "X-Vestibule-User", "X-Request-Id"} {
			fmt.Fprintf(w, "%s: %s\n", h, strings.Join(r.Header.Values(h), ","))
		}
		for _, h := range slices.Sorted(maps.Keys(r.Header)) {
			fmt.Fprintf(w, "> %s: %s\n", h, strings.Join(r.Header[h], ","))
		}
	case "/echo-cookies":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		var lines []string
		for _, c := range r.Cookies() {
			lines = append(lines, c.Name+"="+c.Value)
		}
		sort.Strings(lines)
		io.WriteString(w, strings.Join(lines, "\n")+"\n")
	default:
		http.NotFound(w, r)
	}
}

// login checks a form or JSON login. Success answers 303 to /account (JSON:
// 200 with the user); failure 303 back to the form (JSON: 401).
func (a *App) login(w http.ResponseWriter, r *http.Request, id string) {
	a.mu.Lock()
	a.logins++
	a.mu.Unlock()
	isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	var user, pass string
	if isJSON {
		var body struct{ Username, Password string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		user, pass = body.Username, body.Password
	} else {
		user, pass = r.PostFormValue("username"), r.PostFormValue("password")
	}
	user = strings.ToLower(strings.TrimSpace(user))
	want, known := a.o.Users[user]
	if !known || want != pass {
		if isJSON {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"wrong user name or password"}`)
			return
		}
		http.Redirect(w, r, "/login?error=1", http.StatusSeeOther)
		return
	}
	if a.o.Style == StyleKeep && id != "" {
		a.mu.Lock()
		a.sessions[id] = user
		a.mu.Unlock()
	} else {
		nid := a.newID()
		a.mu.Lock()
		if id != "" {
			delete(a.sessions, id)
		}
		a.sessions[nid] = user
		a.mu.Unlock()
		a.setCookie(w, nid)
	}
	if p := a.o.Phones[user]; p != "" {
		w.Header().Set("X-User-Phone", p)
	}
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"user": user, "phone": a.o.Phones[user]})
		return
	}
	// Like many legacy apps, it follows ?next= without checking it: an open
	// redirect the gateway must not carry out after the second factor.
	if next := r.URL.Query().Get("next"); next != "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (a *App) render(w http.ResponseWriter, status int, page, user, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	pages.ExecuteTemplate(w, page, map[string]string{"Name": a.o.Name, "User": user, "Msg": msg, "SecurityPage": a.o.SecurityPage})
}

// Start serves a new App on a loopback port until ctx ends or stop is
// called; it returns the app's base URL.
func Start(ctx context.Context, o Options) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demoapp: %w", err)
	}
	srv := &http.Server{Handler: New(o), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
	}()
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }, nil
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Name}}</title><link rel="stylesheet" href="/static/app.css"></head><body>
<header><a href="/">{{.Name}}</a>{{if .User}} <span>signed in as {{.User}}</span>{{with .SecurityPage}} <a href="{{.}}" id="security">Security</a>{{end}} <a href="/logout" id="logout">Log out</a>{{else}} <a href="/login">Log in</a>{{end}}</header><main>{{end}}
{{define "foot"}}</main></body></html>{{end}}
{{define "home"}}{{template "head" .}}<h1>{{.Name}}</h1>
<p>A legacy app with only a password login. Try <a href="/account">your account</a>.</p>
<p>Demo users: alice / wonderland, bob / builder.</p>{{template "foot" .}}{{end}}
{{define "login"}}{{template "head" .}}<h1>Log in</h1>
{{if .Msg}}<p class="error" id="error">{{.Msg}}</p>{{end}}
<form method="post" action="/login">
<label>User name <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit" id="login">Log in</button></form>{{template "foot" .}}{{end}}
{{define "account"}}{{template "head" .}}<h1>Welcome, {{.User}}</h1>
<p>This is the protected account page.</p>
<p><a href="/logout">Log out</a></p>{{template "foot" .}}{{end}}
`))

const appCSS = `body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
header{display:flex;gap:1rem;align-items:baseline;border-bottom:1px solid #ccc;padding-bottom:.5rem}
label{display:block;margin:.75rem 0}input{display:block;font-size:1rem;padding:.4rem;width:100%;max-width:20rem}
button{font-size:1rem;padding:.4rem 1rem}.error{color:#a00}
`
