// Package servertest starts perfgo's reference v2 server on loopback for
// tests, with every listener on a free port.
package servertest

import (
	"context"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/server"
)

// Server is a started server and its bound addresses (host:port).
type Server struct {
	HTTPAddr, GRPCAddr, MetricsAddr string
	*server.Server
}

// Start starts a server listening on 127.0.0.1:0 for HTTP, gRPC and metrics
// (opts may change that or anything else) and registers a cleanup that shuts
// it down and waits for all its goroutines. It fails tb on any error.
func Start(tb testing.TB, opts ...func(*server.Options)) *Server {
	tb.Helper()
	o := server.Options{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"}
	for _, f := range opts {
		f(&o)
	}
	s, err := server.New(o)
	if err != nil {
		tb.Fatalf("servertest: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		tb.Fatalf("servertest: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			tb.Errorf("servertest: shutdown: %v", err)
		}
	})
	return &Server{HTTPAddr: s.HTTPAddr(), GRPCAddr: s.GRPCAddr(), MetricsAddr: s.MetricsAddr(), Server: s}
}
