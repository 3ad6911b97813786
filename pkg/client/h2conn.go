package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"time"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"

	"github.com/perfgo/perfgo/pkg/sysconn"
)

// h2Conn is one HTTP/2 connection that carries one gRPC call at a time,
// written and read by the calling goroutine itself. grpc-go hands every
// call to a writer goroutine and its answer back from a reader goroutine:
// at concurrency 1 against a C++ server those hand-offs and the scheduler
// work around them cost more than the server's own time. With one call at
// a time per connection, flow control, settings and pings are handled in
// line, between the frames of the call.
type h2Conn struct {
	nc net.Conn
	br *bufio.Reader
	// wbuf holds the frames of one write; reused.
	wbuf []byte
	dec  *hpack.Decoder
	// head is what the decoder saw in the current header block.
	head h2Head
	// block gathers a header block split over CONTINUATION frames;
	// scratch holds a frame larger than the read buffer.
	block, scratch []byte

	// The server's settings that bind what we send.
	maxFrame      uint32
	streamSendWin int64 // initial send window of a new stream
	// windowDelta is a change of the initial window not yet applied to
	// the open stream.
	windowDelta int64
	connSendWin int64

	// unacked counts DATA bytes received since the connection's receive
	// window was last topped up.
	unacked int64
	nextID  uint32
	// goAway: the server will take no stream above lastID.
	goAway bool
	lastID uint32
	// spent: a call left the connection in a state it cannot be reused in.
	spent bool
	// deadline is the one last set on nc.
	deadline time.Time
}

// h2Head is what a call needs from response headers and trailers.
type h2Head struct {
	httpStatus  int
	grpcStatus  int // -1: absent
	grpcMessage string
	contentType bool // content-type is application/grpc[+...|;...]
}

const (
	h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

	h2FrameData         = 0x0
	h2FrameHeaders      = 0x1
	h2FramePriority     = 0x2
	h2FrameRSTStream    = 0x3
	h2FrameSettings     = 0x4
	h2FramePushPromise  = 0x5
	h2FramePing         = 0x6
	h2FrameGoAway       = 0x7
	h2FrameWindowUpdate = 0x8
	h2FrameContinuation = 0x9

	h2FlagEndStream  = 0x1
	h2FlagAck        = 0x1
	h2FlagEndHeaders = 0x4
	h2FlagPadded     = 0x8
	h2FlagPriority   = 0x20

	h2SettingHeaderTableSize   = 0x1
	h2SettingEnablePush        = 0x2
	h2SettingInitialWindowSize = 0x4
	h2SettingMaxFrameSize      = 0x5
	h2SettingMaxHeaderListSize = 0x6

	// h2MaxFrame is the largest frame we accept: the protocol's default,
	// which every server honours without being told.
	h2MaxFrame = 16384
	// h2ReadBuffer holds a small answer whole, so that its frames are
	// read in place (Peek); DATA goes straight into the response and a
	// larger frame of another kind into scratch. Small, because there is
	// one connection per worker.
	h2ReadBuffer = 4 << 10
	// h2WriteChunk bounds the write buffer: a larger request goes out in
	// writes of about this size.
	h2WriteChunk = 16 << 10
	// h2MaxHeaderBlock bounds a response's header block, whatever the
	// server sends.
	h2MaxHeaderBlock = 64 << 10
	// h2ConnWindow is the connection's receive window, opened in full at
	// the start and topped up after every h2ConnWindow/2 bytes received,
	// in the same write as the next request: no extra write per call.
	h2ConnWindow    = math.MaxInt32
	h2MaxStreamID   = math.MaxInt32
	h2DefaultWindow = 65535
)

// errH2Protocol marks a server that broke HTTP/2 framing.
var errH2Protocol = errors.New("HTTP/2 protocol error")

