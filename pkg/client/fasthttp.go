package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/perfgo/perfgo/pkg/sysconn"
)

// fastHTTP is the default HTTP transport. net/http hands every request to
// two goroutines per connection (writer and reader) and back, which costs
// about 3x wrk's CPU per request on loopback; here the calling goroutine
// writes the request and reads the response itself. fasthttp serializes
// the request (once, at prepare) and parses the response headers and
// chunked bodies.
//
// fasthttp's own HostClient is not used: it cannot be cancelled by a
// context and takes a shared lock per request. Instead a Call keeps its
// connection between requests ("holds" it) and gives it back only when
// another goroutine is waiting for one, so the per-request path touches
// no shared lock; a context that can be cancelled is watched with one
// context.AfterFunc per distinct context, not per request.
type fastHTTP struct {
	addr   string      // host:port to dial
	tls    *tls.Config // nil: plain TCP
	dialer net.Dialer
	pool   fastPool
	// maxBody bounds a response body.
	maxBody int64
}

// fastReadBuffer bounds the response headers, as fasthttp's client does
// with its 4 KiB default, only more generously.
const fastReadBuffer = 16 << 10

// newFastHTTP dials addr (host:port) with at most conns connections (0: no
// cap), reading bodies of at most maxBody bytes.
func newFastHTTP(addr string, conns int, maxBody int64, tlsCfg *tls.Config) *fastHTTP {
	t := &fastHTTP{
		addr:    addr,
		tls:     tlsCfg,
		dialer:  net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		maxBody: maxBody,
	}
	t.pool.init(conns)
	return t
}

func (t *fastHTTP) close() { t.pool.close() }

// dial connects within ctx and, when set, the request's deadline (which
// is not a context, see fastExchange.do).
func (t *fastHTTP) dial(ctx context.Context, deadline time.Time) (*fastConn, error) {
	d := t.dialer
	d.Deadline = deadline
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	nc = sysconn.Wrap(nc)
	if !deadline.IsZero() {
		_ = nc.SetDeadline(deadline) // bounds the TLS handshake too
	}
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return &fastConn{nc: nc, br: bufio.NewReaderSize(nc, fastReadBuffer), deadline: deadline}, nil
}

// prepare serializes the whole request once: every send is one write of
// the same bytes.
func (t *fastHTTP) prepare(method, rawURL string, header http.Header, body []byte, reuse bool) (httpExchange, error) {
	var req fasthttp.Request
	// The path is already escaped (modelPath); keep it byte for byte.
	req.URI().DisablePathNormalizing = true
	req.SetRequestURI(rawURL)
	req.Header.SetMethod(method)
	req.Header.SetUserAgent("perfgo")
	for k, vs := range header {
		if framingHeader(k) {
			continue // the body decides these, as in net/http
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				return nil, fmt.Errorf("header %s: the value contains a line break; give a single-line value", k)
			}
			req.Header.Add(k, v)
		}
	}
	if len(body) > 0 {
		req.SetBodyRaw(body)
	}
	var wire bytes.Buffer
	if _, err := req.WriteTo(&wire); err != nil {
		return nil, err
	}
	return newFastExchange(t, wire.Bytes(), len(body), reuse), nil
}

func newFastExchange(t *fastHTTP, wire []byte, bodyLen int, reuse bool) *fastExchange {
	x := &fastExchange{t: t, wire: wire, bodyLen: bodyLen, reuse: reuse}
	x.resp.KeepBodyBuffer = true
	return x
}

// connect dials the connection x will hold between requests, unless it
// holds one already or sends once (a control request).
func (x *fastExchange) connect(ctx context.Context, deadline time.Time) error {
	if !x.reuse || (x.held != nil && x.held.owner.Load() == x) {
		return nil
	}
	deadline = earlier(ctx, deadline)
	c, err := x.t.pool.get(ctx, deadline, x.t.dial)
	if err != nil {
		return withContext(ctx, deadline, err)
	}
	c.ahead = true
	x.keep(c)
	return nil
}

// fork returns an exchange of the same wire bytes, shared, with no
// connection or response state of its own yet.
func (x *fastExchange) fork() httpExchange { return newFastExchange(x.t, x.wire, x.bodyLen, x.reuse) }

