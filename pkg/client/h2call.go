package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// gRPC transports of unary infer calls, for Options.grpcTransport and
// $PERFGO_GRPC_TRANSPORT.
const (
	transportGRPCGo = "grpc-go"
	// transportH2, the default, is perfgo's own HTTP/2 connection per
	// Call. TLS, compression and an explicit pool size (Connections) stay
	// on grpc-go.
	transportH2      = "h2"
	grpcTransportEnv = "PERFGO_GRPC_TRANSPORT"
)

// grpcTransportOf resolves the transport: the option, else the
// environment, else h2.
func grpcTransportOf(name string) (string, error) {
	if name == "" {
		name = os.Getenv(grpcTransportEnv)
	}
	switch strings.ToLower(name) {
	case transportGRPCGo:
		return transportGRPCGo, nil
	case "", transportH2:
		return transportH2, nil
	}
	return "", fmt.Errorf("gRPC transport %q (from $%s): use %s or %s", name, grpcTransportEnv, transportGRPCGo, transportH2)
}

// h2Transport is what the unary Calls of one gRPC client share: where to
// dial and the request's header block. Each Call owns its connection.
type h2Transport struct {
	addr    string
	dialer  net.Dialer
	headers []byte
	// window is our receive window per stream: room for the largest
	// response allowed, so a stream never waits for a window update.
	window  uint32
	maxResp int64
	timeout time.Duration

	// conns are the Calls' connections, for close; touched when a Call
	// dials or drops one, never per request.
	mu     sync.Mutex
	conns  map[*h2Conn]struct{}
	closed bool
}

func newH2Transport(addr string, md map[string][]string, maxResponse int64, timeout time.Duration) *h2Transport {
	return &h2Transport{
		addr:    addr,
		dialer:  net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		headers: h2RequestHeaders(addr, methodInfer, md),
		window:  uint32(min(maxResponse+5+h2MaxFrame, math.MaxInt32)),
		maxResp: maxResponse,
		timeout: timeout,
		conns:   map[*h2Conn]struct{}{},
	}
}

// h2Call is a unary ModelInfer Call on its own HTTP/2 connection, dialled
// by its first Do and again after a failure.
type h2Call struct {
	t    *h2Transport
	p    *grpcPrepared
	conn *h2Conn
	seq  pbSeq
	req  mem.BufferSlice
	// raw is the response message with its 5-byte gRPC prefix; resp.buf
	// is the message itself, for the checks and Response.
	raw  []byte
	resp rawMsg

	// cancel breaks the connection of the call under way when its
	// context is cancelled.
	cancel connWatch
}

var (
	_ switchCall = (*h2Call)(nil)
	_ Sequencer  = (*h2Call)(nil)
	_ Connector  = (*h2Call)(nil)
)

func newH2Call(p *grpcPrepared) *h2Call {
	return &h2Call{t: p.c.h2, p: p, req: p.data, resp: rawMsg{check: p.spec.newCheck()}}
}

func (c *h2Call) canLoad(p Prepared) bool {
	gp, ok := p.(*grpcPrepared)
	return ok && gp.c == c.p.c
}

func (c *h2Call) load(p Prepared) {
	gp := p.(*grpcPrepared)
	if gp == c.p {
		return
	}
	c.p = gp
	c.req = c.seq.data(gp.data, gp.own)
	c.resp.check.use(gp.spec)
}

func (c *h2Call) SetSequence(s Sequence) {
	c.seq.s = s
	c.req = c.seq.data(c.p.data, c.p.own)
}

func (c *h2Call) Response() (*InferResponse, error) {
	if len(c.resp.buf) == 0 {
		return nil, fmt.Errorf("%s: no response: call Do first (or the last Do failed)", c.p.op)
	}
	return c.p.decode(c.resp.buf)
}

