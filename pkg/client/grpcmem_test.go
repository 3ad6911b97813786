package client

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// readSizeConn records the largest buffer the transport reads into.
type readSizeConn struct {
	net.Conn
	largest *atomic.Int64
}

func (c readSizeConn) Read(p []byte) (int, error) {
	for {
		was := c.largest.Load()
		if int64(len(p)) <= was || c.largest.CompareAndSwap(was, int64(len(p))) {
			break
		}
	}
	return c.Conn.Read(p)
}

// TestGRPCReadBuffer fails when NewGRPC's read buffer option stops
// applying: grpc-go's default of 32 KiB per connection in flight held
// 3.3 MB of heap at concurrency 1,000. A small response is read through
// the buffer, so the buffer's size is the largest read.
func TestGRPCReadBuffer(t *testing.T) {
	s := servertest.Start(t)
	ctx := context.Background()
	var largest atomic.Int64
	var d net.Dialer
	c, err := NewGRPC(ctx, Options{Protocol: GRPC, URL: s.GRPCAddr, grpcTransport: transportGRPCGo, grpcDialer: func(ctx context.Context, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return readSizeConn{Conn: conn, largest: &largest}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call, err := c.NewCall(simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := call.Do(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := largest.Load(); got != grpcReadBufferSize {
		t.Errorf("largest read %d bytes, want the read buffer's %d: is grpc.WithReadBufferSize still given to grpc.NewClient?", got, grpcReadBufferSize)
	}
}
