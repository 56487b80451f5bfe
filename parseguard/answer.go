package parseguard

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// minted is a session token found in an answer, with the user it belongs
// to where the answer says (objectId: a sibling field, or a "user" object
// next to it, as in GraphQL's viewer).
type minted struct {
	token string
	user  string
	// obj is the object holding the token (for the phone field).
	obj map[string]any
}

// decodeAnswer parses a JSON answer keeping numbers exact, so that a
// re-encoded answer changes nothing but what the gateway removed.
func decodeAnswer(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	return v, true
}

// findTokens collects every "sessionToken" string in v.
func findTokens(v any, out []minted) []minted {
	switch t := v.(type) {
	case map[string]any:
		if tok, ok := t["sessionToken"].(string); ok && tok != "" {
			out = append(out, minted{token: tok, user: userOf(t), obj: t})
		}
		for _, c := range t {
			out = findTokens(c, out)
		}
	case []any:
		for _, c := range t {
			out = findTokens(c, out)
		}
	}
	return out
}

// userOf is the objectId of the user an object holding a token describes.
func userOf(m map[string]any) string {
	_, expires := m["expiresAt"]
	_, created := m["createdWith"]
	if id, ok := m["objectId"].(string); ok && id != "" {
		// A _Session object names its user in "user", not objectId.
		if u, ok := m["user"].(map[string]any); ok && (expires || created || m["className"] == "_Session") {
			return pointerID(u)
		}
		return id
	}
	if u, ok := m["user"].(map[string]any); ok {
		return pointerID(u)
	}
	return ""
}

// pointerID reads a user's objectId from a Parse pointer or object, or from
// a GraphQL object's global id ("_User:objectId" in base64).
func pointerID(u map[string]any) string {
	if id, ok := u["objectId"].(string); ok && id != "" {
		return id
	}
	if gid, ok := u["id"].(string); ok {
		if raw, err := base64.StdEncoding.DecodeString(gid); err == nil {
			if cls, id, ok := strings.Cut(string(raw), ":"); ok && cls == "_User" && id != "" {
				return id
			}
		}
	}
	return ""
}

// redact removes every "sessionToken" whose token drop says to remove, and
// reports whether it removed any.
func redact(v any, drop func(string) bool) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		if tok, ok := t["sessionToken"].(string); ok && drop(tok) {
			delete(t, "sessionToken")
			changed = true
		}
		for _, c := range t {
			if redact(c, drop) {
				changed = true
			}
		}
	case []any:
		for _, c := range t {
			if redact(c, drop) {
				changed = true
			}
		}
	}
	return changed
}