// load makes x send o's wire bytes; o is a *fastExchange of the same transport.
func (x *fastExchange) load(o httpExchange) {
	y := o.(*fastExchange)
	x.wire, x.bodyLen, x.reuse = y.wire, y.bodyLen, y.reuse
}

// own copies o's wire bytes; the request is written synchronously, so a
// fresh copy is never needed, but it is honoured all the same.
func (x *fastExchange) own(o httpExchange, fresh bool) []byte {
	y := o.(*fastExchange)
	if fresh {
		x.ownBuf = nil
	}
	x.ownBuf = append(x.ownBuf[:0], y.wire...)
	x.wire, x.bodyLen, x.reuse = x.ownBuf, y.bodyLen, y.reuse
	return x.wire[len(x.wire)-x.bodyLen:]
}

func framingHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Content-Length", "Transfer-Encoding", "Connection", "Host":
		return true
	}
	return false
}

// fastExchange is one prepared request and, for a Call, the connection
// it holds between requests.
type fastExchange struct {
	t *fastHTTP
	// wire is the whole request, serialized once; forks of the exchange
	// share it, read-only.
	wire    []byte
	bodyLen int // the body is the end of wire
	reuse   bool
	// ownBuf is the private copy own makes.
	ownBuf []byte
	// held is the connection kept between requests; it is still ours only
	// while its owner is x (another goroutine may have taken it back).
	held *fastConn
	resp fasthttp.Response

	// cancel breaks the connection of the request under way when its
	// context is cancelled.
	cancel connWatch
}

func (x *fastExchange) do(ctx context.Context, deadline time.Time, buf []byte) (httpResult, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return httpResult{}, err
	}
	watch := x.cancel.watch(ctx)
	if watch && !x.reuse {
		// A control request is sent once: do not leave a watch registered
		// on a long-lived context.
		defer x.cancel.unwatch()
	}
	deadline = earlier(ctx, deadline)
	for {
		c := x.held
		x.held = nil
		if c == nil || !c.owner.CompareAndSwap(x, nil) {
			var err error
			if c, err = x.t.pool.get(ctx, deadline, x.t.dial); err != nil {
				return httpResult{}, withContext(ctx, deadline, err)
			}
		}
		if watch {
			x.cancel.begin(ctx, c.nc, &c.aborted)
		}
		res, reusable, stale, err := x.roundTrip(c, deadline, start, buf)
		if watch {
			x.cancel.end()
			if c.aborted.Load() {
				reusable = false // its deadline is in the past
			}
		}
		if !reusable {
			x.t.pool.discard(c)
		} else if x.reuse {
			x.keep(c)
		} else {
			x.t.pool.put(c)
		}
		// A kept-alive connection may have been closed by the server just
		// before we wrote: nothing of a response was read, so send again,
		// as net/http does. Each such connection is dropped and a new one
		// is never stale, so this ends.
		if err != nil && stale && ctx.Err() == nil {
			continue
		}
		if err != nil {
			err = withContext(ctx, deadline, err)
		}
		return res, err
	}
}

// earlier returns ctx's deadline when it comes before deadline (or
// deadline is zero), else deadline.
func earlier(ctx context.Context, deadline time.Time) time.Time {
	if dl, ok := ctx.Deadline(); ok && (deadline.IsZero() || dl.Before(deadline)) {
		return dl
	}
	return deadline
}

// withContext says why a request failed when its context or deadline is
// the reason. The connection's deadline may fire a moment before the
// context's own timer, and a deadline given to do has no context at all.
func withContext(ctx context.Context, deadline time.Time, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	var ne net.Error
	if !deadline.IsZero() && errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return err
}

// keep holds c for the next request unless someone is waiting for a
// connection. The store-then-check order pairs with fastPool.get's
// announce-then-scan: either the waiter sees c held and takes it, or we
// see the waiter and give c back.
func (x *fastExchange) keep(c *fastConn) {
	c.owner.Store(x)
	x.held = c
	p := &x.t.pool
	if p.waiting.Load() > 0 && c.owner.CompareAndSwap(x, nil) {
		x.held = nil
		p.put(c)
	}
}

