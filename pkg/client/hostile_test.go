package client

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/perfgo/perfgo/pkg/server/faultserver"
)

// Tests against servers that lie, stall or answer something else than
// HTTP: every request must end, and end with the class that names why.

// silentServer accepts connections and never writes; it returns its
// address. Connections close when the test ends.
func silentServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// everyTransport lists options for gRPC and both HTTP transports.
func everyTransport(addr string) []Options {
	return []Options{
		{Protocol: GRPC, URL: addr},
		{URL: addr, InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON},
		{URL: addr, InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON, httpTransport: transportNet},
	}
}

// New must not hang on a server that accepts and never answers GET /v2.
func TestNewHTTPSilentServer(t *testing.T) {
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			addr := silentServer(t)
			c, err := New(testCtx(t), Options{URL: addr, ControlTimeout: 200 * time.Millisecond, httpTransport: tr})
			if err == nil {
				c.Close()
				t.Fatal("New against a silent server succeeded")
			}
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "GET /v2") {
				t.Errorf("New against a silent server: %v, want ErrTimeout naming GET /v2", err)
			}
		})
	}
}

// Control calls are bounded by ControlTimeout on both protocols.
func TestControlTimeout(t *testing.T) {
	addr := silentServer(t)
	for _, opts := range everyTransport(addr) {
		opts.ControlTimeout = 100 * time.Millisecond
		c := newClient(t, opts)
		if _, err := c.ServerMetadata(testCtx(t)); !errors.Is(err, ErrTimeout) {
			t.Errorf("%s %s: ServerMetadata against a silent server: %v, want ErrTimeout", opts.Protocol, opts.httpTransport, err)
		}
	}
}

// A cancelled context and a request timeout each end a stalled request,
// with their own class, on every transport.
func TestStalledInfer(t *testing.T) {
	addr := silentServer(t)
	for _, opts := range everyTransport(addr) {
		name := string(opts.Protocol) + opts.httpTransport
		ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
		_, err := newCall(t, newClient(t, opts), echoRequest()).Do(ctx)
		cancel()
		if Class(err) != "timeout" {
			t.Errorf("%s: ctx deadline: %v (class %q), want timeout", name, err, Class(err))
		}
		ctx, cancel = context.WithCancel(testCtx(t))
		timer := time.AfterFunc(100*time.Millisecond, cancel)
		_, err = newCall(t, newClient(t, opts), echoRequest()).Do(ctx)
		timer.Stop()
		cancel()
		if Class(err) != "cancelled" {
			t.Errorf("%s: cancelled: %v (class %q), want cancelled", name, err, Class(err))
		}
		topts := opts
		topts.Timeout = 100 * time.Millisecond
		if _, err := newCall(t, newClient(t, topts), echoRequest()).Do(testCtx(t)); Class(err) != "timeout" {
			t.Errorf("%s: Timeout: %v (class %q), want timeout", name, err, Class(err))
		}
	}
}

