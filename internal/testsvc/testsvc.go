// Package testsvc gives tests the PostgreSQL and Redis servers that
// scripts/test.sh starts on loopback (through VESTIBULE_TEST_POSTGRES_URL
// and VESTIBULE_TEST_REDIS_URL). Without them a test is skipped with a
// message saying how to run it; under scripts/test.sh
// (VESTIBULE_REQUIRE_SERVICES=1) a missing service fails the test.
package testsvc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const require = "VESTIBULE_REQUIRE_SERVICES"

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(require) != "" {
		t.Fatalf("%s is not available but %s is set", what, require)
	}
	t.Skipf("%s is not available: run `bash scripts/test.sh`, which starts PostgreSQL and Redis on loopback", what)
}

// RandomName is a fresh lower-case identifier.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Postgres returns a URL to a fresh, empty schema of the test database;
// the schema is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	schema := RandomName("t_")
	u := postgresObject(t, "CREATE SCHEMA "+schema, "DROP SCHEMA "+schema+" CASCADE")
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Redis returns the URL of the test Redis server. Tests isolate themselves
// with a key prefix of their own (RandomName).
func Redis(t testing.TB) string {
	t.Helper()
	u := os.Getenv("VESTIBULE_TEST_REDIS_URL")
	if u == "" {
		missing(t, "Redis (VESTIBULE_TEST_REDIS_URL)")
	}
	return u
}

// RedisServer is a private redis-server process, for tests that stop and
// restart it.
type RedisServer struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	t    testing.TB
}

// StartRedis starts a private redis-server on a free loopback port.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &RedisServer{Port: port, dir: t.TempDir(), t: t}
	s.start(bin)
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's redis:// URL.
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port) }

func (s *RedisServer) start(bin string) {
	s.t.Helper()
	s.cmd = exec.Command(bin, "--port", fmt.Sprint(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not come up", s.Port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server (its data is gone: it saves nothing).
func (s *RedisServer) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts the server again on the same port.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.Stop()
	bin, _ := exec.LookPath("redis-server")
	s.start(bin)
}

// postgresObject creates a schema or database (create, then drop when the
// test ends) on the test PostgreSQL server and returns the server's URL.
func postgresObject(t testing.TB, create, drop string) *url.URL {
	t.Helper()
	base := os.Getenv("VESTIBULE_TEST_POSTGRES_URL")
	if base == "" {
		missing(t, "PostgreSQL (VESTIBULE_TEST_POSTGRES_URL)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatalf("%s: %v", create, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			c.Exec(ctx, drop)
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// PostgresDatabase creates a fresh database on the test PostgreSQL server
// (for programs that want a database of their own, such as Parse Server)
// and returns its URL; it is dropped when the test ends.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	name := RandomName("db_")
	u := postgresObject(t, "CREATE DATABASE "+name, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	u.Path = "/" + name
	u.RawQuery = ""
	return u.String()
}
