package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// headerInferLen is the binary tensor extension's header, in canonical form
// so that a direct map lookup finds it.
const headerInferLen = "Inference-Header-Content-Length"

// httpTransport is the seam between HTTPClient and the library that moves
// the bytes: fasthttp (the default, see fasthttp.go) or net/http.
type httpTransport interface {
	// prepare builds a request. header and body are not modified
	// afterwards, by either side. reuse says the request will be sent many
	// times by one goroutine (a Call), so the transport may dedicate a
	// connection to it; otherwise it is sent about once (a control call).
	prepare(method, url string, header http.Header, body []byte, reuse bool) (httpExchange, error)
	// close closes the idle connections, as net/http's
	// CloseIdleConnections; the transport stays usable.
	close()
}

// httpExchange is one prepared request. It is used by one goroutine at a time.
type httpExchange interface {
	// do sends the request once and reads the whole response body into
	// buf[:0], growing it as needed. A non-zero deadline bounds the
	// request besides ctx; passing it separately spares a context per
	// request. A request past it fails with an error that Is
	// context.DeadlineExceeded.
	do(ctx context.Context, deadline time.Time, buf []byte) (httpResult, error)
	// connect opens the connection a reused exchange will send on, so
	// that its first request does not wait for a dial. Transports that
	// dial on demand do nothing.
	connect(ctx context.Context, deadline time.Time) error
	// fork returns a new exchange of the same request for another
	// goroutine: it shares the encoded request, read-only, and has its own
	// connection and response state.
	fork() httpExchange
	// load makes the exchange send o's request from now on, keeping its
	// own connection and state; o comes from the same transport. It does
	// not allocate.
	load(o httpExchange)
	// own is load with a private copy of o's bytes, which the caller may
	// then patch in place: it returns the body within the copy. fresh
	// asks for a new copy, as a failed request may leave the old one in
	// the transport's hands. It allocates only to grow the copy, or when
	// fresh.
	own(o httpExchange, fresh bool) []byte
}

// HTTP transports, for Options.httpTransport and $PERFGO_HTTP_TRANSPORT.
const (
	transportFast = "fasthttp"
	transportNet  = "nethttp"
	// httpTransportEnv lets benchmarks (bench/run.sh) and anyone diagnosing
	// a server's HTTP behaviour pick the transport without a flag.
	httpTransportEnv = "PERFGO_HTTP_TRANSPORT"
)

// newHTTPTransport makes the named transport for base (scheme://host:port[/prefix]).
// A response body over maxBody bytes fails with a *tooLargeError.
func newHTTPTransport(name, base string, conns int, maxBody int64, tlsCfg *tls.Config) (httpTransport, error) {
	if name == "" {
		name = os.Getenv(httpTransportEnv)
	}
	switch strings.ToLower(name) {
	case "", transportFast:
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("HTTP URL %q: %w", base, err)
		}
		return newFastHTTP(u.Host, conns, maxBody, tlsCfg), nil
	case transportNet:
		return newNetHTTP(conns, maxBody, tlsCfg), nil
	}
	return nil, fmt.Errorf("HTTP transport %q (from $%s): use %s or %s", name, httpTransportEnv, transportFast, transportNet)
}

// httpResult is one response, timed from the start of do.
type httpResult struct {
	status int
	// headerLen is Inference-Header-Content-Length: -1 when absent, -2
	// when not a non-negative integer.
	headerLen int
	body      []byte
	// sent is when the request body was fully handed to the connection
	// (0 if unknown), headers when the response headers were read.
	sent, headers time.Duration
}

// netHTTP is the net/http transport: HTTP/1.1 with keep-alive and a pool
// sized to the load (never Go's default of 2 idle connections per host).
type netHTTP struct {
	rt      *http.Transport
	maxBody int64
}

// newNetHTTP sizes the pool: conns 0 means no cap and a generous idle pool.
func newNetHTTP(conns int, maxBody int64, tlsCfg *tls.Config) *netHTTP {
	idle := conns
	if idle == 0 {
		idle = 64
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true) // HTTP/1.1 only, as v2 servers and perf_analyzer speak
	rt := &http.Transport{
		// No proxy: a load generator measures the server, not a proxy that
		// happens to be in the environment.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: idle,
		MaxIdleConns:        idle,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		// The same bound as fasthttp's read buffer.
		MaxResponseHeaderBytes: fastReadBuffer,
		// Servers answer tensors uncompressed; transparent gzip would only
		// add work and allocations.
		DisableCompression: true,
		TLSClientConfig:    tlsCfg,
		Protocols:          protocols,
	}
	return &netHTTP{rt: rt, maxBody: maxBody}
}

func (t *netHTTP) close() { t.rt.CloseIdleConnections() }

