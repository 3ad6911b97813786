package client

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// headerInferLen is the binary tensor extension's header, in canonical form
// so that a direct map lookup finds it.
const headerInferLen = "Inference-Header-Content-Length"

// httpTransport is the seam between HTTPClient and the library that moves
// the bytes. net/http implements it today; a fasthttp-based one can replace
// it if benchmarks show net/http's per-request cost matters.
type httpTransport interface {
	// prepare builds a request that is sent many times. header and body
	// are not modified afterwards, by either side.
	prepare(method, url string, header http.Header, body []byte) (httpExchange, error)
	// close releases idle connections.
	close()
}

// httpExchange is one prepared request. It is used by one goroutine at a time.
type httpExchange interface {
	// do sends the request once and reads the whole response body into
	// buf[:0], growing it as needed.
	do(ctx context.Context, buf []byte) (httpResult, error)
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
	rt *http.Transport
}

// newNetHTTP sizes the pool: conns 0 means no cap and a generous idle pool.
func newNetHTTP(conns int, tlsCfg *tls.Config) *netHTTP {
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
		// Servers answer tensors uncompressed; transparent gzip would only
		// add work and allocations.
		DisableCompression: true,
		TLSClientConfig:    tlsCfg,
		Protocols:          protocols,
	}
	return &netHTTP{rt: rt}
}

func (t *netHTTP) close() { t.rt.CloseIdleConnections() }

func (t *netHTTP) prepare(method, url string, header http.Header, body []byte) (httpExchange, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header = header
	req.ContentLength = int64(len(body))
	if len(body) > 0 {
		// Lets the transport resend on a reused connection that died.
		req.GetBody = func() (io.ReadCloser, error) { return &bodyReader{b: body}, nil }
	}
	return &netHTTPExchange{rt: t.rt, tmpl: req, body: body}, nil
}

type netHTTPExchange struct {
	rt   *http.Transport
	tmpl *http.Request
	body []byte
}

func (x *netHTTPExchange) do(ctx context.Context, buf []byte) (httpResult, error) {
	start := time.Now()
	// WithContext is a shallow copy: one small allocation; header and body
	// bytes are shared read-only.
	req := x.tmpl.WithContext(ctx)
	var br *bodyReader
	if len(x.body) > 0 {
		// A fresh reader per request: the transport may still hold the
		// previous one (it closes bodies asynchronously), and the bytes
		// underneath never change.
		br = &bodyReader{b: x.body, start: start}
		req.Body = br
	}
	resp, err := x.rt.RoundTrip(req)
	if err != nil {
		return httpResult{}, err
	}
	res := httpResult{status: resp.StatusCode, headerLen: -1, headers: time.Since(start)}
	if v := resp.Header[headerInferLen]; len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			n = -2
		}
		res.headerLen = n
	}
	res.body, err = readBody(resp.Body, buf[:0], resp.ContentLength)
	_ = resp.Body.Close()
	if br != nil {
		res.sent = time.Duration(br.sent.Load())
	}
	return res, err
}

// readBody reads r to EOF into buf. Reading to EOF (not just Content-Length
// bytes) lets net/http put the connection back into the pool.
func readBody(r io.Reader, buf []byte, size int64) ([]byte, error) {
	if size >= 0 && int64(cap(buf)) < size+1 && size < 1<<31 {
		buf = make([]byte, 0, size+512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// bodyReader sends a request body from immutable bytes and notes when the
// transport has taken all of it.
type bodyReader struct {
	b     []byte
	off   int
	start time.Time
	// sent is the time from start to the last byte read, in ns (0 until then).
	// Atomic: the transport reads bodies on its own goroutine.
	sent atomic.Int64
}

func (r *bodyReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off += n
	if r.off == len(r.b) {
		if !r.start.IsZero() && r.sent.Load() == 0 {
			r.sent.Store(max(1, int64(time.Since(r.start))))
		}
		return n, io.EOF
	}
	return n, nil
}

func (r *bodyReader) Close() error { return nil }