// Do sends the request and reads its answer on the Call's connection.
func (c *h2Call) Do(ctx context.Context) (Timing, error) {
	start := time.Now()
	op := c.p.op
	if err := ctx.Err(); err != nil {
		return Timing{}, contextError(op, err, nil)
	}
	watch := c.cancel.watch(ctx)
	var dl time.Time
	if c.t.timeout > 0 {
		dl = start.Add(c.t.timeout)
	}
	if d, ok := ctx.Deadline(); ok && (dl.IsZero() || d.Before(dl)) {
		dl = d
	}
	c.resp.buf, c.resp.err = c.resp.buf[:0], nil
	for attempt := 0; ; attempt++ {
		conn := c.conn
		fresh := conn == nil
		if fresh {
			var err error
			if conn, err = c.dial(ctx, dl); err != nil {
				return Timing{Total: time.Since(start)}, c.classify(ctx, dl, err)
			}
			c.conn = conn
		}
		if watch {
			c.cancel.begin(ctx, conn.nc, nil) // a failed call drops its connection anyway
		}
		t, unsent, err := c.roundTrip(conn, dl)
		if watch {
			c.cancel.end()
		}
		t.Total = time.Since(start)
		if err != nil || !conn.usable() {
			c.t.drop(conn)
			c.conn = nil
		}
		if err == nil {
			return t, nil
		}
		// A kept connection the server closed or refused before our call
		// reached it: the call was not processed, send it again once on a
		// new connection, as grpc-go's transparent retry does.
		if unsent && !fresh && attempt == 0 && ctx.Err() == nil && (dl.IsZero() || time.Now().Before(dl)) {
			continue
		}
		c.resp.buf = c.resp.buf[:0]
		return t, c.classify(ctx, dl, err)
	}
}

// Connect dials the Call's connection now if it has none, within the
// request timeout.
func (c *h2Call) Connect(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	var dl time.Time
	if c.t.timeout > 0 {
		dl = time.Now().Add(c.t.timeout)
	}
	conn, err := c.dial(ctx, dl)
	if err != nil {
		return c.classify(ctx, dl, err)
	}
	c.conn = conn
	return nil
}

func (c *h2Call) dial(ctx context.Context, dl time.Time) (*h2Conn, error) {
	d := c.t.dialer
	if !dl.IsZero() {
		d.Deadline = dl
	}
	conn, err := dialH2(ctx, &d, c.t.addr, c.t.window)
	if err != nil {
		return nil, err
	}
	if !c.t.track(conn) {
		conn.close()
		return nil, errors.New("client is closed")
	}
	return conn, nil
}

// h2StatusError is a call the server (or its HTTP/2 layer) failed with a
// gRPC status.
type h2StatusError struct{ st *status.Status }

func (e *h2StatusError) Error() string { return e.st.Err().Error() }