func (t *netHTTP) prepare(method, url string, header http.Header, body []byte, _ bool) (httpExchange, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header = header
	if _, ok := header["Idempotency-Key"]; !ok {
		// A nil value is not sent, but lets net/http resend a POST whose
		// kept-alive connection the server had closed, as it does a GET
		// (fasthttp.go does the same).
		req.Header = header.Clone()
		req.Header["Idempotency-Key"] = nil
	}
	req.ContentLength = int64(len(body))
	if len(body) > 0 {
		// Lets the transport resend on a reused connection that died.
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return newNetHTTPExchange(t.rt, req, body, t.maxBody), nil
}

func newNetHTTPExchange(rt *http.Transport, tmpl *http.Request, body []byte, maxBody int64) *netHTTPExchange {
	x := &netHTTPExchange{rt: rt, tmpl: tmpl, body: body, base: time.Now(), maxBody: maxBody}
	// The request body is a *bytes.Reader, which net/http writes in the
	// same packet as the headers (any other reader type costs a second
	// write syscall per request), so the time the body was sent comes
	// from a trace instead of from the reader.
	x.trace.WroteRequest = func(httptrace.WroteRequestInfo) {
		x.sent.Store(max(1, int64(time.Since(x.base))-x.start.Load()))
	}
	return x
}

// connect does nothing: net/http dials when a request needs a connection.
func (x *netHTTPExchange) connect(context.Context, time.Time) error { return nil }

// fork returns an exchange sharing the request template and body,
// read-only (each send makes a shallow copy), with a trace of its own.
func (x *netHTTPExchange) fork() httpExchange {
	return newNetHTTPExchange(x.rt, x.tmpl, x.body, x.maxBody)
}

// load makes x send o's request; o is a *netHTTPExchange of the same transport.
func (x *netHTTPExchange) load(o httpExchange) {
	y := o.(*netHTTPExchange)
	x.tmpl, x.body, x.owned = y.tmpl, y.body, false
}

func (x *netHTTPExchange) own(o httpExchange, fresh bool) []byte {
	y := o.(*netHTTPExchange)
	if fresh {
		x.ownBuf = nil
	}
	x.ownBuf = append(x.ownBuf[:0], y.body...)
	x.tmpl, x.body, x.owned = y.tmpl, x.ownBuf, true
	if x.getBody == nil {
		// The template's GetBody resends the template's bytes, not ours.
		x.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(x.body)), nil }
	}
	return x.body
}

type netHTTPExchange struct {
	rt      *http.Transport
	tmpl    *http.Request
	body    []byte
	maxBody int64
	// trace is attached to the caller's context once per distinct context
	// (parent), not once per request.
	trace          httptrace.ClientTrace
	parent, traced context.Context
	// owned: body is ownBuf, a private copy (see own); getBody resends it.
	owned   bool
	ownBuf  []byte
	getBody func() (io.ReadCloser, error)
	// base is a fixed origin; start is the latest request's start and sent
	// the time from it to the request being written, in ns from base
	// (atomic: the trace runs on the transport's goroutine).
	base        time.Time
	start, sent atomic.Int64
}

func (x *netHTTPExchange) do(ctx context.Context, deadline time.Time, buf []byte) (httpResult, error) {
	start := time.Now()
	x.start.Store(int64(start.Sub(x.base)))
	x.sent.Store(0)
	if ctx != x.parent {
		x.parent, x.traced = ctx, httptrace.WithClientTrace(ctx, &x.trace)
	}
	rctx := x.traced
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		rctx, cancel = context.WithDeadline(rctx, deadline)
		defer cancel()
	}
	// WithContext is a shallow copy: one small allocation; header and body
	// bytes are shared read-only.
	req := x.tmpl.WithContext(rctx)
	if len(x.body) > 0 {
		// A fresh reader per request: the transport may still hold the
		// previous one (it closes bodies asynchronously), and the bytes
		// underneath never change.
		req.Body = io.NopCloser(bytes.NewReader(x.body))
		if x.owned {
			req.GetBody = x.getBody
		}
	}
	resp, err := x.rt.RoundTrip(req)
	if err != nil {
		return httpResult{}, netHTTPErr(err)
	}
	res := httpResult{status: resp.StatusCode, headerLen: -1, headers: time.Since(start)}
	if v := resp.Header[headerInferLen]; len(v) > 0 {
		res.headerLen = parseHeaderLen(v[0])
	}
	// Closing a body not read to the end makes net/http drop the
	// connection, as a refused oversized body needs.
	res.body, err = readBody(resp.Body, buf[:0], resp.ContentLength, x.maxBody)
	_ = resp.Body.Close()
	res.sent = time.Duration(x.sent.Load())
	return res, err
}

// parseHeaderLen parses Inference-Header-Content-Length: -2 when it is not
// a non-negative integer. It takes string or []byte without converting.
func parseHeaderLen[T string | []byte](v T) int {
	if len(v) == 0 || len(v) > 18 {
		return -2
	}
	n := 0
	for i := range len(v) {
		c := v[i]
		if c < '0' || c > '9' {
			return -2
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// netHTTPErr marks net/http's errors for an answer that is not HTTP, or
// whose headers are too long, for the classifier.
func netHTTPErr(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "malformed HTTP"):
		return fmt.Errorf("%w: %w", errNotHTTP, err)
	case strings.Contains(msg, "response headers exceeded"):
		return fmt.Errorf("%w: %w", errMalformed, err)
	}
	return err
}

// readBody reads r to EOF into buf, at most limit bytes. Reading to EOF
// (not just Content-Length bytes) lets net/http put the connection back
// into the pool. size is the Content-Length, -1 when unknown.
func readBody(r io.Reader, buf []byte, size, limit int64) ([]byte, error) {
	if size > limit {
		return buf, &tooLargeError{size: size, limit: limit}
	}
	if size >= 0 && int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, &tooLargeError{size: -1, limit: limit}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err == io.ErrUnexpectedEOF {
			return buf, fmt.Errorf("%w: %d of %d bytes arrived", errTruncated, len(buf), size)
		}
		if err != nil {
			return buf, err
		}
	}
}
