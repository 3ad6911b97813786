package faultserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// Proxy fronts a v2 server over HTTP and gRPC and applies the current Fault
// to its inference calls (see Set). Kill, Restart and Close are meant to be
// called from one goroutine; Set, Requests and Held from any.
type Proxy struct {
	faults
	// HTTPAddr and GRPCAddr are the proxy's own addresses (127.0.0.1:port),
	// kept across Kill and Restart; "" when the backend lacks the protocol.
	HTTPAddr, GRPCAddr string
	// Backend is the reference server behind the proxy (set by Start only).
	Backend *servertest.Server

	rp    *httputil.ReverseProxy
	tr    *http.Transport
	conn  *grpc.ClientConn
	infer inferencepb.GRPCInferenceServiceClient

	mu       sync.Mutex
	front    *front // nil while killed or closed
	closed   bool
	handlers sync.WaitGroup // every request inside the proxy
}

// front is one life of the proxy's listeners, between Restart and Kill.
type front struct {
	http    *http.Server
	grpc    *grpc.Server
	cancel  context.CancelFunc // ends every HTTP request's context
	serving sync.WaitGroup
}

// Start starts the reference server (servertest.Start with opts) and a
// Proxy in front of it; both stop in tb's cleanup.
func Start(tb testing.TB, opts ...func(*server.Options)) *Proxy {
	tb.Helper()
	s := servertest.Start(tb, opts...)
	p, err := New(s.HTTPAddr, s.GRPCAddr)
	if err != nil {
		tb.Fatalf("faultserver: %v", err)
	}
	p.Backend = s
	tb.Cleanup(p.Close)
	return p
}

// New starts a proxy on free 127.0.0.1 ports in front of the v2 server at
// httpAddr and grpcAddr (host:port; "" leaves that protocol out). Close it.
func New(httpAddr, grpcAddr string) (*Proxy, error) {
	p := &Proxy{}
	p.faults.init()
	if httpAddr != "" {
		backend := &url.URL{Scheme: "http", Host: httpAddr}
		p.tr = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
		p.rp = &httputil.ReverseProxy{
			Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(backend) },
			Transport:      p.tr,
			FlushInterval:  -1, // Drip flushes every byte
			ModifyResponse: modifyResponse,
			ErrorHandler:   forwardError,
			ErrorLog:       log.New(io.Discard, "", 0),
		}
	}
	if grpcAddr != "" {
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("connect to the gRPC backend: %w", err)
		}
		p.conn, p.infer = conn, inferencepb.NewGRPCInferenceServiceClient(conn)
	}
	free := func(backend string) string {
		if backend == "" {
			return ""
		}
		return "127.0.0.1:0"
	}
	hl, gl, err := listenPair(free(httpAddr), free(grpcAddr))
	if err != nil {
		p.Close()
		return nil, err
	}
	p.HTTPAddr, p.GRPCAddr = addrOf(hl), addrOf(gl)
	p.serve(hl, gl)
	return p, nil
}

// listenPair listens on the addresses that are not "".
func listenPair(httpAddr, grpcAddr string) (hl, gl net.Listener, err error) {
	if httpAddr != "" {
		if hl, err = net.Listen("tcp", httpAddr); err != nil {
			return nil, nil, fmt.Errorf("faultserver: listen for HTTP: %w", err)
		}
	}
	if grpcAddr != "" {
		if gl, err = net.Listen("tcp", grpcAddr); err != nil {
			if hl != nil {
				_ = hl.Close()
			}
			return nil, nil, fmt.Errorf("faultserver: listen for gRPC: %w", err)
		}
	}
	return hl, gl, nil
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// serve starts a front on the listeners (either may be nil).
func (p *Proxy) serve(hl, gl net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &front{cancel: cancel}
	if hl != nil {
		f.http = &http.Server{
			Handler:           http.HandlerFunc(p.serveHTTP),
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return ctx },
			ErrorLog:          log.New(io.Discard, "", 0),
		}
		f.serve(func() error { return f.http.Serve(hl) })
	}
	if gl != nil {
		f.grpc = grpc.NewServer(grpc.ForceServerCodecV2(hugeCodec{}), grpc.UnaryInterceptor(p.intercept), grpc.StreamInterceptor(p.interceptStream))
		inferencepb.RegisterGRPCInferenceServiceServer(f.grpc, grpcFront{p: p})
		f.serve(func() error { return f.grpc.Serve(gl) })
	}
	p.mu.Lock()
	p.front = f
	p.mu.Unlock()
}

func (f *front) serve(run func() error) {
	f.serving.Add(1)
	go func() {
		defer f.serving.Done()
		_ = run() // ends when Kill closes the listener
	}()
}

// enter admits a request into the proxy (false once killed or closed); the
// caller calls p.handlers.Done when it leaves.
func (p *Proxy) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.front == nil {
		return false
	}
	p.handlers.Add(1)
	return true
}

// Kill closes the proxy's listeners and every connection at once, as a
// crashing server does: requests in flight fail, new connections are
// refused. The backend keeps running. It returns when every request inside
// the proxy has ended.
func (p *Proxy) Kill() {
	p.mu.Lock()
	f := p.front
	p.front = nil
	p.mu.Unlock()
	if f == nil {
		return
	}
	if f.http != nil {
		_ = f.http.Close()
	}
	f.cancel()
	if f.grpc != nil {
		f.grpc.Stop()
	}
	f.serving.Wait()
	p.handlers.Wait()
}

// Restart listens again on the addresses the proxy had before Kill.
func (p *Proxy) Restart() error {
	p.mu.Lock()
	busy := p.front != nil || p.closed
	p.mu.Unlock()
	if busy {
		return errors.New("faultserver: Restart needs a killed proxy")
	}
	hl, gl, err := listenPair(p.HTTPAddr, p.GRPCAddr)
	if err != nil {
		return err
	}
	p.serve(hl, gl)
	return nil
}

// Close kills the proxy for good and closes its connections to the backend.
func (p *Proxy) Close() {
	p.Kill()
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if already {
		return
	}
	if p.tr != nil {
		p.tr.CloseIdleConnections()
	}
	if p.conn != nil {
		_ = p.conn.Close()
	}
}

// forwardError answers 502 when the backend fails, and nothing when the
// request was cancelled (the client left, or Kill: a dying server does not
// answer 502).
func forwardError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(http.StatusBadGateway)
}

// intercept admits every gRPC call (so that Kill waits for it).
func (p *Proxy) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !p.enter() {
		return nil, status.Error(codes.Unavailable, "faultserver: killed")
	}
	defer p.handlers.Done()
	return handler(ctx, req)
}
