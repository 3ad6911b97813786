package faultserver

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TCP is a raw loopback listener that accepts connections and keeps them
// open until Close without ever answering a request: a server that hangs
// at start-up, or one that speaks another protocol.
type TCP struct {
	// Addr is the listener's address (127.0.0.1:port).
	Addr     string
	ln       net.Listener
	greeting []byte
	accepted atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

// Silent accepts connections and never writes a byte.
func Silent(tb testing.TB) *TCP { return startTCP(tb, nil) }

// NotHTTP writes a greeting that is neither HTTP nor HTTP/2 (an SSH banner
// followed by binary junk) on each connection, then says nothing more.
func NotHTTP(tb testing.TB) *TCP {
	return startTCP(tb, []byte("SSH-2.0-OpenSSH_9.6\r\n\x00\x00\x01\xff\xfe junk \x07\r\n\r\n"))
}

func startTCP(tb testing.TB, greeting []byte) *TCP {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("faultserver: %v", err)
	}
	s := &TCP{Addr: ln.Addr().String(), ln: ln, greeting: greeting, done: make(chan struct{})}
	go s.accept()
	tb.Cleanup(s.Close)
	return s
}

func (s *TCP) accept() {
	defer close(s.done)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.accepted.Add(1)
		if len(s.greeting) > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(s.greeting)
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
	}
}

// Accepted is the number of connections accepted so far.
func (s *TCP) Accepted() int64 { return s.accepted.Load() }

// Close stops listening and closes every connection it holds.
func (s *TCP) Close() {
	_ = s.ln.Close()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}
