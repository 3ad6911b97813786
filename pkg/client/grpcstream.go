package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"

	"github.com/perfgo/perfgo/pkg/datatype"
)

var _ StreamPreparer = (*GRPCClient)(nil)

// PrepareStream encodes req once for ModelStreamInfer, asking the server
// to mark each request's last response (triton_enable_empty_final_response).
// Each Call made from the result keeps a stream of its own.
func (c *GRPCClient) PrepareStream(req *InferRequest) (Prepared, error) {
	p, err := c.prepareStream(req)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (c *GRPCClient) prepareStream(req *InferRequest) (*grpcStreamPrepared, error) {
	if len(c.conns) == 0 {
		return nil, errors.New("client is closed")
	}
	checked, err := checkRequest(req)
	if err != nil {
		return nil, err
	}
	b, err := checked.marshalPB(map[string]any{ParamEnableEmptyFinal: true})
	if err != nil {
		return nil, err
	}
	return &grpcStreamPrepared{grpcPrepared{
		c:    c,
		op:   "stream infer " + quoteModel(req.Model, req.Version),
		data: mem.BufferSlice{mem.SliceBuffer(b)},
		// Every response must carry the requested outputs; Expected is
		// not compared on a stream, whose responses differ by design.
		spec: newOutputSpec(req.Outputs),
		own:  seqOwnOf(checked.params),
	}}, nil
}

// grpcStreamPrepared is a request encoded for ModelStreamInfer.
type grpcStreamPrepared struct{ grpcPrepared }

func (p *grpcStreamPrepared) NewCall() (Call, error) {
	if len(p.c.conns) == 0 {
		return nil, errors.New("client is closed")
	}
	return &grpcStreamCall{grpcSender: newGRPCSender(&p.grpcPrepared, true)}, nil
}

// grpcStreamCall sends one request at a time on a ModelStreamInfer stream
// of its own, opened by the first Do and again after a failure, and
// waits for the request's final response.
//
// The stream lives under the context of the Do that opened it (under the
// Call's timeout child of it, when there is a request timeout, see
// callTimeout): when that context ends the stream ends, and a Do with
// another context opens a new one. A Call that is dropped keeps its stream
// until then, or until the client is closed.
type grpcStreamCall struct {
	grpcSender
	gaps []time.Duration
	kept keptResponses

	// cs is the open stream, nil before the first Do and after a failure;
	// base is the context it was opened under, cancel ends it.
	cs     grpc.ClientStream
	base   context.Context
	cancel context.CancelFunc
}

var (
	_ switchCall   = (*grpcStreamCall)(nil)
	_ Sequencer    = (*grpcStreamCall)(nil)
	_ OutputKeeper = (*grpcStreamCall)(nil)
)

func (c *grpcStreamCall) KeepOutputs(on bool) { c.kept.on = on }

// Outputs decodes the responses with outputs of the latest Do.
func (c *grpcStreamCall) Outputs(fn func([]Tensor)) error { return c.kept.each(c.p.decode, fn) }

func (c *grpcStreamCall) canLoad(p Prepared) bool {
	gp, ok := p.(*grpcStreamPrepared)
	return ok && gp.c == c.p.c
}

func (c *grpcStreamCall) load(p Prepared) { c.use(&p.(*grpcStreamPrepared).grpcPrepared) }

// open starts a stream under base.
func (c *grpcStreamCall) open(base context.Context) error {
	c.reset()
	cs, cancel, err := openStream(base, c.conn, c.md, c.opts)
	if err != nil {
		return err
	}
	c.cs, c.base, c.cancel = cs, base, cancel
	return nil
}

// openStream opens a ModelStreamInfer stream on conn that lives until ctx
// ends or cancel is called.
func openStream(ctx context.Context, conn *grpc.ClientConn, md metadata.MD, opts []grpc.CallOption) (grpc.ClientStream, context.CancelFunc, error) {
	sctx, cancel := context.WithCancel(ctx)
	if md != nil {
		sctx = metadata.NewOutgoingContext(sctx, md)
	}
	desc := &grpc.StreamDesc{StreamName: "ModelStreamInfer", ServerStreams: true, ClientStreams: true}
	cs, err := conn.NewStream(sctx, desc, methodStream, opts...)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return cs, cancel, nil
}

// reset ends the stream, if any: after a failure its state is unknown (a
// late response of the failed request must not pass for the next one's).
func (c *grpcStreamCall) reset() {
	if c.cs != nil {
		c.cancel()
		c.cs, c.base, c.cancel = nil, nil, nil
	}
}

// Do sends the request and receives its responses up to the final one.
// Response bytes land in a buffer the Call reuses; each response with
// outputs is checked (framing, requested outputs, sizes), not decoded.
func (c *grpcStreamCall) Do(ctx context.Context) (Timing, error) {
	base := ctx
	if c.timeout.d > 0 {
		base = c.timeout.start(ctx)
	}
	c.req.marshal, c.resp.unmarshal, c.resp.err = 0, 0, nil
	c.gaps = c.gaps[:0]
	c.kept.reset()
	start := time.Now()
	t, err := c.exchange(base, start)
	t.Total = time.Since(start)
	t.Send, t.Recv = c.req.marshal, c.resp.unmarshal
	timedOut := c.timeout.d > 0 && c.timeout.stop()
	if err == nil {
		return t, nil
	}
	c.kept.reset()
	if _, ok := errors.AsType[*Error](err); ok {
		// The server's answer to the request; the stream itself is
		// reset in case the server has more to say about the request.
		c.reset()
		return t, err
	}
	c.reset()
	c.failed()
	switch {
	case ctx.Err() != nil:
		return t, contextError(c.p.op, ctx.Err(), err)
	case timedOut:
		return t, &Error{Op: c.p.op, Kind: ErrTimeout, Class: "timeout", Err: fmt.Errorf("no final response within the request timeout %v: %w", c.timeout.d, err)}
	case c.resp.err != nil:
		return t, checkError(c.p.op, c.resp.err, err)
	case errors.Is(err, io.EOF):
		return t, &Error{Op: c.p.op, Kind: ErrServer, Class: "stream_closed",
			Message: "the server ended the stream before the request's final response", Err: err}
	}
	return t, grpcError(context.Background(), c.p.op, err) // ctx is not the reason: checked above
}

// exchange sends the request and receives until its final response,
// filling the stream fields of the Timing.
func (c *grpcStreamCall) exchange(base context.Context, start time.Time) (Timing, error) {
	var t Timing
	if c.cs == nil || c.base != base {
		if err := c.open(base); err != nil {
			return t, err
		}
	}
	if err := c.cs.SendMsg(&c.req); err != nil {
		if err == io.EOF {
			// The server ended the stream; RecvMsg says how.
			err = c.cs.RecvMsg(&c.resp)
			if err == nil {
				err = io.EOF
			}
		}
		return t, err
	}
	var prev time.Duration
	for {
		if err := c.cs.RecvMsg(&c.resp); err != nil {
			return t, err
		}
		at := time.Since(start)
		if len(c.resp.errMsg) > 0 {
			msg := string(c.resp.errMsg)
			kind := modelKindFromMessage(msg)
			if kind == nil {
				kind = ErrServer
			}
			if t.Responses == 0 {
				t.First = at
			}
			t.Gaps = c.gaps
			return t, &Error{Op: c.p.op, Kind: kind, Class: "grpc:STREAM_ERROR", Message: msg}
		}
		if c.resp.summary.outputs > 0 {
			if t.Responses == 0 {
				t.First = at
			} else {
				c.gaps = append(c.gaps, at-prev)
			}
			prev = at
			t.Responses++
			t.Elements += bytesElements(c.resp.inner)
			c.kept.add(c.resp.inner)
		}
		// Absent (-1) is a one-response-per-request model's only answer.
		if c.resp.summary.final != 0 {
			if t.Responses == 0 {
				t.First = at
			}
			t.Gaps = c.gaps
			return t, nil
		}
	}
}

// bytesElements counts the elements of the BYTES outputs of a serialized
// ModelInferResponse (validated by scanInferResponse) from their shapes,
// which the check has matched against the raw contents.
func bytesElements(b []byte) int64 {
	var n int64
	for {
		o, ok := nextBytesField(&b, fieldInferRespOutputs)
		if !ok {
			return n
		}
		t, err := scanOutputTensor(o)
		if err == nil && t.elems > 0 && lookupType(t.datatype) == datatype.Bytes {
			n += t.elems
		}
	}
}

// Response decodes the latest response: the final one of the latest Do.
func (c *grpcStreamCall) Response() (*InferResponse, error) {
	if len(c.resp.buf) == 0 {
		return nil, fmt.Errorf("%s: no response: call Do first (or the last Do failed)", c.p.op)
	}
	if len(c.resp.errMsg) > 0 {
		return nil, &Error{Op: c.p.op, Kind: ErrServer, Class: "grpc:STREAM_ERROR", Message: string(c.resp.errMsg)}
	}
	return c.p.decode(c.resp.inner)
}