// dialH2 connects and sends the preface, our settings and the connection
// window; the server's settings are read with the first response.
func dialH2(ctx context.Context, d *net.Dialer, addr string, streamWindow uint32) (*h2Conn, error) {
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	nc = sysconn.Wrap(nc)
	c := &h2Conn{
		nc:            nc,
		br:            bufio.NewReaderSize(nc, h2ReadBuffer),
		maxFrame:      h2MaxFrame,
		streamSendWin: h2DefaultWindow,
		connSendWin:   h2DefaultWindow,
		nextID:        1,
	}
	c.dec = hpack.NewDecoder(4096, c.emit)
	c.dec.SetMaxStringLength(h2MaxHeaderBlock)
	b := append(c.wbuf[:0], h2Preface...)
	b = appendH2Frame(b, h2FrameSettings, 0, 0, 18)
	b = appendH2Setting(b, h2SettingEnablePush, 0)
	b = appendH2Setting(b, h2SettingInitialWindowSize, streamWindow)
	b = appendH2Setting(b, h2SettingMaxHeaderListSize, h2MaxHeaderBlock)
	b = appendH2WindowUpdate(b, 0, h2ConnWindow-h2DefaultWindow)
	c.wbuf = b
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetWriteDeadline(dl)
	}
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetWriteDeadline(time.Time{})
	return c, nil
}

func (c *h2Conn) close() { _ = c.nc.Close() }

// setDeadline bounds the coming call; the zero time means none.
func (c *h2Conn) setDeadline(dl time.Time) error {
	if dl.Equal(c.deadline) {
		return nil
	}
	if err := c.nc.SetDeadline(dl); err != nil {
		return err
	}
	c.deadline = dl
	return nil
}

// usable says whether the connection can take another call.
func (c *h2Conn) usable() bool { return !c.goAway && !c.spent && c.nextID < h2MaxStreamID-2 }

func appendH2Frame(b []byte, typ, flags byte, stream uint32, length int) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), typ, flags,
		byte(stream>>24)&0x7f, byte(stream>>16), byte(stream>>8), byte(stream))
}

func appendH2Setting(b []byte, id uint16, v uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(b, id), v)
}

func appendH2WindowUpdate(b []byte, stream, inc uint32) []byte {
	return binary.BigEndian.AppendUint32(appendH2Frame(b, h2FrameWindowUpdate, 0, stream, 4), inc&0x7fffffff)
}

// appendHpackLiteral appends a header field as a literal never added to
// the table, with a static-table name when nameIndex > 0: the block is
// then the same on every call and can be built once.
func appendHpackLiteral(b []byte, nameIndex int, name, value string) []byte {
	b = appendHpackInt(b, 4, 0x00, uint64(nameIndex))
	if nameIndex == 0 {
		b = appendHpackString(b, name)
	}
	return appendHpackString(b, value)
}

func appendHpackString(b []byte, s string) []byte {
	return append(appendHpackInt(b, 7, 0x00, uint64(len(s))), s...)
}

// appendHpackInt appends v with an n-bit prefix (RFC 7541, 5.1).
func appendHpackInt(b []byte, n uint, first byte, v uint64) []byte {
	limit := uint64(1)<<n - 1
	if v < limit {
		return append(b, first|byte(v))
	}
	b = append(b, first|byte(limit))
	for v -= limit; v >= 128; v >>= 7 {
		b = append(b, byte(v&0x7f)|0x80)
	}
	return append(b, byte(v))
}

// h2RequestHeaders builds a unary call's header block, the same for
// every call: gRPC's required fields, no grpc-timeout (the client bounds
// the call itself, as grpc-go does here without a context deadline).
func h2RequestHeaders(authority, path string, md map[string][]string) []byte {
	b := []byte{0x83, 0x86}                     // :method POST, :scheme http (static table 3, 6)
	b = appendHpackLiteral(b, 4, "", path)      // :path
	b = appendHpackLiteral(b, 1, "", authority) // :authority
	b = appendHpackLiteral(b, 31, "", "application/grpc")
	b = appendHpackLiteral(b, 0, "te", "trailers")
	b = appendHpackLiteral(b, 58, "", "perfgo") // user-agent
	for k, vs := range md {
		for _, v := range vs {
			b = appendHpackLiteral(b, 0, k, v)
		}
	}
	return b
}

