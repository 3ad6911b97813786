package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// Tests of both HTTP transports' connection handling, against servers
// that misbehave in ways the reference server does not.

var httpTransports = []string{transportFast, transportNet}

// echoRequest is a JSON request a fake server can answer with jsonReply.
func echoRequest() *InferRequest {
	return &InferRequest{Model: "m", Inputs: []Tensor{{Name: "I", Datatype: TypeInt32, Shape: []int64{1}, Data: int32Data(7)}}}
}

const jsonReply = `{"model_name":"m","outputs":[{"name":"O","datatype":"INT32","shape":[1],"data":[7]}]}`

func jsonOpts(url, tr string) Options {
	return Options{URL: url, InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON, httpTransport: tr}
}

// rawServer answers request n (counted from 0 per connection) with
// reply(n) written byte for byte; a reply ending the connection closes it.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int32 // connections accepted
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

type rawReply struct {
	raw   string
	close bool
}

func startRawServer(t *testing.T, reply func(n int) rawReply) *rawServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Go(func() { s.serve(c, reply) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) serve(c net.Conn, reply func(n int) rawReply) {
	defer c.Close()
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		r := reply(n)
		if _, err := io.WriteString(c, r.raw); err != nil || r.close {
			return
		}
	}
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

func TestHTTPResponseFraming(t *testing.T) {
	const binHeader = `{"model_name":"m","outputs":[{"name":"O","datatype":"INT32","shape":[1],"parameters":{"binary_data_size":4}}]}`
	cl := func(body string) string { return "Content-Length: " + strconv.Itoa(len(body)) + "\r\n" }
	chunked := "Transfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(10, 16) + "\r\n" + jsonReply[:10] + "\r\n" +
		strconv.FormatInt(int64(len(jsonReply)-10), 16) + "\r\n" + jsonReply[10:] + "\r\n0\r\n"
	tests := []struct {
		name  string
		reply rawReply
		// conns is how many connections two requests take.
		conns int32
	}{
		{"content-length", rawReply{"HTTP/1.1 200 OK\r\n" + cl(jsonReply) + "\r\n" + jsonReply, false}, 1},
		{"chunked", rawReply{"HTTP/1.1 200 OK\r\n" + chunked + "\r\n", false}, 1},
		{"chunked with trailer", rawReply{"HTTP/1.1 200 OK\r\nTrailer: X-T\r\n" + chunked + "X-T: 1\r\n\r\n", false}, 1},
		{"100 continue first", rawReply{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n" + cl(jsonReply) + "\r\n" + jsonReply, false}, 1},
		{"connection close", rawReply{"HTTP/1.1 200 OK\r\nConnection: close\r\n" + cl(jsonReply) + "\r\n" + jsonReply, true}, 2},
		{"until close", rawReply{"HTTP/1.1 200 OK\r\n\r\n" + jsonReply, true}, 2},
		{"binary tensors", rawReply{"HTTP/1.1 200 OK\r\nInference-Header-Content-Length: " + strconv.Itoa(len(binHeader)) + "\r\n" +
			cl(binHeader+"1234") + "\r\n" + binHeader + "\x07\x00\x00\x00", false}, 1},
	}
	for _, tt := range tests {
		for _, tr := range httpTransports {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				s := startRawServer(t, func(int) rawReply { return tt.reply })
				c := newClient(t, jsonOpts(s.url(), tr))
				call := newCall(t, c, echoRequest())
				for i := range 2 {
					if _, err := call.Do(testCtx(t)); err != nil {
						t.Fatalf("Do %d: %v", i, err)
					}
					r, err := call.Response()
					if err != nil || r.Model != "m" || len(r.Outputs) != 1 {
						t.Fatalf("Response %d = %+v, %v", i, r, err)
					}
				}
				if got := s.conns.Load(); got != tt.conns {
					t.Errorf("two requests took %d connections, want %d", got, tt.conns)
				}
			})
		}
	}
}

// A server that closed a kept-alive connection costs a resend, not a failure.
func TestHTTPStaleConnection(t *testing.T) {
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			srv, conns := countingServer(t)
			c := newClient(t, jsonOpts(srv.URL, tr))
			call := newCall(t, c, echoRequest())
			for i := range 3 {
				if _, err := call.Do(testCtx(t)); err != nil {
					t.Fatalf("Do %d after the server closed the connection: %v", i, err)
				}
				if live, err := c.ServerLive(testCtx(t)); !live || err != nil {
					t.Fatalf("ServerLive %d = %v, %v", i, live, err)
				}
				srv.CloseClientConnections()
			}
			if got := conns.Load(); got < 3 {
				t.Errorf("%d connections for 3 rounds the server ended: want a new one each round", got)
			}
		})
	}
}

