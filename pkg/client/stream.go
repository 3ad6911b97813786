package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// Stream is a ModelStreamInfer bidirectional stream carrying one prepared
// request, sent as often as needed. Decoupled models answer each request
// with any number of responses; the stream asks the server to mark the
// last one (triton_enable_empty_final_response), as perf_analyzer does.
//
// One goroutine may Send while another Recvs; neither method is safe for
// concurrent use with itself. Do is the one-request-at-a-time shortcut.
type Stream struct {
	cs     grpc.ClientStream
	cancel context.CancelFunc
	op     string
	req    encodedMsg
	resp   rawMsg
	// sent counts requests sent, finals responses marked final, so Close
	// knows nothing is left in flight.
	sent, finals int
}

// StreamResponse is what Recv learned about one response without decoding it.
type StreamResponse struct {
	// Final is true for the last response to a request: marked with
	// triton_final_response, unmarked (one-response-per-request servers),
	// or an error.
	Final bool
	// Outputs is the number of output tensors; 0 for an empty final response.
	Outputs int
	// Err is the server's error for the request (error_message), an *Error.
	Err error
	// Recv is the time spent reading the response off the stream's buffers.
	Recv time.Duration
}

// StreamTiming is the split of one request on a stream, measured from the
// start of Send: time to first response and to the final one.
type StreamTiming struct {
	First, Last time.Duration
	// Responses counts responses that carried outputs (an empty final
	// response is not one); Messages counts everything received.
	Responses, Messages int
}

// NewStream opens a stream on one pooled connection and encodes req once.
// ctx bounds the whole stream: cancelling it ends the stream.
func (c *GRPCClient) NewStream(ctx context.Context, req *InferRequest) (*Stream, error) {
	p, err := c.prepareStream(req)
	if err != nil {
		return nil, err
	}
	cs, cancel, err := openStream(ctx, c.pick(), c.md, c.callOpts)
	if err != nil {
		return nil, grpcError(ctx, p.op, err)
	}
	return &Stream{
		cs:     cs,
		cancel: cancel,
		op:     p.op,
		req:    encodedMsg{data: p.data},
		resp:   rawMsg{stream: true},
	}, nil
}

// Send sends the prepared request once more. If the server has already
// ended the stream, Send fails with an error wrapping io.EOF and Recv
// reports the server's status.
func (s *Stream) Send() error {
	if err := s.cs.SendMsg(&s.req); err != nil {
		if err == io.EOF {
			return &Error{Op: s.op, Kind: ErrServer, Class: "stream_closed",
				Message: "the server ended the stream; Recv reports why", Err: io.EOF}
		}
		return grpcError(context.Background(), s.op, err) // the status says if ctx ended
	}
	s.sent++
	return nil
}

// Recv waits for the next response. It returns io.EOF once the server has
// closed the stream normally (after CloseSend).
func (s *Stream) Recv() (StreamResponse, error) {
	s.resp.unmarshal = 0
	if err := s.cs.RecvMsg(&s.resp); err != nil {
		s.resp.buf = s.resp.buf[:0]
		if err == io.EOF {
			return StreamResponse{}, io.EOF
		}
		return StreamResponse{}, grpcError(context.Background(), s.op, err) // the status says if ctx ended
	}
	r := StreamResponse{
		Final:   s.resp.summary.final != 0, // absent (-1) means one response per request
		Outputs: s.resp.summary.outputs,
		Recv:    s.resp.unmarshal,
	}
	if len(s.resp.errMsg) > 0 {
		msg := string(s.resp.errMsg)
		kind := modelKindFromMessage(msg)
		if kind == nil {
			kind = ErrServer
		}
		r.Err = &Error{Op: s.op, Kind: kind, Class: "grpc:STREAM_ERROR", Message: msg}
		r.Final = true
	}
	if r.Final {
		s.finals++
	}
	return r, nil
}

// Response decodes the latest response received.
func (s *Stream) Response() (*InferResponse, error) {
	if len(s.resp.buf) == 0 {
		return nil, fmt.Errorf("%s: no response received yet", s.op)
	}
	if len(s.resp.errMsg) > 0 {
		return nil, &Error{Op: s.op, Kind: ErrServer, Class: "grpc:STREAM_ERROR", Message: string(s.resp.errMsg)}
	}
	var pb inferencepb.ModelInferResponse
	if err := proto.Unmarshal(s.resp.inner, &pb); err != nil {
		return nil, protocolError(s.op, "cannot decode the response", err)
	}
	r, err := fromPBResponse(&pb)
	if err != nil {
		return nil, protocolError(s.op, err.Error(), nil)
	}
	return r, nil
}

// Do sends the request once and receives until its final response,
// timing the first and the final response from the start of Send. If ctx
// ends first the whole stream is cancelled and cannot be used again.
func (s *Stream) Do(ctx context.Context) (StreamTiming, error) {
	if s.sent != s.finals {
		return StreamTiming{}, fmt.Errorf("%s: Do needs no other request in flight (%d sent, %d finished)", s.op, s.sent, s.finals)
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, s.cancel)
		defer stop()
	}
	var t StreamTiming
	start := time.Now()
	if err := s.Send(); err != nil {
		if errors.Is(err, io.EOF) {
			if _, rerr := s.Recv(); rerr != nil && rerr != io.EOF {
				err = rerr // the server's reason
			}
		}
		return t, s.ctxErr(ctx, err)
	}
	for {
		r, err := s.Recv()
		if err == io.EOF {
			return t, protocolError(s.op, "server closed the stream before the final response", nil)
		}
		if err != nil {
			return t, s.ctxErr(ctx, err)
		}
		since := time.Since(start)
		if t.Messages == 0 {
			t.First = since
		}
		t.Messages++
		t.Last = since
		if r.Outputs > 0 {
			t.Responses++
		}
		if r.Err != nil {
			return t, r.Err
		}
		if r.Final {
			return t, nil
		}
	}
}

// ctxErr reports a failure caused by Do's own ctx as a timeout or cancellation.
func (s *Stream) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return contextError(s.op, ctx.Err(), err)
	}
	return err
}

// CloseSend tells the server no more requests follow; keep calling Recv
// until io.EOF to collect the outstanding responses.
func (s *Stream) CloseSend() error {
	if err := s.cs.CloseSend(); err != nil {
		return grpcError(context.Background(), s.op, err) // the status says if ctx ended
	}
	return nil
}

// Close ends the stream at once, abandoning outstanding responses.
func (s *Stream) Close() error {
	_ = s.cs.CloseSend() // best effort; cancel below releases everything
	s.cancel()
	return nil
}