// roundTrip sends the request on c and reads the response. reusable says
// c can carry another request; stale says the failure looks like a kept-
// alive connection the server had closed.
func (x *fastExchange) roundTrip(c *fastConn, dl, start time.Time, buf []byte) (res httpResult, reusable, stale bool, err error) {
	if !dl.Equal(c.deadline) {
		if err := c.nc.SetDeadline(dl); err != nil {
			return res, false, false, err
		}
		c.deadline = dl
	}
	reused := c.requests > 0 || c.ahead
	if _, err := c.nc.Write(x.wire); err != nil {
		return res, false, reused, fastErr(err)
	}
	res.sent = time.Since(start)
	h := &x.resp.Header
	if err := h.Read(c.br); err != nil {
		return res, false, reused && errors.Is(err, io.EOF) && c.br.Buffered() == 0, headerErr(c.br, err)
	}
	// Informational answers (100 Continue...) precede the real one.
	for n := 0; h.StatusCode() >= 100 && h.StatusCode() < 200 && h.StatusCode() != http.StatusSwitchingProtocols; n++ {
		if n == 10 {
			return res, false, false, fmt.Errorf("server sent more than %d informational (1xx) responses", n)
		}
		if err := h.Read(c.br); err != nil {
			return res, false, false, headerErr(c.br, err)
		}
	}
	res.status = h.StatusCode()
	res.headers = time.Since(start)
	res.headerLen = -1
	if v := h.Peek(headerInferLen); v != nil {
		res.headerLen = parseHeaderLen(v)
	}
	n := h.ContentLength()
	switch {
	case res.status == http.StatusNoContent || res.status == http.StatusNotModified || res.status < 200:
		res.body = buf[:0]
	case int64(n) > x.t.maxBody:
		// Refused unread: the connection cannot carry another request.
		res.body = buf[:0]
		err = &tooLargeError{size: int64(n), limit: x.t.maxBody}
	case n >= 0:
		res.body, err = readN(c.br, buf[:0], n)
	default:
		// Chunked (-1) or until the connection closes (-2): rare enough
		// for fasthttp's buffer and a copy.
		err = x.resp.ReadBody(c.br, int(min(x.t.maxBody, math.MaxInt)))
		if err == nil && n == -1 {
			err = h.ReadTrailer(c.br)
		}
		res.body = append(buf[:0], x.resp.Body()...)
		x.resp.ResetBody() // a body near the limit is not kept between requests
		switch {
		case errors.Is(err, fasthttp.ErrBodyTooLarge):
			err = &tooLargeError{size: -1, limit: x.t.maxBody}
		case errors.Is(err, io.ErrUnexpectedEOF), n == -1 && errors.Is(err, io.EOF):
			err = fmt.Errorf("%w: %w", errTruncated, err)
		}
	}
	if err != nil {
		return res, false, false, fastErr(err)
	}
	c.requests++
	return res, n != -2 && !h.ConnectionClose(), false, nil
}

// readN appends exactly n bytes from r to buf. It grows buf in steps, so
// that a bogus Content-Length cannot allocate more than arrives.
func readN(r io.Reader, buf []byte, n int) ([]byte, error) {
	const step = 1 << 20
	start, total := len(buf), n
	for n > 0 {
		k := min(n, step)
		buf = slices.Grow(buf, k)
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+k])
		buf = buf[:len(buf)+m]
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("%w: %d of %d bytes arrived", errTruncated, len(buf)-start, total)
			}
			return buf, err
		}
		n -= k
	}
	return buf, nil
}

// headerErr says why the response headers could not be read: bytes that
// are not HTTP, headers too long for the read buffer, a response cut
// short, or a transport failure.
func headerErr(br *bufio.Reader, err error) error {
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		return fmt.Errorf("%w: the response headers exceed %d bytes", errMalformed, fastReadBuffer)
	case errors.Is(err, fasthttp.ErrTimeout):
		return fastErr(err)
	case errors.Is(err, io.EOF):
		// fasthttp says EOF for a connection closed at any point of the
		// headers; what arrived before tells why.
		n := br.Buffered()
		if n == 0 {
			return err
		}
		start, _ := br.Peek(min(n, 16))
		if !bytes.HasPrefix(start, []byte("HTTP/")) {
			return fmt.Errorf("%w (starts with %q)", errNotHTTP, start)
		}
		return fmt.Errorf("%w: the connection closed within the headers", errTruncated)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return err
	}
	return fmt.Errorf("%w: %w", errNotHTTP, err)
}

