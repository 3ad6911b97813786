package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

const (
	grpcService  = "/inference.GRPCInferenceService/"
	methodInfer  = grpcService + "ModelInfer"
	methodStream = grpcService + "ModelStreamInfer"
	// grpcWorkersPerConn matches Triton's client default
	// (TRITON_CLIENT_GRPC_CHANNEL_MAX_SHARE_COUNT).
	grpcWorkersPerConn = 6
	// grpcReadBufferSize is each connection's read buffer. grpc-go lends
	// it from a pool only while a read is half consumed, and reads of a
	// frame at least this large bypass it, so a small buffer costs large
	// tensors nothing; at concurrency 1,000 (167 connections) its default
	// of 32 KiB held 3.3 MB of heap.
	grpcReadBufferSize = 8 << 10
)

// GRPCClient is a Client over a pool of gRPC connections.
type GRPCClient struct {
	conns []*grpc.ClientConn
	stub  inferencepb.GRPCInferenceServiceClient
	next  atomic.Uint64
	// md is sent as metadata on every call; nil when there are no headers.
	md      metadata.MD
	timeout time.Duration
	// control bounds each control call.
	control  time.Duration
	callOpts []grpc.CallOption
	// h2, when set, carries unary infer Calls on perfgo's own HTTP/2
	// connections (see h2Conn); control calls and streams stay on grpc-go.
	h2 *h2Transport
}

var _ Client = (*GRPCClient)(nil)

// NewGRPC creates the connection pool. Connections are made lazily, on the
// first call; an unreachable server shows up there as ErrUnreachable.
func NewGRPC(_ context.Context, opts Options) (*GRPCClient, error) {
	if err := checkCommon(&opts); err != nil {
		return nil, err
	}
	target := opts.URL
	if target == "" {
		target = "localhost:8001"
	}
	if strings.Contains(target, "://") {
		return nil, fmt.Errorf("gRPC URL %q: give host:port without a scheme (TLS is TLSOptions.GRPCUseSSL)", opts.URL)
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("gRPC URL %q: %w; give host:port", opts.URL, err)
	}
	tlsCfg, err := grpcTLSConfig(opts.TLS, host)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	// Tensors can be large (Triton's clients lift the limits), but memory
	// stays bounded by MaxResponseSize whatever the server sends.
	defaults := []grpc.CallOption{grpc.MaxCallRecvMsgSize(int(min(opts.MaxResponseSize, math.MaxInt))), grpc.MaxCallSendMsgSize(math.MaxInt32)}
	switch strings.ToLower(opts.GRPCCompression) {
	case "", "none":
	case gzip.Name:
		defaults = append(defaults, grpc.UseCompressor(gzip.Name))
	default:
		return nil, fmt.Errorf("gRPC compression %q: use none or gzip", opts.GRPCCompression)
	}
	transport, err := grpcTransportOf(opts.grpcTransport)
	if err != nil {
		return nil, err
	}
	n := opts.Connections
	if n == 0 {
		n = max(1, (opts.Workers+grpcWorkersPerConn-1)/grpcWorkersPerConn)
	}
	c := &GRPCClient{
		timeout:  opts.Timeout,
		control:  opts.ControlTimeout,
		callOpts: []grpc.CallOption{grpc.ForceCodecV2(rawCodec{})},
	}
	if len(opts.Headers) > 0 {
		c.md = metadata.MD{}
		for k, v := range opts.Headers {
			c.md.Append(strings.ToLower(k), v)
		}
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(defaults...),
		grpc.WithUserAgent("perfgo"),
		// The write buffer keeps grpc-go's default: already lent from a
		// shared pool per flush, and a smaller one would split large
		// tensors into more writes.
		grpc.WithReadBufferSize(grpcReadBufferSize),
	}
	if opts.grpcDialer != nil {
		dialOpts = append(dialOpts, grpc.WithContextDialer(opts.grpcDialer))
	}
	for range n {
		// passthrough: dial the address as given, as Triton's client does.
		conn, err := grpc.NewClient("passthrough:///"+target, dialOpts...)
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("gRPC client for %s: %w", target, err)
		}
		c.conns = append(c.conns, conn)
	}
	c.stub = inferencepb.NewGRPCInferenceServiceClient(c.conns[0])
	// TLS, compression and a pool shared by the Calls are grpc-go's alone.
	if transport == transportH2 && tlsCfg == nil && !strings.EqualFold(opts.GRPCCompression, gzip.Name) && opts.Connections == 0 {
		c.h2 = newH2Transport(target, c.md, opts.MaxResponseSize, opts.Timeout)
	}
	return c, nil
}

