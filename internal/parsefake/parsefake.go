// Package parsefake is a small fake of Parse Server's REST and GraphQL
// answers, for tests: users, sessions with tokens, logins in every shape
// (JSON, JS SDK text/plain bodies, query strings, forms), signup, password
// changes that revoke sessions, batch, loginAs and a "Note" class. It
// records what reached it so tests can show what the gateway kept away.
package parsefake

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// AppID is the fake's application id.
const AppID = "testapp"

// MasterKey is the fake's master key.
const MasterKey = "master-secret"

// User is a Parse user.
type User struct {
	ID, Username, Password, Phone string
	// Anonymous is the anonymous authData id of an anonymous user.
	Anonymous string
	// ParseMFA: enrolled in Parse's own mfa adapter, which then wants
	// authData.mfa on every login.
	ParseMFA bool
}

// Seen is one request that reached the fake.
type Seen struct {
	Method, Path string
	Token        string // the session token Parse would use
	Master       bool
	Body         map[string]any
	// RequestID and User are the X-Request-Id and X-Vestibule-User headers.
	RequestID, User string
}

// Server is the fake.
type Server struct {
	mu       sync.Mutex
	users    map[string]*User  // by username
	sessions map[string]string // token -> user id
	seen     []Seen
	next     int
	echo     []any // objects of the "Echo" class, as saved
}

// New returns a fake with the given users.
func New(users ...User) *Server {
	s := &Server{users: map[string]*User{}, sessions: map[string]string{}}
	for i := range users {
		u := users[i]
		s.users[u.Username] = &u
	}
	return s
}

// Seen returns the requests that reached the fake.
func (s *Server) Seen() []Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Seen(nil), s.seen...)
}

// Live reports whether a session token is a live session at the fake.
func (s *Server) Live(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[token]
	return ok
}

// ID is a user's objectId ("" if there is no such user).
func (s *Server) ID(username string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[username]; u != nil {
		return u.ID
	}
	return ""
}

// Add adds a user.
func (s *Server) Add(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Username] = &u
}

// Sessions counts a user's live sessions.
func (s *Server) Sessions(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range s.sessions {
		if id == userID {
			n++
		}
	}
	return n
}

// Mint makes a session directly (a token obtained around the gateway).
func (s *Server) Mint(username string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mint(s.users[username].ID)
}

func (s *Server) mint(userID string) string {
	b := make([]byte, 16)
	rand.Read(b)
	t := "r:" + hex.EncodeToString(b)
	s.sessions[t] = userID
	return t
}

func (s *Server) byID(id string) *User {
	for _, u := range s.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func key(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	p = strings.ToLower(p)
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

type call struct {
	method string
	token  string
	master bool
	body   map[string]any
	query  url.Values
}

func fail(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "error": msg})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "X-Parse-Job-Status-Id, X-Parse-Push-Status-Id")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ServeHTTP answers like Parse Server mounted at /parse, with GraphQL at
// /graphql.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	c := call{method: r.Method, token: r.Header.Get("X-Parse-Session-Token"), query: r.URL.Query(),
		master: r.Header.Get("X-Parse-Master-Key") == MasterKey}
	appID := r.Header.Get("X-Parse-Application-Id")
	if u, p, ok := r.BasicAuth(); ok && u == AppID {
		// As Parse: a known app id in basic auth wins; the key is a
		// JavaScript key or the master key.
		appID = u
		if !strings.HasPrefix(p, "javascript-key=") && p == MasterKey {
			c.master = true
		}
	}
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && params["boundary"] != "" {
		// A GraphQL upload: the operations part is the body.
		mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
		raw = nil
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if p.FormName() == "operations" {
				raw, _ = io.ReadAll(p)
			}
		}
	}
	if len(raw) > 0 {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			f, _ := url.ParseQuery(string(raw))
			c.body = map[string]any{}
			for k := range f {
				c.body[k] = f.Get(k)
			}
		} else if json.Unmarshal(raw, &c.body) != nil {
			fail(w, 400, 107, "Invalid JSON")
			return
		}
	}
	if appID != AppID {
		// The JS SDK way (or a header naming an unknown app): keys in the
		// body.
		if id, _ := c.body["_ApplicationId"].(string); id != "" {
			appID = id
			if t, _ := c.body["_SessionToken"].(string); t != "" {
				c.token = t
			}
			if m, _ := c.body["_MasterKey"].(string); m == MasterKey {
				c.master = true
			}
			if m, _ := c.body["_method"].(string); m != "" && r.Method == http.MethodPost {
				c.method = strings.ToUpper(m)
			}
		}
	}
	if appID != AppID {
		fail(w, 403, 0, "unauthorized")
		return
	}
	k := key(r.URL.Path)
	s.mu.Lock()
	s.seen = append(s.seen, Seen{Method: c.method, Path: r.URL.Path, Token: c.token, Master: c.master, Body: c.body,
		RequestID: r.Header.Get("X-Request-Id"), User: r.Header.Get("X-Vestibule-User")})
	s.mu.Unlock()
	if k == "/graphql" || strings.HasPrefix(k, "/graphql/") {
		s.graphql(w, c)
		return
	}
	route, ok := strings.CutPrefix(k, "/parse/")
	if !ok {
		fail(w, 404, 0, "not found")
		return
	}
	status, v := s.route(route, c)
	reply(w, status, v)
}

