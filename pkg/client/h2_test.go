package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// h2Fake is an HTTP/2 server written frame by frame, for the answers a
// real gRPC server never gives: odd framing, tiny windows, pings and
// GOAWAY in the middle of a call, garbage. Each request is handed to
// answer with the connection's framer, the request's stream id and its
// number on the connection (from 0).
type h2Fake struct {
	t        *testing.T
	settings []http2.Setting
	// window, when set, replenishes every DATA frame the client sends by
	// that many bytes at a time (the server's windows stay tiny).
	window uint32
	answer func(w *h2Writer, stream uint32, n int)
	conns  atomic.Int32
	// bodies are the request messages received, in order.
	mu     sync.Mutex
	bodies [][]byte
}

// h2Writer writes frames and header blocks on one fake connection.
type h2Writer struct {
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
	nc  net.Conn
}

func (w *h2Writer) block(fields ...string) []byte {
	w.buf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = w.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(w.buf.Bytes())
}

func (w *h2Writer) headers(stream uint32, end bool, fields ...string) {
	_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: w.block(fields...), EndHeaders: true, EndStream: end})
}

// ok writes a whole successful answer: headers, msg as one DATA frame,
// trailers.
func (w *h2Writer) ok(stream uint32, msg []byte) {
	w.headers(stream, false, ":status", "200", "content-type", "application/grpc")
	_ = w.fr.WriteData(stream, false, grpcFrame(msg))
	w.headers(stream, true, "grpc-status", "0")
}

func grpcFrame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// echoAnswer is the response echoRequest's check accepts.
func echoAnswer(t *testing.T) []byte {
	t.Helper()
	b := echoAnswerBytes()
	if len(b) == 0 {
		t.Fatal("cannot encode the echo answer")
	}
	return b
}