// Answers that are broken at the HTTP level, on both transports.
func TestHTTPHostileAnswers(t *testing.T) {
	big := strconv.Itoa(DefaultMaxResponseSize + 1)
	tests := []struct {
		name, raw string
		limit     int64
		kind      error
		class     string
		inMsg     string
	}{
		{"garbage", "SSH-2.0-OpenSSH_9.6\r\n\r\n", 0, ErrNotV2, "protocol", ""},
		{"garbage without newline", "\x00\x01\x02 hello", 0, ErrNotV2, "protocol", ""},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"outputs\":", 0, ErrServer, "truncated", ""},
		{"truncated headers", "HTTP/1.1 200 OK\r\nContent-Le", 0, nil, "", ""},
		{"huge content-length", "HTTP/1.1 200 OK\r\nContent-Length: " + big + "\r\n\r\n{}", 0, ErrResponseTooLarge, "too_large", big},
		{"over the limit", "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100, ErrResponseTooLarge, "too_large", "100"},
		{"chunked over the limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n" + strings.Repeat("x", 128) + "\r\n0\r\n\r\n", 100, ErrResponseTooLarge, "too_large", "100"},
		{"until close over the limit", "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", 128), 100, ErrResponseTooLarge, "too_large", "100"},
		{"header line too long", "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("x", 2*fastReadBuffer) + "\r\nContent-Length: 2\r\n\r\n{}", 0, ErrServer, "protocol", ""},
	}
	for _, tt := range tests {
		for _, tr := range httpTransports {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				s := startRawServer(t, func(int) rawReply { return rawReply{tt.raw, true} })
				opts := jsonOpts(s.url(), tr)
				opts.MaxResponseSize = tt.limit
				_, err := newCall(t, newClient(t, opts), echoRequest()).Do(testCtx(t))
				if err == nil {
					t.Fatal("Do succeeded")
				}
				if tt.kind == nil {
					return // any failure will do
				}
				if !errors.Is(err, tt.kind) || Class(err) != tt.class || !strings.Contains(err.Error(), tt.inMsg) {
					t.Errorf("Do: %v (class %q), want %v, class %q, naming %q", err, Class(err), tt.kind, tt.class, tt.inMsg)
				}
			})
		}
	}
}

// A 404 without a v2 error body is the URL's fault, not the model's, on
// GET /v2 and anywhere under a path prefix.
func TestHTTPNotFoundPath(t *testing.T) {
	for _, tr := range httpTransports {
		s := startRawServer(t, func(int) rawReply {
			return rawReply{"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", false}
		})
		_, err := New(testCtx(t), Options{URL: s.url() + "/prefix", httpTransport: tr})
		if !errors.Is(err, ErrNotV2) || errors.Is(err, ErrModelNotFound) ||
			!strings.Contains(err.Error(), "GET /prefix/v2: the server has no such path") ||
			!strings.Contains(err.Error(), "ask the server for its v2 extensions") {
			t.Errorf("%s: New with a wrong prefix: %v", tr, err)
		}
		opts := jsonOpts(s.url()+"/prefix", tr)
		c := newClient(t, opts)
		if _, err := newCall(t, c, echoRequest()).Do(testCtx(t)); !errors.Is(err, ErrNotV2) {
			t.Errorf("%s: infer under a wrong prefix: %v, want ErrNotV2", tr, err)
		}
		if _, err := c.ModelReady(testCtx(t), "m", ""); !errors.Is(err, ErrNotV2) {
			t.Errorf("%s: ModelReady under a wrong prefix: %v, want ErrNotV2", tr, err)
		}
		if _, err := c.ModelMetadata(testCtx(t), "m", ""); !errors.Is(err, ErrNotV2) {
			t.Errorf("%s: ModelMetadata under a wrong prefix: %v, want ErrNotV2", tr, err)
		}
	}
	// A v2 answer about an unknown model stays ErrModelNotFound.
	s := startRawServer(t, func(int) rawReply {
		const body = `{"error":"Request for unknown model: 'm' is not found"}`
		return rawReply{"HTTP/1.1 404 Not Found\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, false}
	})
	c := newClient(t, jsonOpts(s.url()+"/prefix", ""))
	if _, err := c.ModelMetadata(testCtx(t), "m", ""); !errors.Is(err, ErrModelNotFound) {
		t.Errorf("v2 unknown model under a prefix: %v, want ErrModelNotFound", err)
	}
}

func TestLocalResourceErrors(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", errno)}
	}
	grpcDial := func(text string) error {
		return status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: socket: `+text+`"`)
	}
	tests := []struct {
		name  string
		err   *Error
		class string
		hint  string
	}{
		{"http EMFILE", transportError(context.Background(), "infer", dial(syscall.EMFILE)), "local:EMFILE", "ulimit -n"},
		{"http ENFILE", transportError(context.Background(), "infer", dial(syscall.ENFILE)), "local:ENFILE", "ulimit -n"},
		{"http EADDRNOTAVAIL", transportError(context.Background(), "infer", dial(syscall.EADDRNOTAVAIL)), "local:EADDRNOTAVAIL", "local ports"},
		{"http ENOBUFS", transportError(context.Background(), "infer", dial(syscall.ENOBUFS)), "local:ENOBUFS", "lower the concurrency"},
		{"grpc EMFILE", grpcError(context.Background(), "infer", grpcDial("too many open files")), "local:EMFILE", "ulimit -n"},
		{"grpc ENFILE", grpcError(context.Background(), "infer", grpcDial("too many open files in system")), "local:ENFILE", "ulimit -n"},
		{"grpc EADDRNOTAVAIL", grpcError(context.Background(), "infer", grpcDial("cannot assign requested address")), "local:EADDRNOTAVAIL", "local ports"},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrLocalResources) || tt.err.Class != tt.class || !strings.Contains(tt.err.Error(), tt.hint) {
			t.Errorf("%s: %v (class %q), want ErrLocalResources, class %q, hint naming %q", tt.name, tt.err, tt.err.Class, tt.class, tt.hint)
		}
	}
	// A refused connection is still the server's absence.
	if err := transportError(context.Background(), "infer", dial(syscall.ECONNREFUSED)); err.Class != "unreachable" {
		t.Errorf("refused: class %q", err.Class)
	}
}