func str(m map[string]any, k string) string { v, _ := m[k].(string); return v }

func errv(code int, msg string) map[string]any { return map[string]any{"code": code, "error": msg} }

// route answers one REST call; batch calls it per sub-request.
func (s *Server) route(route string, c call) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var me *User
	if c.token != "" {
		id, ok := s.sessions[c.token]
		if !ok {
			return 400, errv(209, "Invalid session token")
		}
		me = s.byID(id)
	}
	seg := strings.Split(route, "/")
	userJSON := func(u *User, tok string) map[string]any {
		m := map[string]any{"objectId": u.ID, "username": u.Username, "phone": u.Phone, "createdAt": "2026-01-01T00:00:00.000Z"}
		if u.Anonymous != "" {
			m["authData"] = map[string]any{"anonymous": map[string]any{"id": u.Anonymous}}
		}
		if tok != "" {
			m["sessionToken"] = tok
		}
		return m
	}
	switch {
	case seg[0] == "login":
		name, pass := str(c.body, "username"), str(c.body, "password")
		if name == "" {
			name, pass = c.query.Get("username"), c.query.Get("password")
		}
		if ad, ok := c.body["authData"].(map[string]any); ok && ad["mfa"] != nil {
			return 400, errv(252, "This authentication method is unsupported.")
		}
		u := s.users[name]
		if u == nil || u.Password != pass {
			return 404, errv(101, "Invalid username/password.")
		}
		if u.ParseMFA {
			return 400, errv(-1, "Missing additional authData mfa")
		}
		return 200, userJSON(u, s.mint(u.ID))
	case seg[0] == "loginas":
		if !c.master {
			return 403, errv(119, "master key is required")
		}
		u := s.byID(str(c.body, "userId"))
		if u == nil {
			return 404, errv(101, "user not found")
		}
		return 200, userJSON(u, s.mint(u.ID))
	case seg[0] == "verifypassword":
		u := s.users[str(c.body, "username")]
		if u == nil || u.Password != str(c.body, "password") {
			return 404, errv(101, "Invalid username/password.")
		}
		return 200, userJSON(u, "")
	case seg[0] == "logout":
		if me == nil {
			return 400, errv(209, "Invalid session token")
		}
		delete(s.sessions, c.token)
		return 200, map[string]any{}
	case (seg[0] == "users" && len(seg) == 1 || seg[0] == "classes" && len(seg) == 2 && seg[1] == "_user") && c.method == http.MethodPost:
		if ad, ok := c.body["authData"].(map[string]any); ok && ad["anonymous"] != nil && str(c.body, "username") == "" {
			id := fmt.Sprint(ad["anonymous"].(map[string]any)["id"])
			u := s.users["anon-"+id]
			status := 200
			if u == nil {
				s.next++
				u = &User{ID: fmt.Sprintf("anon%04d", s.next), Username: "anon-" + id, Anonymous: id}
				s.users[u.Username] = u
				status = 201
			}
			return status, map[string]any{"objectId": u.ID, "username": u.Username, "createdAt": "2026-01-01T00:00:00.000Z", "sessionToken": s.mint(u.ID)}
		}
		name := str(c.body, "username")
		if name == "" || s.users[name] != nil {
			return 400, errv(202, "Account already exists for this username.")
		}
		s.next++
		u := &User{ID: fmt.Sprintf("new%05d", s.next), Username: name, Password: str(c.body, "password"), Phone: str(c.body, "phone")}
		s.users[name] = u
		return 201, map[string]any{"objectId": u.ID, "createdAt": "2026-01-01T00:00:00.000Z", "sessionToken": s.mint(u.ID)}
	case seg[0] == "users" && len(seg) == 2 && seg[1] == "me":
		if me == nil {
			return 400, errv(209, "Invalid session token")
		}
		return 200, userJSON(me, c.token)
	case seg[0] == "users" && len(seg) == 2 && c.method == http.MethodPut:
		if me == nil || !strings.EqualFold(me.ID, seg[1]) {
			return 400, errv(206, "cannot modify user")
		}
		if p := str(c.body, "password"); p != "" {
			me.Password = p
			for t, id := range s.sessions {
				if id == me.ID {
					delete(s.sessions, t)
				}
			}
			return 200, map[string]any{"updatedAt": "2026-01-02T00:00:00.000Z", "sessionToken": s.mint(me.ID)}
		}
		return 200, map[string]any{"updatedAt": "2026-01-02T00:00:00.000Z"}
	case seg[0] == "sessions" && len(seg) == 1 && c.method == http.MethodPost:
		if me == nil {
			return 400, errv(209, "Invalid session token")
		}
		t := s.mint(me.ID)
		return 201, map[string]any{"objectId": "s" + t[2:12], "sessionToken": t, "user": map[string]any{"__type": "Pointer", "className": "_User", "objectId": me.ID}, "createdWith": map[string]any{"action": "create"}}
	case seg[0] == "sessions" && len(seg) == 1:
		if me == nil {
			return 400, errv(209, "Invalid session token")
		}
		var out []any
		for t, id := range s.sessions {
			if id == me.ID {
				out = append(out, map[string]any{"objectId": "s" + t[2:12], "sessionToken": t, "expiresAt": map[string]any{"__type": "Date", "iso": "2027-01-01T00:00:00.000Z"},
					"user": map[string]any{"__type": "Pointer", "className": "_User", "objectId": id}})
			}
		}
		return 200, map[string]any{"results": out}
	case seg[0] == "sessions" && len(seg) == 2:
		if me == nil {
			return 400, errv(209, "Invalid session token")
		}
		for t, id := range s.sessions {
			if id == me.ID && ("s"+t[2:12] == seg[1] || seg[1] == "me" && t == c.token) {
				if c.method == http.MethodDelete {
					delete(s.sessions, t)
					return 200, map[string]any{}
				}
				return 200, map[string]any{"objectId": "s" + t[2:12], "sessionToken": t, "expiresAt": map[string]any{"__type": "Date", "iso": "2027-01-01T00:00:00.000Z"},
					"user": map[string]any{"__type": "Pointer", "className": "_User", "objectId": id}}
			}
		}
		return 404, errv(101, "Object not found.")
	case seg[0] == "classes" && len(seg) == 2 && seg[1] == "note":
		if me == nil {
			return 200, map[string]any{"results": []any{}}
		}
		return 200, map[string]any{"results": []any{map[string]any{"objectId": "n1", "text": "note of " + me.Username, "big": json.Number("12345678901234567890")}}}
	case seg[0] == "classes" && len(seg) == 2 && seg[1] == "echo":
		// Objects saved as they come and answered as saved: tests put
		// token values in them.
		if c.method == http.MethodPost {
			obj := map[string]any{}
			for k, v := range c.body {
				if !strings.HasPrefix(k, "_") {
					obj[k] = v
				}
			}
			s.echo = append(s.echo, obj)
			return 201, map[string]any{"objectId": fmt.Sprintf("e%d", len(s.echo)), "createdAt": "2026-01-01T00:00:00.000Z"}
		}
		return 200, map[string]any{"results": s.echo}
	case seg[0] == "functions" && len(seg) == 2 && seg[1] == "echo":
		// A cloud function answering its parameters; "login" in them logs
		// that user in (a function minting a session).
		params := map[string]any{}
		for k, v := range c.body {
			if !strings.HasPrefix(k, "_") {
				params[k] = v
			}
		}
		if name, _ := params["login"].(string); name != "" && s.users[name] != nil {
			params["minted"] = s.mint(s.users[name].ID)
		}
		return 200, map[string]any{"result": params}
	case seg[0] == "batch":
		reqs, _ := c.body["requests"].([]any)
		var out []any
		s.mu.Unlock()
		for _, ri := range reqs {
			rm, _ := ri.(map[string]any)
			sub := key(str(rm, "path"))
			sub = strings.TrimPrefix(strings.TrimPrefix(sub, "/parse"), "/")
			body, _ := rm["body"].(map[string]any)
			st, v := s.route(sub, call{method: strings.ToUpper(str(rm, "method")), token: c.token, master: c.master, body: body})
			if st >= 400 {
				out = append(out, map[string]any{"error": v})
			} else {
				out = append(out, map[string]any{"success": v})
			}
		}
		s.mu.Lock()
		return 200, out
	}
	return 404, errv(101, "Object not found.")
}