func (f *h2Fake) start() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, nc)
			mu.Unlock()
			f.conns.Add(1)
			wg.Go(func() { f.serve(nc) })
		}
	})
	f.t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range open {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func (f *h2Fake) serve(nc net.Conn) {
	defer nc.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(nc, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	w := &h2Writer{fr: http2.NewFramer(nc, nc), nc: nc}
	w.enc = hpack.NewEncoder(&w.buf)
	w.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := w.fr.WriteSettings(f.settings...); err != nil {
		return
	}
	bodies := map[uint32][]byte{}
	n := 0
	for {
		fr, err := w.fr.ReadFrame()
		if err != nil {
			return
		}
		switch fr := fr.(type) {
		case *http2.SettingsFrame:
			if !fr.IsAck() {
				_ = w.fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if fr.PseudoValue("path") != methodInfer || fr.PseudoValue("method") != "POST" {
				_ = w.fr.WriteRSTStream(fr.StreamID, http2.ErrCodeProtocol)
			}
		case *http2.DataFrame:
			id := fr.StreamID
			bodies[id] = append(bodies[id], fr.Data()...)
			if f.window > 0 && len(fr.Data()) > 0 {
				_ = w.fr.WriteWindowUpdate(0, uint32(len(fr.Data())))
				_ = w.fr.WriteWindowUpdate(id, uint32(len(fr.Data())))
			}
			if fr.StreamEnded() {
				f.mu.Lock()
				f.bodies = append(f.bodies, bodies[id])
				f.mu.Unlock()
				delete(bodies, id)
				f.answer(w, id, n)
				n++
			}
		}
	}
}

func h2Client(t *testing.T, addr string, timeout time.Duration) Call {
	t.Helper()
	c := newClient(t, Options{Protocol: GRPC, URL: addr, Timeout: timeout, grpcTransport: transportH2})
	return newCall(t, c, echoRequest())
}

// Answers a real server may give, and how the h2 transport takes them.
func TestH2Answers(t *testing.T) {
	msg := echoAnswer(t)
	tests := []struct {
		name     string
		settings []http2.Setting
		window   uint32
		answer   func(w *h2Writer, stream uint32, n int)
		class    string // "" for success
		inMsg    string
		conns    int32 // connections the client made for two calls (0: don't check)
	}{
		{name: "plain", answer: func(w *h2Writer, s uint32, _ int) { w.ok(s, msg) }, conns: 1},
		{name: "split over frames, padded, continuation", settings: []http2.Setting{{ID: http2.SettingMaxFrameSize, Val: 1 << 20}},
			answer: func(w *h2Writer, s uint32, _ int) {
				blk := w.block(":status", "200", "content-type", "application/grpc+proto", "x-filler", strings.Repeat("f", 300))
				a, b := len(blk)/3, 2*len(blk)/3 // the second answer's block is shorter: indexed
				_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: blk[:a], PadLength: 3})
				_ = w.fr.WriteContinuation(s, false, blk[a:b])
				_ = w.fr.WriteContinuation(s, true, blk[b:])
				body := grpcFrame(msg)
				_ = w.fr.WriteDataPadded(s, false, body[:3], []byte{0, 0})
				_ = w.fr.WriteData(s, false, body[3:7])
				_ = w.fr.WriteDataPadded(s, false, body[7:], make([]byte, 9))
				w.headers(s, true, "grpc-status", "0", "grpc-message", "")
			}},
		{name: "tiny windows", settings: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 3}}, window: 3,
			answer: func(w *h2Writer, s uint32, _ int) { w.ok(s, msg) }},
		{name: "ping and settings mid-answer", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, false, ":status", "200", "content-type", "application/grpc")
			_ = w.fr.WritePing(false, [8]byte{1, 2, 3})
			_ = w.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 32768})
			_ = w.fr.WritePriority(s, http2.PriorityParam{Weight: 3})
			_ = w.fr.WriteRawFrame(0x42, 0, s, []byte("unknown frame type"))
			_ = w.fr.WriteData(s, false, grpcFrame(msg))
			w.headers(s, true, "grpc-status", "0")
		}},
		{name: "goaway before the second call", answer: func(w *h2Writer, s uint32, n int) {
			if n == 0 {
				w.ok(s, msg)
				return
			}
			_ = w.fr.WriteGoAway(s-2, http2.ErrCodeNo, nil)
			w.nc.Close()
		}, conns: 2},
		{name: "closed after every answer", answer: func(w *h2Writer, s uint32, _ int) {
			w.ok(s, msg)
			_ = w.fr.WriteGoAway(s, http2.ErrCodeNo, nil)
			w.nc.Close()
		}, conns: 2},
		{name: "refused stream", answer: func(w *h2Writer, s uint32, n int) {
			if n == 0 {
				w.ok(s, msg)
				return
			}
			_ = w.fr.WriteRSTStream(s, http2.ErrCodeRefusedStream)
		}, conns: 2},
		{name: "trailers only", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "5", "grpc-message", "Request for unknown model: 'm' is not found%21")
		}, class: "grpc:NOT_FOUND", inMsg: "'m' is not found!"},
		{name: "http 503", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, true, ":status", "503", "content-type", "text/plain")
		}, class: "unreachable", inMsg: "503"},
		{name: "reset", answer: func(w *h2Writer, s uint32, _ int) {
			_ = w.fr.WriteRSTStream(s, http2.ErrCodeInternal)
		}, class: "grpc:INTERNAL", inMsg: "RST_STREAM"},
		{name: "no trailers", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, false, ":status", "200", "content-type", "application/grpc")
			_ = w.fr.WriteData(s, true, grpcFrame(msg))
		}, class: "grpc:INTERNAL", inMsg: "without sending trailers"},
		{name: "not grpc", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, false, ":status", "200", "content-type", "text/html")
			_ = w.fr.WriteData(s, false, grpcFrame(msg))
			w.headers(s, true, "grpc-status", "0")
		}, class: "grpc:INTERNAL", inMsg: "content-type"},
		{name: "compressed", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, false, ":status", "200", "content-type", "application/grpc")
			b := grpcFrame(msg)
			b[0] = 1
			_ = w.fr.WriteData(s, false, b)
			w.headers(s, true, "grpc-status", "0")
		}, class: "grpc:INTERNAL", inMsg: "compressed"},
		{name: "two messages", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, false, ":status", "200", "content-type", "application/grpc")
			_ = w.fr.WriteData(s, false, append(grpcFrame(msg), grpcFrame(msg)...))
			w.headers(s, true, "grpc-status", "0")
		}, class: "grpc:INTERNAL", inMsg: "got more"},
		{name: "short message", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, false, ":status", "200", "content-type", "application/grpc")
			_ = w.fr.WriteData(s, false, grpcFrame(msg)[:8])
			w.headers(s, true, "grpc-status", "0")
		}, class: "truncated", inMsg: "declares"},
		{name: "wrong answer", answer: func(w *h2Writer, s uint32, _ int) { w.ok(s, []byte{0xff, 0xff}) },
			class: "protocol"},
		{name: "frame too large", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, false, ":status", "200", "content-type", "application/grpc")
			_ = w.fr.WriteRawFrame(http2.FrameData, 0, s, make([]byte, h2MaxFrame+1))
		}, class: "protocol", inMsg: "frame of"},
		{name: "garbage", answer: func(w *h2Writer, _ uint32, _ int) {
			_, _ = w.nc.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		}, class: "protocol"},
		{name: "push", answer: func(w *h2Writer, s uint32, _ int) {
			_ = w.fr.WritePushPromise(http2.PushPromiseParam{StreamID: s, PromiseID: 2, BlockFragment: w.block(":path", "/"), EndHeaders: true})
		}, class: "protocol", inMsg: "PUSH_PROMISE"},
		{name: "cut in a frame", answer: func(w *h2Writer, s uint32, _ int) {
			w.headers(s, false, ":status", "200", "content-type", "application/grpc")
			_, _ = w.nc.Write([]byte{0, 0, 100, 0, 0, 0, 0, 0, byte(s), 1, 2})
			// Half-close: a full close with unread bytes would reset instead.
			_ = w.nc.(*net.TCPConn).CloseWrite()
		}, class: "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &h2Fake{t: t, settings: tt.settings, window: tt.window, answer: tt.answer}
			call := h2Client(t, f.start(), 10*time.Second)
			for i := range 2 {
				_, err := call.Do(testCtx(t))
				if tt.class == "" {
					if err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
					if r, err := call.Response(); err != nil || len(r.Outputs) != 1 || r.Outputs[0].Name != "O" {
						t.Fatalf("call %d: response %+v, %v", i, r, err)
					}
					continue
				}
				if Class(err) != tt.class || !strings.Contains(err.Error(), tt.inMsg) {
					t.Fatalf("call %d: %v (class %q), want class %q naming %q", i, err, Class(err), tt.class, tt.inMsg)
				}
			}
			if tt.conns > 0 && f.conns.Load() != tt.conns {
				t.Errorf("the client made %d connections, want %d", f.conns.Load(), tt.conns)
			}
			// Every request arrived whole: the echo request's message.
			f.mu.Lock()
			defer f.mu.Unlock()
			want, _ := grpcTestRequest(t)
			for i, b := range f.bodies {
				if !bytes.Equal(b, want) {
					t.Errorf("request %d arrived as %d bytes %x, want %x", i, len(b), b, want)
				}
			}
		})
	}
}