// emit records the fields a call needs; the decoder calls it.
func (c *h2Conn) emit(f hpack.HeaderField) {
	switch f.Name {
	case ":status":
		if n, err := strconv.Atoi(f.Value); err == nil {
			c.head.httpStatus = n
		}
	case "content-type":
		c.head.contentType = isGRPCContentType(f.Value)
	case "grpc-status":
		if n, err := strconv.Atoi(f.Value); err == nil && n >= 0 {
			c.head.grpcStatus = n
		} else {
			c.head.grpcStatus = int(codes.Unknown)
		}
	case "grpc-message":
		c.head.grpcMessage = decodeGRPCMessage(f.Value)
	}
}

func isGRPCContentType(s string) bool {
	const ct = "application/grpc"
	if len(s) < len(ct) || s[:len(ct)] != ct {
		return false
	}
	return len(s) == len(ct) || s[len(ct)] == '+' || s[len(ct)] == ';'
}

// decodeGRPCMessage undoes grpc-message's percent-encoding; malformed
// escapes are kept as they are.
func decodeGRPCMessage(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				if b == nil {
					b = append(make([]byte, 0, len(s)), s[:i]...)
				}
				b = append(b, byte(v))
				i += 2
				continue
			}
		}
		if b != nil {
			b = append(b, s[i])
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// h2Frame is a frame header; its payload is read separately.
type h2Frame struct {
	length uint32
	typ    byte
	flags  byte
	stream uint32
}

func (c *h2Conn) readFrameHeader() (h2Frame, error) {
	b, err := c.br.Peek(9)
	if err != nil {
		if len(b) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return h2Frame{}, err
	}
	f := h2Frame{
		length: uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:    b[3],
		flags:  b[4],
		stream: binary.BigEndian.Uint32(b[5:9]) & 0x7fffffff,
	}
	_, _ = c.br.Discard(9)
	if f.length > h2MaxFrame {
		return f, fmt.Errorf("%w: a frame of %d bytes, above the %d the client allows", errH2Protocol, f.length, h2MaxFrame)
	}
	return f, nil
}

// payload returns the frame's payload, valid until the next read: in
// place when it fits the read buffer, else in scratch.
func (c *h2Conn) payload(f h2Frame) ([]byte, error) {
	n := int(f.length)
	var (
		p   []byte
		err error
	)
	if n <= c.br.Size() {
		p, err = c.br.Peek(n)
		if err == nil {
			_, _ = c.br.Discard(n)
		}
	} else {
		c.scratch = slices.Grow(c.scratch[:0], n)[:n]
		p = c.scratch
		_, err = io.ReadFull(c.br, p)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return p, err
}

// unpad strips a PADDED frame's padding (and a HEADERS frame's priority).
func unpad(f h2Frame, p []byte) ([]byte, error) {
	if f.flags&h2FlagPadded != 0 {
		if len(p) == 0 || int(p[0]) >= len(p) {
			return nil, fmt.Errorf("%w: padding longer than the frame", errH2Protocol)
		}
		p = p[1 : len(p)-int(p[0])]
	}
	if f.typ == h2FrameHeaders && f.flags&h2FlagPriority != 0 {
		if len(p) < 5 {
			return nil, fmt.Errorf("%w: HEADERS priority cut short", errH2Protocol)
		}
		p = p[5:]
	}
	return p, nil
}

// control handles a frame that is not for the call under way: settings,
// pings, window updates, GOAWAY. Answers (settings and ping
// acknowledgements) are written at once.
func (c *h2Conn) control(f h2Frame, p []byte) error {
	switch f.typ {
	case h2FrameSettings:
		if f.flags&h2FlagAck != 0 {
			return nil
		}
		if len(p)%6 != 0 || f.stream != 0 {
			return fmt.Errorf("%w: malformed SETTINGS", errH2Protocol)
		}
		for ; len(p) > 0; p = p[6:] {
			id, v := binary.BigEndian.Uint16(p), binary.BigEndian.Uint32(p[2:])
			switch id {
			case h2SettingInitialWindowSize:
				if v > math.MaxInt32 {
					return fmt.Errorf("%w: initial window %d above 2^31-1", errH2Protocol, v)
				}
				c.windowDelta += int64(v) - c.streamSendWin
				c.streamSendWin = int64(v)
			case h2SettingMaxFrameSize:
				if v < 16384 || v > 1<<24-1 {
					return fmt.Errorf("%w: maximum frame size %d out of range", errH2Protocol, v)
				}
				c.maxFrame = v
			case h2SettingHeaderTableSize:
				// Our requests never use the table; nothing to do.
			}
		}
		return c.writeControl(appendH2Frame(c.wbuf[:0], h2FrameSettings, h2FlagAck, 0, 0))
	case h2FramePing:
		if len(p) != 8 || f.stream != 0 {
			return fmt.Errorf("%w: malformed PING", errH2Protocol)
		}
		if f.flags&h2FlagAck != 0 {
			return nil
		}
		return c.writeControl(append(appendH2Frame(c.wbuf[:0], h2FramePing, h2FlagAck, 0, 8), p...))
	case h2FrameWindowUpdate:
		if len(p) != 4 {
			return fmt.Errorf("%w: malformed WINDOW_UPDATE", errH2Protocol)
		}
		if f.stream == 0 {
			c.connSendWin += int64(binary.BigEndian.Uint32(p) & 0x7fffffff)
		}
		return nil
	case h2FrameGoAway:
		if len(p) < 8 {
			return fmt.Errorf("%w: malformed GOAWAY", errH2Protocol)
		}
		c.goAway = true
		c.lastID = binary.BigEndian.Uint32(p) & 0x7fffffff
		return nil
	case h2FramePushPromise:
		return fmt.Errorf("%w: PUSH_PROMISE although push is off", errH2Protocol)
	case h2FrameData:
		// A late frame of an earlier call: it still counts against the
		// connection's window.
		c.unacked += int64(f.length)
		return nil
	}
	// PRIORITY, RST_STREAM and HEADERS of earlier calls, and unknown frame
	// types, are ignored (RFC 9113, 4.1 and 5.1).
	return nil
}

// writeControl writes a frame the protocol requires an answer with. It
// uses wbuf, which holds nothing between writes.
func (c *h2Conn) writeControl(b []byte) error {
	c.wbuf = b
	_, err := c.nc.Write(b)
	return err
}

// h2StatusFromHTTP maps a non-200 answer without grpc-status as grpc-go
// does (gRPC's "HTTP to gRPC status code mapping").
func h2StatusFromHTTP(status int) codes.Code {
	switch status {
	case 400:
		return codes.Internal
	case 401:
		return codes.Unauthenticated
	case 403:
		return codes.PermissionDenied
	case 404:
		return codes.Unimplemented
	case 429, 502, 503, 504:
		return codes.Unavailable
	}
	return codes.Unknown
}

// h2StatusFromReset maps a RST_STREAM error code as grpc-go does.
func h2StatusFromReset(code uint32) codes.Code {
	switch code {
	case 0x3: // FLOW_CONTROL_ERROR
		return codes.ResourceExhausted
	case 0x7: // REFUSED_STREAM
		return codes.Unavailable
	case 0x8: // CANCEL
		return codes.Canceled
	case 0xb: // ENHANCE_YOUR_CALM
		return codes.ResourceExhausted
	case 0xc: // INADEQUATE_SECURITY
		return codes.PermissionDenied
	}
	return codes.Internal
}