// classify turns a failed call into the *Error grpc-go's path gives for
// the same failure, so reports do not depend on the transport.
func (c *h2Call) classify(ctx context.Context, dl time.Time, err error) *Error {
	op := c.p.op
	if c.resp.err != nil {
		return checkError(op, c.resp.err, err)
	}
	var se *h2StatusError
	if errors.As(err, &se) {
		return grpcError(ctx, op, se.st.Err())
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(op, ctxErr, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !dl.IsZero() {
		if c.t.timeout > 0 {
			err = fmt.Errorf("no response within the request timeout %v: %w: %w", c.t.timeout, context.DeadlineExceeded, err)
		} else {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return &Error{Op: op, Kind: ErrTimeout, Class: "timeout", Err: err}
	}
	if errors.Is(err, errH2Protocol) {
		return protocolError(op, err.Error(), err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Op: op, Kind: ErrServer, Class: "truncated", Message: "the connection closed in the middle of a frame", Err: err}
	}
	if le := localError(op, err, ""); le != nil {
		return le
	}
	return contextOr(op, err, ErrUnreachable, "unreachable")
}

// roundTrip sends the call on conn and reads its answer. unsent says the
// server cannot have processed it (the connection was closed or the
// stream refused before any answer).
func (c *h2Call) roundTrip(conn *h2Conn, dl time.Time) (t Timing, unsent bool, err error) {
	if err := conn.setDeadline(dl); err != nil {
		return t, false, err
	}
	c.raw = c.raw[:0]
	id := conn.nextID
	conn.nextID += 2
	encode := time.Now()
	st := h2Stream{id: id, sendWin: conn.streamSendWin, head: h2Head{grpcStatus: -1}}
	msgLen := c.req.Len() + 5
	b := conn.wbuf[:0]
	if conn.unacked >= h2ConnWindow/2 {
		b = appendH2WindowUpdate(b, 0, uint32(conn.unacked))
		conn.unacked = 0
	}
	b = c.appendHeaders(b, conn, id)
	var prefix [5]byte
	binary.BigEndian.PutUint32(prefix[1:], uint32(msgLen-5))
	sent := 0
	for sent < msgLen && !st.ended {
		room := min(int64(msgLen-sent), st.sendWin, conn.connSendWin, int64(conn.maxFrame))
		if room > 0 {
			n := int(room)
			flags := byte(0)
			if sent+n == msgLen {
				flags = h2FlagEndStream
			}
			b = appendH2Frame(b, h2FrameData, flags, id, n)
			b = appendMessage(b, prefix[:], c.req, sent, n)
			sent += n
			st.sendWin -= room
			conn.connSendWin -= room
			if sent == msgLen || len(b) < h2WriteChunk {
				continue
			}
		}
		// A large request goes out in chunks, so that the write buffer
		// stays small whatever the request; out of window, read until the
		// server opens it (or answers early).
		if t.Send == 0 {
			t.Send = time.Since(encode)
		}
		conn.wbuf = b
		if _, err := conn.nc.Write(b); err != nil {
			return t, isUnsent(err, st), err
		}
		b = conn.wbuf[:0]
		if room <= 0 {
			if err := c.read(conn, &st, true); err != nil {
				return t, isUnsent(err, st), err
			}
		}
	}
	conn.wbuf = b
	if t.Send == 0 {
		// As grpc-go's path (and Triton's client) count it: encoding, not
		// the write.
		t.Send = time.Since(encode)
	}
	if !st.ended && len(b) > 0 {
		if _, err := conn.nc.Write(b); err != nil {
			return t, isUnsent(err, st), err
		}
	}
	if sent < msgLen {
		conn.spent = true // the stream is half-open on our side: do not reuse
	}
	if !st.ended {
		if err := c.read(conn, &st, false); err != nil {
			return t, isUnsent(err, st), err
		}
	}
	recv := time.Now()
	err = c.finish(conn, &st)
	t.Recv = time.Since(recv)
	return t, st.refused, err
}

// h2Stream is the state of the call under way.
type h2Stream struct {
	id      uint32
	sendWin int64
	head    h2Head
	// answered: a frame of this stream arrived.
	answered bool
	headers  bool // response headers seen
	ended    bool
	reset    uint32 // RST_STREAM error code, when reset
	wasReset bool
	refused  bool // REFUSED_STREAM, or GOAWAY below our id
}

// isUnsent says whether a failed call was certainly not processed.
func isUnsent(err error, st h2Stream) bool {
	if st.answered {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// appendHeaders appends the HEADERS frame, split into CONTINUATION
// frames if the block is larger than the server's frame size.
func (c *h2Call) appendHeaders(b []byte, conn *h2Conn, id uint32) []byte {
	block, typ := c.t.headers, byte(h2FrameHeaders)
	for {
		n := min(len(block), int(conn.maxFrame))
		flags := byte(0)
		if n == len(block) {
			flags = h2FlagEndHeaders
		}
		b = append(appendH2Frame(b, typ, flags, id, n), block[:n]...)
		block, typ = block[n:], h2FrameContinuation
		if len(block) == 0 {
			return b
		}
	}
}

// appendMessage appends bytes [from, from+n) of the gRPC message: the
// 5-byte prefix followed by the request's parts.
func appendMessage(b, prefix []byte, parts mem.BufferSlice, from, n int) []byte {
	if from < len(prefix) {
		k := min(len(prefix)-from, n)
		b = append(b, prefix[from:from+k]...)
		from, n = from+k, n-k
	}
	from -= len(prefix)
	for _, part := range parts {
		d := part.ReadOnlyData()
		if n == 0 {
			break
		}
		if from >= len(d) {
			from -= len(d)
			continue
		}
		k := min(len(d)-from, n)
		b = append(b, d[from:from+k]...)
		from, n = 0, n-k
	}
	return b
}

// read handles frames until the stream ends or, with forWindow, until
// the windows let more of the request go.
func (c *h2Call) read(conn *h2Conn, st *h2Stream, forWindow bool) error {
	for {
		f, err := conn.readFrameHeader()
		if err != nil {
			return err
		}
		if f.stream == st.id && f.typ == h2FrameData && f.flags&h2FlagPadded == 0 {
			// The common case, read straight into the response.
			if err := c.data(conn, st, f); err != nil {
				return err
			}
			if st.ended {
				return nil
			}
			continue
		}
		p, err := conn.payload(f)
		if err != nil {
			return err
		}
		switch {
		case f.typ == h2FrameHeaders:
			if err := c.headers(conn, st, f, p); err != nil {
				return err
			}
		case f.typ == h2FrameContinuation:
			return fmt.Errorf("%w: CONTINUATION without HEADERS", errH2Protocol)
		case f.stream == st.id && f.typ == h2FrameData:
			d, err := unpad(f, p)
			if err != nil {
				return err
			}
			if err := c.gotData(conn, st, f, len(d)); err != nil {
				return err
			}
			c.raw = append(c.raw, d...)
			st.ended = f.flags&h2FlagEndStream != 0
		case f.stream == st.id && f.typ == h2FrameRSTStream:
			if len(p) != 4 {
				return fmt.Errorf("%w: malformed RST_STREAM", errH2Protocol)
			}
			st.answered, st.ended, st.wasReset = true, true, true
			st.reset = binary.BigEndian.Uint32(p)
			st.refused = st.reset == 0x7 // REFUSED_STREAM: not processed
		case f.stream == st.id && f.typ == h2FrameWindowUpdate:
			if len(p) != 4 {
				return fmt.Errorf("%w: malformed WINDOW_UPDATE", errH2Protocol)
			}
			st.sendWin += int64(binary.BigEndian.Uint32(p) & 0x7fffffff)
		default:
			if err := conn.control(f, p); err != nil {
				return err
			}
			// A new initial window applies to the open stream too (RFC 9113, 6.9.2).
			st.sendWin += conn.windowDelta
			conn.windowDelta = 0
			if conn.goAway && conn.lastID < st.id && !st.answered {
				st.ended, st.refused = true, true
			}
		}
		if st.ended {
			return nil
		}
		if forWindow && st.sendWin > 0 && conn.connSendWin > 0 {
			return nil
		}
	}
}

// gotData accounts for a DATA frame of the call, n bytes of which are
// message, before they are appended to raw.
func (c *h2Call) gotData(conn *h2Conn, st *h2Stream, f h2Frame, n int) error {
	st.answered = true
	conn.unacked += int64(f.length)
	if !st.headers {
		return fmt.Errorf("%w: DATA before the response headers", errH2Protocol)
	}
	// At most one frame beyond the limit is held before failing.
	if int64(len(c.raw)+n) > c.t.maxResp+5 {
		size := int64(-1)
		if len(c.raw) >= 5 {
			size = int64(binary.BigEndian.Uint32(c.raw[1:5]))
		}
		return &tooLargeError{size: size, limit: c.t.maxResp}
	}
	return nil
}

// data reads an unpadded DATA frame of the call into raw.
func (c *h2Call) data(conn *h2Conn, st *h2Stream, f h2Frame) error {
	if err := c.gotData(conn, st, f, int(f.length)); err != nil {
		return err
	}
	n := len(c.raw)
	c.raw = slices.Grow(c.raw, int(f.length))[:n+int(f.length)]
	if _, err := io.ReadFull(conn.br, c.raw[n:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	st.ended = f.flags&h2FlagEndStream != 0
	return nil
}

// headers reads a header block (with its CONTINUATION frames) and
// decodes it: every block, whichever stream, keeps the decoder's table
// in step with the server's encoder.
func (c *h2Call) headers(conn *h2Conn, st *h2Stream, f h2Frame, p []byte) error {
	block, err := unpad(f, p)
	if err != nil {
		return err
	}
	if f.flags&h2FlagEndHeaders == 0 {
		conn.block = append(conn.block[:0], block...)
		for f.flags&h2FlagEndHeaders == 0 {
			nf, err := conn.readFrameHeader()
			if err != nil {
				return err
			}
			if nf.typ != h2FrameContinuation || nf.stream != f.stream {
				return fmt.Errorf("%w: HEADERS not followed by its CONTINUATION", errH2Protocol)
			}
			q, err := conn.payload(nf)
			if err != nil {
				return err
			}
			if len(conn.block)+len(q) > h2MaxHeaderBlock {
				return fmt.Errorf("%w: response headers above %d bytes", errH2Protocol, h2MaxHeaderBlock)
			}
			conn.block = append(conn.block, q...)
			f.flags |= nf.flags & h2FlagEndHeaders
		}
		block = conn.block
	}
	ours := f.stream == st.id
	conn.dec.SetEmitEnabled(ours)
	if ours {
		conn.head = st.head
	}
	if _, err := conn.dec.Write(block); err != nil {
		return fmt.Errorf("%w: cannot decode the response headers: %w", errH2Protocol, err)
	}
	if err := conn.dec.Close(); err != nil {
		return fmt.Errorf("%w: cannot decode the response headers: %w", errH2Protocol, err)
	}
	if !ours {
		return nil
	}
	st.head = conn.head
	st.answered = true
	if !st.headers {
		st.headers = true
	} else {
		// A second header block is the trailers: it must end the stream.
		if f.flags&h2FlagEndStream == 0 {
			return fmt.Errorf("%w: trailers without END_STREAM", errH2Protocol)
		}
	}
	st.ended = f.flags&h2FlagEndStream != 0
	return nil
}

// finish judges a stream that ended: its status, then its message.
func (c *h2Call) finish(conn *h2Conn, st *h2Stream) error {
	if st.refused {
		return &h2StatusError{status.New(codes.Unavailable, "the server refused the stream before processing it")}
	}
	if st.wasReset {
		return &h2StatusError{status.Newf(h2StatusFromReset(st.reset), "stream terminated by RST_STREAM with error code %d", st.reset)}
	}
	h := st.head
	if h.httpStatus != 200 {
		if h.grpcStatus > 0 {
			return &h2StatusError{status.New(codes.Code(h.grpcStatus), h.grpcMessage)}
		}
		return &h2StatusError{status.Newf(h2StatusFromHTTP(h.httpStatus), "unexpected HTTP status code received from server: %d", h.httpStatus)}
	}
	if !h.contentType {
		return &h2StatusError{status.New(codes.Internal, "the server answered without the content-type application/grpc")}
	}
	if h.grpcStatus < 0 {
		return &h2StatusError{status.New(codes.Internal, "server closed the stream without sending trailers")}
	}
	if h.grpcStatus != 0 {
		return &h2StatusError{status.New(codes.Code(h.grpcStatus), h.grpcMessage)}
	}
	raw := c.raw
	c.raw = c.raw[:0]
	switch {
	case len(raw) == 0:
		return &h2StatusError{status.New(codes.Internal, "cardinality violation: received no response message from non-server-streaming RPC")}
	case len(raw) < 5:
		return fmt.Errorf("%w: a gRPC message prefix cut short", errH2Protocol)
	case raw[0] != 0:
		return &h2StatusError{status.New(codes.Internal, "the server compressed the response although no compression was asked")}
	}
	if n := binary.BigEndian.Uint32(raw[1:5]); int64(n) != int64(len(raw)-5) {
		if int64(n) < int64(len(raw)-5) {
			return &h2StatusError{status.New(codes.Internal, "cardinality violation: expected one response message, got more")}
		}
		return fmt.Errorf("%w: the response message declares %d bytes and carries %d", errTruncated, n, len(raw)-5)
	}
	c.resp.buf = raw[5:]
	c.raw = raw[:0]
	return c.resp.scan()
}

// track registers a Call's new connection, so that closing the client
// closes it; false once the client is closed.
func (t *h2Transport) track(conn *h2Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[conn] = struct{}{}
	return true
}

// drop closes a connection and forgets it.
func (t *h2Transport) drop(conn *h2Conn) {
	conn.close()
	t.mu.Lock()
	delete(t.conns, conn)
	t.mu.Unlock()
}

// close closes every connection the Calls hold: Calls have no Close of
// their own. A Call used afterwards fails to dial.
func (t *h2Transport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for conn := range t.conns {
		conn.close()
	}
	clear(t.conns)
}