// grpcTestRequest is echoRequest as it goes on the wire, with its prefix.
func grpcTestRequest(t *testing.T) ([]byte, *grpcPrepared) {
	c, err := NewGRPC(testCtx(t), Options{URL: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := c.Prepare(echoRequest())
	if err != nil {
		t.Fatal(err)
	}
	gp := p.(*grpcPrepared)
	return grpcFrame(gp.data[0].ReadOnlyData()), gp
}

// A server that stalls is cut off by the request timeout, and a call is
// cancelled by its context, both promptly and without leaving the
// connection in use.
func TestH2StallAndCancel(t *testing.T) {
	msg := echoAnswer(t)
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	f := &h2Fake{t: t, answer: func(w *h2Writer, s uint32, n int) {
		if n%2 == 1 {
			w.ok(s, msg)
			return
		}
		w.headers(s, false, ":status", "200", "content-type", "application/grpc")
	}}
	addr := f.start()

	call := h2Client(t, addr, 100*time.Millisecond)
	_, err := call.Do(testCtx(t))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "request timeout 100ms") {
		t.Fatalf("stalled call: %v, want a timeout naming the request timeout", err)
	}
	// The next call gets a new connection, whose first answer (n 0)
	// stalls again; a context cancelled meanwhile ends it.
	ctx, cancel := context.WithCancel(testCtx(t))
	call = h2Client(t, addr, 0)
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := call.Do(ctx); !errors.Is(err, context.Canceled) || Class(err) != "cancelled" {
		t.Fatalf("cancelled call: %v (class %q), want cancelled", err, Class(err))
	}
	if f.conns.Load() != 2 {
		t.Errorf("%d connections, want 2", f.conns.Load())
	}
}

// Closing the client closes the connections its Calls opened, and a Call
// used afterwards fails instead of dialling again.
func TestH2CloseClosesCalls(t *testing.T) {
	msg := echoAnswer(t)
	f := &h2Fake{t: t, answer: func(w *h2Writer, s uint32, _ int) { w.ok(s, msg) }}
	addr := f.start()
	c, err := NewGRPC(testCtx(t), Options{URL: addr, grpcTransport: transportH2})
	if err != nil {
		t.Fatal(err)
	}
	call, err := c.NewCall(echoRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.Do(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	conn := call.(*h2Call).conn
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.nc.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the Call's connection after Close: read gives %v, want net.ErrClosed", err)
	}
	if _, err := call.Do(testCtx(t)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Do after Close: %v, want an error saying the client is closed", err)
	}
}

// Whatever bytes a server answers with, a call ends (by the request
// timeout at worst) with a response that passed its checks or a
// classified error: never a panic, never a hang.
func FuzzH2Answer(f *testing.F) {
	var valid bytes.Buffer
	w := &h2Writer{fr: http2.NewFramer(&valid, nil)}
	w.enc = hpack.NewEncoder(&w.buf)
	_ = w.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	w.ok(1, echoAnswerBytes())
	f.Add(valid.Bytes())
	f.Add(valid.Bytes()[:len(valid.Bytes())/2])
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, answer []byte) {
		fk := &h2Fake{t: t, answer: func(w *h2Writer, _ uint32, _ int) {
			_, _ = w.nc.Write(answer)
			w.nc.Close()
		}}
		call := h2Client(t, fk.start(), 2*time.Second)
		_, err := call.Do(testCtx(t))
		if err == nil {
			if _, err := call.Response(); err != nil {
				t.Fatalf("a call that succeeded has no response: %v", err)
			}
			return
		}
		if Class(err) == "" || Class(err) == "error" {
			t.Fatalf("unclassified failure: %v", err)
		}
	})
}