// countingServer answers every request with jsonReply and counts the
// connections it has accepted.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	conns := new(atomic.Int32)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, jsonReply)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, conns
}

// With one connection, a control call takes it from the Call that holds
// it, a second Call takes it from the first, and none waits forever.
func TestHTTPOneConnectionShared(t *testing.T) {
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			s := startRawServer(t, func(int) rawReply {
				return rawReply{"HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(jsonReply)) + "\r\n\r\n" + jsonReply, false}
			})
			opts := jsonOpts(s.url(), tr)
			opts.Connections = 1
			c := newClient(t, opts)
			ctx := testCtx(t)
			a, b := newCall(t, c, echoRequest()), newCall(t, c, echoRequest())
			for i, step := range []func() error{
				func() error { _, err := a.Do(ctx); return err },
				func() error { _, err := c.ServerLive(ctx); return err },
				func() error { _, err := a.Do(ctx); return err },
				func() error { _, err := b.Do(ctx); return err },
				func() error { _, err := a.Do(ctx); return err },
				func() error { return c.Close() }, // closes the held connection
				func() error { _, err := b.Do(ctx); return err },
			} {
				if err := step(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			if got := s.conns.Load(); got != 2 {
				t.Errorf("%d connections, want 1 before Close and 1 after", got)
			}
		})
	}
}

// blockingServer holds every request until the test ends (or the client
// goes away) and reports each arrival.
func blockingServer(t *testing.T) (url string, arrived <-chan struct{}) {
	ch := make(chan struct{}, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})
	return srv.URL, ch
}

// Cancelling the context ends a request under way at once, whatever the
// server does.
func TestHTTPCancelInFlight(t *testing.T) {
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			url, arrived := blockingServer(t)
			c := newClient(t, jsonOpts(url, tr))
			call := newCall(t, c, echoRequest())
			ctx, cancel := context.WithCancel(testCtx(t))
			var g errgroup.Group
			g.Go(func() error {
				<-arrived
				cancel()
				return nil
			})
			_, err := call.Do(ctx)
			_ = g.Wait()
			if !errors.Is(err, context.Canceled) || Class(err) != "cancelled" {
				t.Errorf("Do cancelled in flight: %v (class %q), want context.Canceled", err, Class(err))
			}
		})
	}
}

// A Call waiting for a connection from a full pool stops waiting when its
// context is cancelled.
func TestFastHTTPCancelWhileWaiting(t *testing.T) {
	url, arrived := blockingServer(t)
	opts := jsonOpts(url, transportFast)
	opts.Connections = 1
	c := newClient(t, opts)
	busy, waiter := newCall(t, c, echoRequest()), newCall(t, c, echoRequest())
	bctx, bcancel := context.WithCancel(testCtx(t))
	defer bcancel()
	var g errgroup.Group
	g.Go(func() error {
		_, err := busy.Do(bctx)
		return err
	})
	<-arrived // busy holds the only connection
	ctx, cancel := context.WithCancel(testCtx(t))
	pool := &c.(*HTTPClient).t.(*fastHTTP).pool
	g.Go(func() error {
		for pool.waiting.Load() == 0 && ctx.Err() == nil {
			runtime.Gosched()
		}
		cancel()
		return nil
	})
	_, err := waiter.Do(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Do waiting for a connection, cancelled: %v, want context.Canceled", err)
	}
	bcancel()
	if err := g.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("the busy request: %v, want context.Canceled", err)
	}
}