func TestGRPCTooLargeClass(t *testing.T) {
	err := grpcError(context.Background(), "infer", status.Error(codes.ResourceExhausted, "grpc: received message larger than max (200 vs. 100)"))
	if !errors.Is(err, ErrResponseTooLarge) || err.Class != "too_large" || !strings.Contains(err.Error(), "max-response-size") {
		t.Errorf("%v (class %q), want ErrResponseTooLarge, too_large", err, err.Class)
	}
}

func TestMaxResponseSizeOption(t *testing.T) {
	for _, p := range []Protocol{HTTP, GRPC} {
		if c, err := New(testCtx(t), Options{Protocol: p, URL: "127.0.0.1:1", MaxResponseSize: -1, InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON}); err == nil {
			c.Close()
			t.Errorf("%s: a negative MaxResponseSize was accepted", p)
		}
	}
}

// A server that drips its answer a byte at a time cannot hold a request
// past its timeout: the deadline bounds the whole response, not each read.
func TestHTTPDrip(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				reply := "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat(" ", 100000)
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				for i := range len(reply) {
					select {
					case <-done:
						return
					case <-tick.C:
					}
					if _, err := c.Write([]byte{reply[i]}); err != nil {
						return
					}
				}
			})
		}
	})
	for _, tr := range httpTransports {
		opts := jsonOpts("http://"+ln.Addr().String(), tr)
		opts.Timeout = 200 * time.Millisecond
		if _, err := newCall(t, newClient(t, opts), echoRequest()).Do(testCtx(t)); Class(err) != "timeout" {
			t.Errorf("%s: a dripping answer: %v (class %q), want timeout", tr, err, Class(err))
		}
	}
}

// A gRPC Call's timeout is re-armed per request: after a request that
// timed out, the same Call carries on (a fresh child context), and a
// request that was answered in time is not cut off later.
func TestGRPCTimeoutReused(t *testing.T) {
	p := faultserver.Start(t)
	c := newClient(t, Options{Protocol: GRPC, URL: p.GRPCAddr, Timeout: 300 * time.Millisecond})
	call := newCall(t, c, simpleRequest())
	ctx := testCtx(t)
	for i := range 3 {
		if _, err := call.Do(ctx); err != nil {
			t.Fatalf("request %d before the stall: %v", i, err)
		}
	}
	p.Set(faultserver.StallAfter(0))
	if _, err := call.Do(ctx); Class(err) != "timeout" || !strings.Contains(err.Error(), "request timeout 300ms") {
		t.Fatalf("stalled request: %v (class %q), want the request timeout", err, Class(err))
	}
	p.Set(faultserver.Fault{})
	for i := range 3 {
		if _, err := call.Do(ctx); err != nil {
			t.Fatalf("request %d after the timeout: %v", i, err)
		}
	}
}