// Close closes every connection.
func (c *GRPCClient) Close() error {
	if c.h2 != nil {
		c.h2.close()
	}
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	c.conns = nil
	return errors.Join(errs...)
}

// Connections returns the pool size.
func (c *GRPCClient) Connections() int { return len(c.conns) }

// controlCtx bounds a control call by the control timeout (unless ctx
// ends earlier) and adds the metadata.
func (c *GRPCClient) controlCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, c.control)
	if c.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, c.md)
	}
	return ctx, cancel
}

func (c *GRPCClient) ServerLive(ctx context.Context) (bool, error) {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	r, err := c.stub.ServerLive(ctx, &inferencepb.ServerLiveRequest{})
	if err != nil {
		return false, grpcError(ctx, "ServerLive", err)
	}
	return r.GetLive(), nil
}

func (c *GRPCClient) ServerReady(ctx context.Context) (bool, error) {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	r, err := c.stub.ServerReady(ctx, &inferencepb.ServerReadyRequest{})
	if err != nil {
		return false, grpcError(ctx, "ServerReady", err)
	}
	return r.GetReady(), nil
}

func (c *GRPCClient) ServerMetadata(ctx context.Context) (*inferencepb.ServerMetadataResponse, error) {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	r, err := c.stub.ServerMetadata(ctx, &inferencepb.ServerMetadataRequest{})
	if err != nil {
		return nil, grpcError(ctx, "ServerMetadata", err)
	}
	return r, nil
}

// ModelReady reports whether the model can serve. An unknown model is
// (false, an error that Is ErrModelNotFound).
func (c *GRPCClient) ModelReady(ctx context.Context, model, version string) (bool, error) {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	r, err := c.stub.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: model, Version: version})
	if err != nil {
		e := grpcError(ctx, "ModelReady "+quoteModel(model, version), err)
		if errors.Is(e, ErrModelNotReady) {
			return false, nil
		}
		return false, e
	}
	return r.GetReady(), nil
}

func (c *GRPCClient) ModelMetadata(ctx context.Context, model, version string) (*inferencepb.ModelMetadataResponse, error) {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	r, err := c.stub.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: model, Version: version})
	if err != nil {
		return nil, grpcError(ctx, "ModelMetadata "+quoteModel(model, version), err)
	}
	return r, nil
}

func (c *GRPCClient) ModelConfig(ctx context.Context, model, version string) (*inferencepb.ModelConfig, error) {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	op := "ModelConfig " + quoteModel(model, version)
	r, err := c.stub.ModelConfig(ctx, &inferencepb.ModelConfigRequest{Name: model, Version: version})
	if err != nil {
		return nil, grpcError(ctx, op, err)
	}
	if r.GetConfig() == nil {
		return nil, protocolError(op, "response carries no config", nil)
	}
	return r.GetConfig(), nil
}

func (c *GRPCClient) ModelStatistics(ctx context.Context, model, version string) (*inferencepb.ModelStatisticsResponse, error) {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	r, err := c.stub.ModelStatistics(ctx, &inferencepb.ModelStatisticsRequest{Name: model, Version: version})
	if err != nil {
		return nil, grpcError(ctx, "ModelStatistics "+quoteModel(model, version), err)
	}
	return r, nil
}

func (c *GRPCClient) RepositoryIndex(ctx context.Context, readyOnly bool) (*inferencepb.RepositoryIndexResponse, error) {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	r, err := c.stub.RepositoryIndex(ctx, &inferencepb.RepositoryIndexRequest{Ready: readyOnly})
	if err != nil {
		return nil, grpcError(ctx, "RepositoryIndex", err)
	}
	return r, nil
}

// pick spreads Calls and Streams over the pool.
func (c *GRPCClient) pick() *grpc.ClientConn {
	return c.conns[(c.next.Add(1)-1)%uint64(len(c.conns))]
}