// graphql answers logIn, signUp, logInWith (anonymous) and viewer
// operations. An alias "t: sessionToken" in the query puts the token under
// "t", as GraphQL does; "a: logIn" two times logs in twice.
func (s *Server) graphql(w http.ResponseWriter, c call) {
	q := str(c.body, "query")
	vars, _ := c.body["variables"].(map[string]any)
	tokKey := "sessionToken"
	if strings.Contains(q, "t: sessionToken") {
		tokKey = "t"
	}
	viewer := func(u *User, t string) map[string]any {
		v := map[string]any{tokKey: t}
		if !strings.Contains(q, "noid") {
			v["user"] = map[string]any{"id": base64.StdEncoding.EncodeToString([]byte("_User:" + u.ID)), "username": u.Username}
		}
		return v
	}
	switch {
	case strings.Contains(q, "logInWith"):
		id := fmt.Sprint(vars["anonymous"])
		s.mu.Lock()
		u := s.users["anon-"+id]
		if u == nil {
			s.next++
			u = &User{ID: fmt.Sprintf("anon%04d", s.next), Username: "anon-" + id, Anonymous: id}
			s.users[u.Username] = u
		}
		t := s.mint(u.ID)
		s.mu.Unlock()
		reply(w, 200, map[string]any{"data": map[string]any{"logInWith": map[string]any{"viewer": viewer(u, t)}}})
	case strings.Contains(q, "signUp"):
		s.mu.Lock()
		s.next++
		u := &User{ID: fmt.Sprintf("new%05d", s.next), Username: str(vars, "username"), Password: str(vars, "password")}
		s.users[u.Username] = u
		t := s.mint(u.ID)
		s.mu.Unlock()
		reply(w, 200, map[string]any{"data": map[string]any{"signUp": map[string]any{"viewer": viewer(u, t)}}})
	case strings.Contains(q, "logIn"):
		s.mu.Lock()
		u := s.users[str(vars, "username")]
		if u == nil || u.Password != str(vars, "password") {
			s.mu.Unlock()
			reply(w, 200, map[string]any{"errors": []any{map[string]any{"message": "Invalid username/password.", "extensions": map[string]any{"code": 101}}}})
			return
		}
		data := map[string]any{}
		for _, name := range []string{"a", "b"} {
			if strings.Contains(q, name+": logIn") {
				data[name] = map[string]any{"viewer": viewer(u, s.mint(u.ID))}
			}
		}
		if len(data) == 0 {
			data["logIn"] = map[string]any{"viewer": viewer(u, s.mint(u.ID))}
		}
		s.mu.Unlock()
		reply(w, 200, map[string]any{"data": data})
	default:
		s.mu.Lock()
		id, ok := s.sessions[c.token]
		s.mu.Unlock()
		if !ok {
			reply(w, 200, map[string]any{"errors": []any{map[string]any{"message": "Invalid session token", "extensions": map[string]any{"code": 209}}}})
			return
		}
		reply(w, 200, map[string]any{"data": map[string]any{"viewer": map[string]any{"sessionToken": c.token, "user": map[string]any{"objectId": id}}}})
	}
}
