package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestHandlerCopiesEventsWithRequestID(t *testing.T) {
	var main, file bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&main, &slog.HandlerOptions{Level: slog.LevelWarn}), &file))
	ctx := WithRequestID(context.Background(), "req-1")
	log.InfoContext(ctx, "login held", "event", "login_held", "user", "alice")
	log.InfoContext(ctx, "noise without event")
	log.WarnContext(ctx, "banned", "event", "ban", "user", "bob")

	lines := strings.Split(strings.TrimSpace(file.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("audit file has %d lines, want the 2 events:\n%s", len(lines), file.String())
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["event"] != "login_held" || ev["user"] != "alice" || ev["request_id"] != "req-1" {
		t.Errorf("event line: %v", ev)
	}
	// The main log keeps its own level: the info event is not there.
	if strings.Contains(main.String(), "login_held") || !strings.Contains(main.String(), "request_id=req-1") {
		t.Errorf("main log: %q", main.String())
	}
}

func TestEnsureRequestID(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set(Header, "from-client")
	id, ctx := EnsureRequestID(r, false)
	if id == "from-client" || len(id) < 14 || RequestID(ctx) != id || r.Header.Get(Header) != id || sameID() {
		t.Errorf("untrusted id kept or not set: %q", id)
	}
	r.Header.Set(Header, "abc-123")
	if id, _ := EnsureRequestID(r, true); id != "abc-123" {
		t.Errorf("trusted id replaced: %q", id)
	}
	r.Header.Set(Header, "bad id\n")
	if id, _ := EnsureRequestID(r, true); id == "bad id\n" {
		t.Error("insane id kept")
	}
}

// sameID reports whether two fresh ids collide.
func sameID() bool {
	a, b := NewID(), NewID()
	return a == b
}
