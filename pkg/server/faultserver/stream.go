package faultserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// finalParam is the parameter a Triton stream response carries when it
// ends its request (asked for with triton_enable_empty_final_response).
const finalParam = "triton_final_response"

// streamMessage is the error text StreamError sends.
const streamMessage = "faultserver: injected stream error"

// interceptStream admits every gRPC stream (so that Kill waits for it).
func (p *Proxy) interceptStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !p.enter() {
		return status.Error(codes.Unavailable, "faultserver: killed")
	}
	defer p.handlers.Done()
	return handler(srv, ss)
}

type streamServer = grpc.BidiStreamingServer[inferencepb.ModelInferRequest, inferencepb.ModelStreamInferResponse]
type streamClient = grpc.BidiStreamingClient[inferencepb.ModelInferRequest, inferencepb.ModelStreamInferResponse]

// ModelStreamInfer forwards each request to a backend stream of its own
// and its responses back, one request at a time (a client that sends the
// next before the previous one's final response waits), applying the
// fault of each request.
func (g grpcFront) ModelStreamInfer(s streamServer) error {
	p := g.p
	ctx := s.Context()
	var back streamClient // opened by the first request; ends with ctx
	for {
		in, err := s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		f, st := p.next()
		switch {
		case f.Kind.unaryOnly():
			return status.Errorf(codes.Internal, "faultserver: the %v fault applies to unary requests only", f.Kind)
		case f.Kind == Stall || f.Kind == Drop:
			if !p.hold(ctx, f.Kind, st) {
				return status.FromContextError(ctx.Err()).Err()
			}
		}
		if back == nil {
			if back, err = p.infer.ModelStreamInfer(ctx); err != nil {
				return err
			}
		}
		if err := back.Send(in); err != nil {
			_, err = back.Recv() // the backend's reason
			return err
		}
		if done, err := forwardResponses(ctx, p, s, back, f, st); done || err != nil {
			return err
		}
	}
}

// forwardResponses relays the backend's responses to one request up to its
// final one, applying f; done is true when the fault ends the call.
func forwardResponses(ctx context.Context, p *Proxy, s streamServer, back streamClient, f Fault, st *faultState) (done bool, err error) {
	struck := false // the rest of the request's responses are the backend's alone
	for n := 0; ; n++ {
		res, err := back.Recv()
		if err != nil {
			return true, err
		}
		final := isFinal(res)
		switch {
		case struck:
			res = nil
		case f.Kind == NoFinal && final:
			if !p.hold(ctx, Drop, st) {
				return true, status.FromContextError(ctx.Err()).Err()
			}
			return true, nil // held until the proxy was closed
		case f.Kind.streamOnly() && f.Kind != NoFinal && n == f.before():
			switch f.Kind {
			case StreamCut:
				return true, nil
			case StreamError:
				res, struck = &inferencepb.ModelStreamInferResponse{ErrorMessage: streamMessage}, true
			case StreamGarbage:
				res = garbageStreamResponse()
			}
		}
		if res != nil {
			if err := s.Send(res); err != nil {
				return true, err
			}
		}
		if final {
			return false, nil
		}
	}
}

func isFinal(res *inferencepb.ModelStreamInferResponse) bool {
	p, ok := res.GetInferResponse().GetParameters()[finalParam]
	// Unmarked: a model that sends one response per request.
	return !ok || p.GetBoolParam()
}

// garbageStreamResponse is a ModelStreamInferResponse whose infer_response
// (field 2) holds bytes that do not parse as a ModelInferResponse: a
// field-1 tag announcing a string 1,000 bytes long, then 4 bytes.
func garbageStreamResponse() *inferencepb.ModelStreamInferResponse {
	inner := protowire.AppendTag(nil, 1, protowire.BytesType)
	inner = protowire.AppendVarint(inner, 1000)
	inner = append(inner, "junk"...)
	raw := protowire.AppendTag(nil, 2, protowire.BytesType)
	raw = protowire.AppendBytes(raw, inner)
	res := &inferencepb.ModelStreamInferResponse{}
	res.ProtoReflect().SetUnknown(raw)
	return res
}

// sseFault rewrites a generate_stream body, event by event, as f says.
// The backend writes each event as "data: {...}\n\n".
type sseFault struct {
	body  io.ReadCloser
	r     *bufio.Reader
	ctx   context.Context
	p     *Proxy
	st    *faultState
	f     Fault
	n     int          // events read from the backend
	out   bytes.Buffer // what the next Reads hand out
	ended bool         // nothing more comes after out
}

func newSSEFault(resp *http.Response, p *Proxy, f Fault, st *faultState) *sseFault {
	return &sseFault{body: resp.Body, r: bufio.NewReader(resp.Body), ctx: resp.Request.Context(), p: p, st: st, f: f}
}

// errCut makes the reverse proxy abort the connection mid-body.
var errCut = errors.New("faultserver: stream cut")

func (s *sseFault) Read(b []byte) (int, error) {
	for s.out.Len() == 0 {
		if s.ended {
			return 0, io.EOF
		}
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	return s.out.Read(b)
}

// fill moves the next event, rewritten, to out.
func (s *sseFault) fill() error {
	event, err := s.event()
	if errors.Is(err, io.EOF) && len(event) == 0 {
		if s.f.Kind == NoFinal {
			if !s.p.hold(s.ctx, Drop, s.st) {
				return s.ctx.Err()
			}
		}
		s.ended = true
		return nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	n := s.n
	s.n++
	if n != s.f.before() {
		s.out.Write(event)
		return nil
	}
	switch s.f.Kind {
	case StreamCut:
		return errCut
	case StreamError:
		fmt.Fprintf(&s.out, "data: {\"error\":%q}\n\n", streamMessage)
		s.ended = true
	case StreamGarbage:
		s.out.WriteString("data: {\"model_name\":\"faultserver\", this is not JSON\n\n")
	default:
		s.out.Write(event)
	}
	return nil
}

// event reads the next event up to and including its blank line.
func (s *sseFault) event() ([]byte, error) {
	var ev []byte
	for {
		line, err := s.r.ReadBytes('\n')
		ev = append(ev, line...)
		if err != nil {
			return ev, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 && len(ev) > len(line) {
			return ev, nil
		}
	}
}

func (s *sseFault) Close() error { return s.body.Close() }