func echoAnswerBytes() []byte {
	b, _ := proto.Marshal(&inferencepb.ModelInferResponse{ModelName: "m",
		Outputs:           []*inferencepb.ModelInferResponse_InferOutputTensor{{Name: "O", Datatype: "INT32", Shape: []int64{1}}},
		RawOutputContents: [][]byte{int32Data(7)}})
	return b
}

// The transport of infer Calls: the option, else $PERFGO_GRPC_TRANSPORT,
// else h2; TLS, gzip and an explicit pool size always go to grpc-go.
func TestGRPCTransportChoice(t *testing.T) {
	tests := []struct {
		name string
		env  string
		opts Options
		h2   bool
	}{
		{"default", "", Options{}, true},
		{"env h2", "h2", Options{}, true},
		{"env grpc-go", "grpc-go", Options{}, false},
		{"option wins over env", "grpc-go", Options{grpcTransport: transportH2}, true},
		{"pool size", "", Options{Connections: 2}, false},
		{"gzip", "", Options{GRPCCompression: "gzip"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(grpcTransportEnv, tt.env)
			o := tt.opts
			o.URL = "127.0.0.1:1"
			c, err := NewGRPC(testCtx(t), o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			call, err := c.NewCall(echoRequest())
			if err != nil {
				t.Fatal(err)
			}
			if _, isH2 := call.(*h2Call); isH2 != tt.h2 {
				t.Errorf("h2 Call = %v, want %v", isH2, tt.h2)
			}
		})
	}
	t.Setenv(grpcTransportEnv, "quic")
	if _, err := NewGRPC(testCtx(t), Options{URL: "127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "use grpc-go or h2") {
		t.Errorf("an unknown transport in the environment: %v, want an error naming the choices", err)
	}
}
