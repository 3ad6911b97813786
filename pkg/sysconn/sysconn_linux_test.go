package sysconn

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// sysPair returns a sysConn dialled to a loopback listener and the
// server's end of it.
func sysPair(t *testing.T) (*sysConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := Wrap(nc).(*sysConn)
	if !ok {
		t.Fatalf("Wrap(%T) is not a *sysConn", nc)
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

// A sysConn behaves as the net.Conn it wraps: data both ways, large
// writes in full, io.EOF when the peer closes, deadlines as timeouts,
// errors worded "read tcp" and "write tcp", a failed write when the peer
// has gone. No allocation per read or write.
func TestSysConn(t *testing.T) {
	c, peer := sysPair(t)

	big := []byte(strings.Repeat("0123456789abcdef", 1<<16)) // 1 MiB: more than a socket buffer
	done := make(chan error, 1)
	go func() {
		got, err := io.ReadAll(io.LimitReader(peer, int64(len(big))))
		if err == nil && string(got) != string(big) {
			err = errors.New("the peer read other bytes than were written")
		}
		done <- err
	}()
	if n, err := c.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write of 1 MiB = %d, %v", n, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if _, err := peer.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := io.ReadFull(c, buf[:4]); n != 4 || err != nil || string(buf[:4]) != "pong" {
		t.Fatalf("Read = %q, %v; want pong", buf[:n], err)
	}

	x := []byte("x")
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = peer.Write(x)
		_, _ = c.Read(buf[:1])
		_, _ = c.Write(buf[:1])
		_, _ = peer.Read(buf[1:2])
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per read and write; want 0", allocs)
	}

	if err := c.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) || !strings.HasPrefix(err.Error(), "read tcp ") {
		t.Errorf("Read past its deadline: %v; want a timeout worded read tcp", err)
	}
	_ = c.SetReadDeadline(time.Time{})

	peer.Close()
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("Read after the peer closed = %d, %v; want 0, io.EOF", n, err)
	}
	// The peer's socket is gone: a write fails once its RST is back.
	var werr error
	for range 100 {
		if _, werr = c.Write([]byte("after")); werr != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if werr == nil || !strings.HasPrefix(werr.Error(), "write tcp ") {
		t.Errorf("Write to a closed peer: %v; want an error worded write tcp", werr)
	}

	c.Close()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v; want net.ErrClosed", err)
	}
}

// Close from another goroutine ends a read that waits.
func TestSysConnCloseEndsRead(t *testing.T) {
	c, _ := sysPair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("waiting Read after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a waiting Read in 10 s")
	}
}

// Two goroutines may read (and two write) one connection at once, as
// net/http's server does: each gets bytes of its own (and -race sees no
// shared state).
func TestSysConnConcurrentCalls(t *testing.T) {
	c, peer := sysPair(t)
	const n = 200
	got := make(chan byte, n)
	var readers, writers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			b := make([]byte, 1)
			for range n / 2 {
				if _, err := c.Read(b); err != nil {
					t.Error(err)
					return
				}
				got <- b[0]
			}
		})
		writers.Go(func() {
			for range n / 2 {
				if _, err := c.Write([]byte{'w'}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	sent := make([]byte, n)
	for i := range sent {
		sent[i] = byte(i)
	}
	if _, err := peer.Write(sent); err != nil {
		t.Fatal(err)
	}
	readers.Wait()
	close(got)
	seen := make([]bool, n)
	for b := range got {
		if seen[b] {
			t.Fatalf("byte %d read twice", b)
		}
		seen[b] = true
	}
	writers.Wait()
	back := make([]byte, n)
	if _, err := io.ReadFull(peer, back); err != nil || strings.Count(string(back), "w") != n {
		t.Errorf("the peer read %q, %v; want %d w", back, err, n)
	}
}
