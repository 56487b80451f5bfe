package testsvc

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Cutter is a TCP forwarder on loopback whose link to the target a test can
// cut (every connection dropped, new ones refused) and restore: an outage
// of a shared server without stopping it.
type Cutter struct {
	Addr   string
	target string
	ln     net.Listener
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// NewCutter forwards a new loopback port to target (host:port).
func NewCutter(t testing.TB, target string) *Cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cutter{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(func() { ln.Close(); c.Cut(); c.wg.Wait() })
	return c
}

func (c *Cutter) accept() {
	defer c.wg.Done()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		if c.cut {
			c.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			c.mu.Unlock()
			in.Close()
			continue
		}
		c.conns[in], c.conns[out] = true, true
		c.mu.Unlock()
		c.wg.Add(2)
		go c.pipe(in, out)
		go c.pipe(out, in)
	}
}

func (c *Cutter) pipe(dst, src net.Conn) {
	defer c.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	c.mu.Lock()
	delete(c.conns, dst)
	delete(c.conns, src)
	c.mu.Unlock()
}

// Cut drops every connection and refuses new ones.
func (c *Cutter) Cut() {
	c.mu.Lock()
	c.cut = true
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
}

// Restore lets connections through again.
func (c *Cutter) Restore() {
	c.mu.Lock()
	c.cut = false
	c.mu.Unlock()
}
