package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func prepareStream(t testing.TB, c Client, req *InferRequest) Call {
	t.Helper()
	sp, ok := c.(StreamPreparer)
	if !ok {
		t.Fatalf("%T does not implement StreamPreparer", c)
	}
	p, err := sp.PrepareStream(req)
	if err != nil {
		t.Fatal(err)
	}
	call, err := p.NewCall()
	if err != nil {
		t.Fatal(err)
	}
	return call
}

func TestGRPCStreamCall(t *testing.T) {
	s := servertest.Start(t)
	ctx := testCtx(t)
	c := newClient(t, Options{Protocol: GRPC, URL: s.GRPCAddr})

	t.Run("decoupled", func(t *testing.T) {
		call := prepareStream(t, c, repeatRequest(1, 2, 3, 4, 5, 6, 7, 8))
		var first any
		for i := range 3 {
			tm, err := call.Do(ctx)
			if err != nil {
				t.Fatalf("Do %d: %v", i, err)
			}
			if tm.Responses != 8 || len(tm.Gaps) != 7 || tm.First <= 0 || tm.Total < tm.First || tm.Elements != 0 {
				t.Errorf("Do %d: %+v, want 8 responses, 7 gaps, 0 < First <= Total, no BYTES elements", i, tm)
			}
			// One stream serves every request.
			if cs := call.(*grpcStreamCall).cs; i == 0 {
				first = cs
			} else if cs != first {
				t.Errorf("Do %d opened another stream", i)
			}
		}
		// The latest response is the empty final one the stream asked for.
		r, err := call.Response()
		if err != nil || len(r.Outputs) != 0 || r.Parameters[ParamFinalResponse] != true {
			t.Errorf("final response = %+v, %v; want no outputs, %s true", r, err, ParamFinalResponse)
		}
	})

	t.Run("one response per request", func(t *testing.T) {
		call := prepareStream(t, c, simpleRequest())
		tm, err := call.Do(ctx)
		if err != nil || tm.Responses != 1 || len(tm.Gaps) != 0 || tm.First != tm.Total && tm.First > tm.Total {
			t.Fatalf("Do = %+v, %v; want one response", tm, err)
		}
		if r, err := call.Response(); err != nil || len(r.Outputs) != 2 {
			t.Fatalf("Response = %+v, %v", r, err)
		}
	})

	t.Run("error response", func(t *testing.T) {
		call := prepareStream(t, c, &InferRequest{Model: "nope", Inputs: simpleRequest().Inputs})
		for range 2 {
			if _, err := call.Do(ctx); !errors.Is(err, ErrModelNotFound) || Class(err) != "grpc:STREAM_ERROR" {
				t.Errorf("unknown model: %v (class %q)", err, Class(err))
			}
		}
		if _, err := call.Response(); err == nil {
			t.Error("Response of an error message succeeded")
		}
	})

	t.Run("missing output", func(t *testing.T) {
		req := repeatRequest(1, 2)
		req.Outputs = []string{"OUT", "NOPE"}
		call := prepareStream(t, c, req)
		if _, err := call.Do(ctx); Class(err) != "protocol" && Class(err) != "grpc:STREAM_ERROR" {
			t.Errorf("a response without a requested output: %v (class %q)", err, Class(err))
		}
	})

	t.Run("sequence", func(t *testing.T) {
		for i, stringID := range []bool{false, true} {
			runSequences(t, prepareStream(t, c, seqRequest(5)), stringID, uint64(100+10*i))
		}
	})

	t.Run("cycle", func(t *testing.T) {
		sp := c.(StreamPreparer)
		var ps []Prepared
		for _, n := range []int32{2, 3} {
			req := repeatRequest(make([]int32, n)...)
			req.ID = fmt.Sprint("r", n)
			p, err := sp.PrepareStream(req)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		call, err := Cycle(ps, 0)
		if err != nil {
			t.Fatal(err)
		}
		// One stream answers each request in turn, with its own id.
		for i, want := range []int{2, 3, 2} {
			if tm, err := call.Do(ctx); err != nil || tm.Responses != want {
				t.Errorf("Do %d: %+v, %v; want %d responses", i, tm, err, want)
			}
			if r, err := call.Response(); err != nil || r.ID != fmt.Sprint("r", want) {
				t.Errorf("Do %d: final response %+v, %v; want id r%d", i, r, err, want)
			}
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		call := prepareStream(t, c, repeatRequest(1))
		dctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := call.Do(dctx); Class(err) != "cancelled" || !errors.Is(err, context.Canceled) {
			t.Errorf("Do with a cancelled context: %v", err)
		}
		if _, err := call.Do(ctx); err != nil {
			t.Errorf("Do after a cancelled one: %v", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		uc := newClient(t, Options{Protocol: GRPC, URL: closedAddr(t)})
		if _, err := prepareStream(t, uc, repeatRequest(1)).Do(ctx); !errors.Is(err, ErrUnreachable) {
			t.Errorf("stream to a closed port: %v, want ErrUnreachable", err)
		}
	})
}

// faultStream answers ModelStreamInfer by model name: "text" with three
// responses of two BYTES elements and an empty final one, "hang" with one
// response and then nothing, "close" with one response and the end of
// the stream, "short" with an output whose contents miss an element.
type faultStream struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	opened atomic.Int32
}

func textResponse(final bool, elems ...string) *inferencepb.ModelStreamInferResponse {
	r := &inferencepb.ModelInferResponse{ModelName: "m", Parameters: map[string]*inferencepb.InferParameter{
		ParamFinalResponse: {ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: final}}}}
	if elems != nil {
		var raw []byte
		for _, e := range elems {
			raw = AppendBytesElement(raw, []byte(e))
		}
		r.Outputs = []*inferencepb.ModelInferResponse_InferOutputTensor{{Name: "TEXT", Datatype: TypeBytes, Shape: []int64{2}}}
		r.RawOutputContents = [][]byte{raw}
	}
	return &inferencepb.ModelStreamInferResponse{InferResponse: r}
}

func (f *faultStream) ModelStreamInfer(st grpc.BidiStreamingServer[inferencepb.ModelInferRequest, inferencepb.ModelStreamInferResponse]) error {
	f.opened.Add(1)
	for {
		req, err := st.Recv()
		if err != nil {
			return nil
		}
		var sends []*inferencepb.ModelStreamInferResponse
		switch req.GetModelName() {
		case "text":
			for range 3 {
				sends = append(sends, textResponse(false, "to", "ken"))
			}
			sends = append(sends, textResponse(true))
		case "hang", "close":
			sends = append(sends, textResponse(false, "a", "b"))
		case "short":
			sends = append(sends, textResponse(true, "a"))
		}
		for _, r := range sends {
			if err := st.Send(r); err != nil {
				return err
			}
		}
		switch req.GetModelName() {
		case "hang":
			<-st.Context().Done()
			return nil
		case "close":
			return nil
		}
	}
}

func TestGRPCStreamFaults(t *testing.T) {
	f := &faultStream{}
	addr := serveGRPC(t, f)
	ctx := testCtx(t)
	c := newClient(t, Options{Protocol: GRPC, URL: addr, Timeout: 300 * time.Millisecond})
	text := func(model string) *InferRequest {
		return &InferRequest{Model: model, Inputs: []Tensor{{Name: "IN", Datatype: TypeInt32, Shape: []int64{1}, Data: int32Data(1)}}}
	}
	tests := []struct {
		model  string
		class  string
		elems  int64
		opened int32 // streams opened by the two Dos
	}{
		{"text", "", 6, 1},
		{"hang", "timeout", 2, 2},
		{"close", "stream_closed", 2, 2},
		{"short", "protocol", 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			before := f.opened.Load()
			call := prepareStream(t, c, text(tt.model))
			for i := range 2 {
				tm, err := call.Do(ctx)
				if Class(err) != tt.class {
					t.Fatalf("Do %d: %v (class %q), want class %q", i, err, Class(err), tt.class)
				}
				if tm.Elements != tt.elems {
					t.Errorf("Do %d: %d elements, want %d", i, tm.Elements, tt.elems)
				}
			}
			if got := f.opened.Load() - before; got != tt.opened {
				t.Errorf("%d streams opened, want %d (a failure resets the stream)", got, tt.opened)
			}
		})
	}
}