// Prepare encodes req once. Every Call made from the result sends the
// same bytes: gRPC only reads them.
func (c *GRPCClient) Prepare(req *InferRequest) (Prepared, error) {
	if len(c.conns) == 0 {
		return nil, errors.New("client is closed")
	}
	checked, err := checkRequest(req)
	if err != nil {
		return nil, err
	}
	b, err := checked.marshalPB(nil)
	if err != nil {
		return nil, err
	}
	return &grpcPrepared{
		c:    c,
		op:   "infer " + quoteModel(req.Model, req.Version),
		data: mem.BufferSlice{mem.SliceBuffer(b)},
		spec: checked.outputSpec(),
		own:  seqOwnOf(checked.params),
	}, nil
}

// NewCall is Prepare and Prepared.NewCall.
func (c *GRPCClient) NewCall(req *InferRequest) (Call, error) {
	p, err := c.Prepare(req)
	if err != nil {
		return nil, err
	}
	return p.NewCall()
}

// grpcPrepared is an encoded request. data is never written after
// Prepare, so every Call hands the same slice to gRPC (SliceBuffer's Free
// is a no-op).
type grpcPrepared struct {
	c    *GRPCClient
	op   string
	data mem.BufferSlice
	spec *outputSpec
	own  seqOwn
}

var _ Prepared = (*grpcPrepared)(nil)

// NewCall pins the Call to one pooled connection.
func (p *grpcPrepared) NewCall() (Call, error) {
	if len(p.c.conns) == 0 {
		return nil, errors.New("client is closed")
	}
	if p.c.h2 != nil {
		return newH2Call(p), nil
	}
	return &grpcCall{grpcSender: newGRPCSender(p, false)}, nil
}

// grpcSender is what unary and stream Calls share: a pooled connection,
// the request being sent with its sequence, and the response buffer.
type grpcSender struct {
	conn    *grpc.ClientConn
	opts    []grpc.CallOption
	md      metadata.MD
	timeout callTimeout
	// p is the request being sent: the one the Call was made from, or
	// another of the same client that a Cycle loaded.
	p    *grpcPrepared
	req  encodedMsg
	resp rawMsg
	seq  pbSeq
}

// newGRPCSender pins a new Call to one pooled connection.
func newGRPCSender(p *grpcPrepared, stream bool) grpcSender {
	return grpcSender{
		conn:    p.c.pick(),
		opts:    p.c.callOpts,
		md:      p.c.md,
		timeout: callTimeout{d: p.c.timeout},
		p:       p,
		req:     encodedMsg{data: p.data},
		resp:    rawMsg{stream: stream, check: p.spec.newCheck()},
	}
}

// SetSequence makes the following requests carry s (none when s.ID is 0).
func (c *grpcSender) SetSequence(s Sequence) {
	c.seq.s = s
	c.req.data = c.seq.data(c.p.data, c.p.own)
}

// use makes the Call send gp from now on.
func (c *grpcSender) use(gp *grpcPrepared) {
	if gp == c.p {
		return
	}
	c.p = gp
	c.req.data = c.seq.data(gp.data, gp.own)
	c.resp.check.use(gp.spec)
}

// failed forgets the latest response and, as gRPC may still be reading
// the sequence entries of a failed request, moves them to new scratch.
func (c *grpcSender) failed() {
	c.resp.buf = c.resp.buf[:0]
	if c.seq.s.ID != 0 {
		c.seq.retire()
		c.req.data = c.seq.data(c.p.data, c.p.own)
	}
}

// decode decodes a serialized ModelInferResponse.
func (p *grpcPrepared) decode(b []byte) (*InferResponse, error) {
	var pb inferencepb.ModelInferResponse
	if err := proto.Unmarshal(b, &pb); err != nil {
		return nil, protocolError(p.op, "cannot decode the response", err)
	}
	r, err := fromPBResponse(&pb)
	if err != nil {
		return nil, protocolError(p.op, err.Error(), nil)
	}
	return r, nil
}

type grpcCall struct{ grpcSender }

var (
	_ switchCall = (*grpcCall)(nil)
	_ Sequencer  = (*grpcCall)(nil)
)

// canLoad reports whether p is a request of the Call's client.
func (c *grpcCall) canLoad(p Prepared) bool {
	gp, ok := p.(*grpcPrepared)
	return ok && gp.c == c.p.c
}