// A request timeout is a timeout and a deadline, on both transports.
func TestHTTPTimeout(t *testing.T) {
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			url, _ := blockingServer(t)
			opts := jsonOpts(url, tr)
			opts.Timeout = 20 * time.Millisecond
			c := newClient(t, opts)
			_, err := newCall(t, c, echoRequest()).Do(testCtx(t))
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Do past its timeout: %v, want ErrTimeout and context.DeadlineExceeded", err)
			}
		})
	}
}

func TestFastHTTPHeaderValues(t *testing.T) {
	c, err := NewHTTP(testCtx(t), Options{URL: "127.0.0.1:1", InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON,
		Headers: map[string]string{"X-Bad": "a\r\nInjected: yes"}, httpTransport: transportFast})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.NewCall(echoRequest()); err == nil || !strings.Contains(err.Error(), "line break") {
		t.Errorf("header value with CRLF: %v, want an error about the line break", err)
	}
}

// The transport comes from the option, else $PERFGO_HTTP_TRANSPORT, else fasthttp.
func TestHTTPTransportChoice(t *testing.T) {
	tests := []struct {
		env, opt string
		want     string // %T of the transport, or "error"
	}{
		{"", "", "*client.fastHTTP"},
		{"nethttp", "", "*client.netHTTP"},
		{"NetHTTP", "", "*client.netHTTP"},
		{"fasthttp", "", "*client.fastHTTP"},
		{"nethttp", transportFast, "*client.fastHTTP"},
		{"", transportNet, "*client.netHTTP"},
		{"curl", "", "error"},
	}
	for _, tt := range tests {
		t.Setenv(httpTransportEnv, tt.env)
		opts := jsonOpts("127.0.0.1:1", tt.opt)
		c, err := NewHTTP(testCtx(t), opts)
		got := "error"
		if err == nil {
			got = fmt.Sprintf("%T", c.t)
			c.Close()
		} else if !strings.Contains(err.Error(), httpTransportEnv) {
			t.Errorf("env %q: error %v does not name %s", tt.env, err, httpTransportEnv)
		}
		if got != tt.want {
			t.Errorf("env %q, option %q: %s, want %s", tt.env, tt.opt, got, tt.want)
		}
	}
}