// fastErr turns fasthttp's timeout (not a net.Error) into the standard one.
func fastErr(err error) error {
	if errors.Is(err, fasthttp.ErrTimeout) {
		return fmt.Errorf("read response: %w", os.ErrDeadlineExceeded)
	}
	return err
}

// fastConn is one keep-alive connection.
type fastConn struct {
	nc net.Conn
	br *bufio.Reader
	// Used only by the goroutine using the connection.
	deadline time.Time
	requests int
	// ahead: dialled before its first request, so that request may find
	// it closed by the server meanwhile, as a kept-alive one.
	ahead bool
	// owner is the exchange holding the connection between requests; nil
	// while it is in use or idle in the pool.
	owner atomic.Pointer[fastExchange]
	// aborted is set when a cancellation broke the request under way.
	aborted atomic.Bool
}

// fastPool counts and shares connections. Calls hold theirs, so the pool
// is only visited on a Call's first request, when it gives its connection
// up to a waiter, and by control calls.
type fastPool struct {
	max int // 0: no cap
	// waiting counts goroutines waiting for a connection: holders give
	// theirs back while it is non-zero.
	waiting atomic.Int32
	_       [60]byte // read per request: keep it off mu's cache line

	mu   sync.Mutex
	idle []*fastConn
	open int
	all  map[*fastConn]struct{}
	// wake (1-buffered) tells waiters a connection may be free; a waiter
	// that finds more than it takes passes the word on.
	wake chan struct{}
}

func (p *fastPool) init(max int) {
	p.max = max
	p.all = map[*fastConn]struct{}{}
	p.wake = make(chan struct{}, 1)
}

func (p *fastPool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// get returns an idle connection, dials a new one under the cap, takes
// one another exchange holds while idle, or waits for one.
func (p *fastPool) get(ctx context.Context, deadline time.Time, dial func(context.Context, time.Time) (*fastConn, error)) (*fastConn, error) {
	announced := false
	defer func() {
		if announced {
			p.waiting.Add(-1)
		}
	}()
	for {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			c := p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			more := n > 1
			p.mu.Unlock()
			if announced && more {
				p.signal()
			}
			return c, nil
		}
		if p.max == 0 || p.open < p.max {
			p.open++
			p.mu.Unlock()
			return p.dial(ctx, deadline, dial)
		}
		for c := range p.all {
			if h := c.owner.Load(); h != nil && c.owner.CompareAndSwap(h, nil) {
				p.mu.Unlock()
				return c, nil
			}
		}
		p.mu.Unlock()
		if !announced {
			// Announce, then look again: a holder that missed the
			// announcement has already published its connection.
			announced = true
			p.waiting.Add(1)
			continue
		}
		select {
		case <-p.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (p *fastPool) dial(ctx context.Context, deadline time.Time, dial func(context.Context, time.Time) (*fastConn, error)) (*fastConn, error) {
	c, err := dial(ctx, deadline)
	p.mu.Lock()
	if err != nil {
		p.open--
		p.mu.Unlock()
		p.signal()
		return nil, err
	}
	p.all[c] = struct{}{}
	p.mu.Unlock()
	return c, nil
}

// put makes c idle.
func (p *fastPool) put(c *fastConn) {
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
	p.signal()
}

// discard closes c and frees its place.
func (p *fastPool) discard(c *fastConn) {
	_ = c.nc.Close()
	p.mu.Lock()
	if _, ok := p.all[c]; ok {
		delete(p.all, c)
		p.open--
	}
	p.mu.Unlock()
	p.signal()
}

// close closes the idle connections and those held between requests,
// as net/http's CloseIdleConnections: the pool stays usable, and the
// connections in use stay open.
func (p *fastPool) close() {
	p.mu.Lock()
	var drop []*fastConn
	drop = append(drop, p.idle...)
	p.idle = nil
	for c := range p.all {
		if h := c.owner.Load(); h != nil && c.owner.CompareAndSwap(h, nil) {
			drop = append(drop, c)
		}
	}
	p.mu.Unlock()
	for _, c := range drop {
		p.discard(c)
	}
}