// load makes the Call send p, which canLoad accepted, from now on.
func (c *grpcCall) load(p Prepared) { c.use(p.(*grpcPrepared)) }

// Do sends the pre-encoded request. The response bytes land in a buffer
// the Call reuses; they are checked (framing, outputs, sizes) but not
// decoded.
func (c *grpcCall) Do(ctx context.Context) (Timing, error) {
	if c.timeout.d > 0 {
		ctx = c.timeout.start(ctx)
	}
	if c.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, c.md)
	}
	c.req.marshal, c.resp.unmarshal, c.resp.err = 0, 0, nil
	start := time.Now()
	err := c.conn.Invoke(ctx, methodInfer, &c.req, &c.resp, c.opts...)
	t := Timing{Send: c.req.marshal, Recv: c.resp.unmarshal, Total: time.Since(start)}
	timedOut := c.timeout.d > 0 && c.timeout.stop()
	if err != nil {
		c.failed()
		if c.resp.err != nil {
			return t, checkError(c.p.op, c.resp.err, err)
		}
		if timedOut {
			return t, &Error{Op: c.p.op, Kind: ErrTimeout, Class: "timeout", Err: fmt.Errorf("no response within the request timeout %v: %w: %w", c.timeout.d, context.DeadlineExceeded, err)}
		}
		return t, grpcError(ctx, c.p.op, err)
	}
	return t, nil
}

// Response decodes the latest response.
func (c *grpcCall) Response() (*InferResponse, error) {
	if len(c.resp.buf) == 0 {
		return nil, fmt.Errorf("%s: no response: call Do first (or the last Do failed)", c.p.op)
	}
	return c.p.decode(c.resp.buf)
}

func quoteModel(model, version string) string {
	if version == "" {
		return fmt.Sprintf("%q", model)
	}
	return fmt.Sprintf("%q version %q", model, version)
}

// encodedMsg is a request marshalled once; rawCodec sends its bytes as is.
type encodedMsg struct {
	data    mem.BufferSlice
	marshal time.Duration
}

// rawMsg receives a response into a reused buffer.
type rawMsg struct {
	buf       []byte
	unmarshal time.Duration
	// stream selects the ModelStreamInferResponse framing.
	stream bool
	// check, when set, is what an infer response must carry.
	check *outputCheck
	// err is the latest Unmarshal's failure: a wrong answer, not a
	// failure of the server's gRPC stack.
	err error
	// summary, errMsg and inner describe buf after a successful Unmarshal.
	summary inferSummary
	errMsg  []byte
	inner   []byte
}

// rawCodec passes pre-encoded requests through and copies responses into
// a per-Call buffer, so the measured path does no protobuf work and no
// allocation of its own. Other messages go to the standard proto codec.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*encodedMsg)
	if !ok {
		return encoding.GetCodecV2("proto").Marshal(v)
	}
	start := time.Now()
	// The slice and its bytes are never written after Prepare, so handing
	// the same ones to gRPC on every call, from every Call, is safe;
	// SliceBuffer.Free is a no-op.
	out := m.data
	m.marshal += time.Since(start)
	return out, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMsg)
	if !ok {
		return encoding.GetCodecV2("proto").Unmarshal(data, v)
	}
	start := time.Now()
	defer func() { m.unmarshal += time.Since(start) }()
	m.buf = m.buf[:0]
	for _, b := range data {
		m.buf = append(m.buf, b.ReadOnlyData()...)
	}
	return m.scan()
}

// scan checks the response in buf: its framing, and what it must carry.
func (m *rawMsg) scan() error {
	var err error
	if m.stream {
		m.errMsg, m.inner, err = scanStreamResponse(m.buf)
		if err == nil {
			m.summary, err = scanInferResponse(m.inner)
		}
		// An empty final response carries nothing to check.
		if err == nil && m.check != nil && m.summary.outputs > 0 {
			err = m.check.checkPB(m.inner, m.summary)
		}
	} else {
		m.summary, err = scanInferResponse(m.buf)
		if err == nil && m.check != nil {
			err = m.check.checkPB(m.buf, m.summary)
		}
	}
	// grpc-go turns the error into INTERNAL text; keep it for Do.
	m.err = err
	return err
}