// User headers cannot change the framing: the body decides it.
func TestFastHTTPFramingHeaders(t *testing.T) {
	s := startRawServer(t, func(int) rawReply {
		return rawReply{"HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(jsonReply)) + "\r\n\r\n" + jsonReply, false}
	})
	for _, tr := range httpTransports {
		t.Run(tr, func(t *testing.T) {
			opts := jsonOpts(s.url(), tr)
			opts.Headers = map[string]string{"Content-Length": "99999", "Transfer-Encoding": "chunked", "Connection": "close"}
			c := newClient(t, opts)
			call := newCall(t, c, echoRequest())
			for i := range 2 {
				if _, err := call.Do(testCtx(t)); err != nil {
					t.Fatalf("Do %d with framing headers set by the user: %v", i, err)
				}
			}
			if live, err := c.ServerLive(testCtx(t)); !live || err != nil {
				t.Fatalf("GET with framing headers set by the user = %v, %v", live, err)
			}
		})
	}
}

func TestParseHeaderLen(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"0", 0}, {"59", 59}, {"000123", 123}, {"999999999999999999", 999999999999999999},
		{"", -2}, {"-1", -2}, {"+5", -2}, {"1.5", -2}, {" 5", -2}, {"5 ", -2}, {"0x10", -2},
		{"9999999999999999999", -2}, // 19 digits: could overflow
	}
	for _, tt := range tests {
		if got := parseHeaderLen(tt.in); got != tt.want {
			t.Errorf("parseHeaderLen(%q) = %d, want %d", tt.in, got, tt.want)
		}
		if got := parseHeaderLen([]byte(tt.in)); got != tt.want {
			t.Errorf("parseHeaderLen([]byte(%q)) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func FuzzParseHeaderLen(f *testing.F) {
	for _, s := range []string{"0", "59", "-1", "+5", "", "18446744073709551616", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := parseHeaderLen(s)
		n, err := strconv.ParseUint(s, 10, 63)
		digits := s != "" && strings.Trim(s, "0123456789") == ""
		switch {
		case got == -2:
			if digits && err == nil && len(s) <= 18 {
				t.Errorf("parseHeaderLen(%q) = -2, want %d", s, n)
			}
		case got < 0 || !digits || err != nil || uint64(got) != n:
			t.Errorf("parseHeaderLen(%q) = %d; ParseUint says %d, %v", s, got, n, err)
		}
	})
}

// scriptConn is a connection whose peer says the given bytes whatever it
// is told.
type scriptConn struct {
	net.Conn // nil: methods not overridden are never called
	r        *bytes.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzFastHTTPResponse feeds arbitrary bytes to the fasthttp transport's
// response reader: it must fail cleanly or return a body consistent with
// the framing, and never panic or allocate beyond what arrived.
func FuzzFastHTTPResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nInference-Header-Content-Length: 2\r\nContent-Length: 6\r\n\r\n{}\x01\x02\x03\x04",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{}",
		"HTTP/1.0 200 OK\r\n\r\nuntil the end",
		"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"garbage",
	} {
		f.Add([]byte(s))
	}
	tr := newFastHTTP("127.0.0.1:1", 0, DefaultMaxResponseSize, nil)
	ex, err := tr.prepare(http.MethodGet, "http://127.0.0.1:1/v2", http.Header{}, nil, true)
	if err != nil {
		f.Fatal(err)
	}
	x := ex.(*fastExchange)
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &fastConn{nc: &scriptConn{r: bytes.NewReader(b)}}
		c.br = bufio.NewReaderSize(c.nc, fastReadBuffer)
		res, _, _, err := x.roundTrip(c, time.Time{}, time.Now(), nil)
		if err != nil {
			return
		}
		if len(res.body) > len(b) {
			t.Errorf("body of %d bytes from %d bytes of input", len(res.body), len(b))
		}
		if cl := x.resp.Header.ContentLength(); cl >= 0 && res.status >= 200 && res.status != 204 && res.status != 304 && len(res.body) != cl {
			t.Errorf("Content-Length %d, body %d bytes", cl, len(res.body))
		}
		if res.headerLen < -2 {
			t.Errorf("headerLen %d", res.headerLen)
		}
	})
}

// Connect opens the connection the Call's requests go on: the first
// request finds it open, a second Connect does nothing, and a connection
// the server closed before the first request is replaced, not reported.
func TestFastHTTPConnectAhead(t *testing.T) {
	srv, conns := countingServer(t)
	c := newClient(t, jsonOpts(srv.URL, transportFast))
	call := newCall(t, c, echoRequest())
	cn, ok := call.(Connector)
	if !ok {
		t.Fatalf("%T is not a Connector", call)
	}
	ctx := testCtx(t)
	for i := range 2 {
		if err := cn.Connect(ctx); err != nil {
			t.Fatalf("Connect %d: %v", i, err)
		}
	}
	waitFor(t, func() bool { return conns.Load() == 1 }, "the server to see one connection after Connect")
	if _, err := call.Do(ctx); err != nil {
		t.Fatalf("Do on the connection opened ahead: %v", err)
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d connections after Connect, Connect, Do; want 1", got)
	}

	fresh := newCall(t, c, echoRequest())
	if err := fresh.(Connector).Connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return conns.Load() == 2 }, "the second Call's connection")
	srv.CloseClientConnections()
	if _, err := fresh.Do(ctx); err != nil {
		t.Errorf("Do after the server closed the connection opened ahead: %v", err)
	}

	dead := newCall(t, newClient(t, jsonOpts("http://"+closedAddr(t), transportFast)), echoRequest())
	if err := dead.(Connector).Connect(ctx); err == nil {
		t.Error("Connect to a closed port succeeded")
	}
	if _, err := dead.Do(ctx); err == nil {
		t.Error("Do to a closed port succeeded")
	}
}

// waitFor polls cond for up to 10 s: the server counts a connection
// when its accept loop gets to it, after the client's dial returns.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}
