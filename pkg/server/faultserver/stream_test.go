package faultserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server/faultserver"
)

// streamOutcome is what a client saw of one streamed request.
type streamOutcome struct {
	responses int    // responses that carried outputs
	final     bool   // the request's end arrived (gRPC: final flag; HTTP: end of body)
	errMsg    string // gRPC error_message or HTTP error event
	err       error  // how the call or the body ended otherwise
}

// repeatStreamRequest asks repeat for 8 responses and an empty final one.
func repeatStreamRequest() *inferencepb.ModelInferRequest {
	return &inferencepb.ModelInferRequest{ModelName: "repeat",
		Inputs:           []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "IN", Datatype: "INT32", Shape: []int64{8}}},
		RawInputContents: [][]byte{make([]byte, 32)},
		Parameters: map[string]*inferencepb.InferParameter{"triton_enable_empty_final_response": {
			ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: true}}},
	}
}

// grpcStreamRequest sends two requests on one stream (the second only if
// the first ended normally) and reports the last one's outcome.
func grpcStreamRequest(t *testing.T, g inferencepb.GRPCInferenceServiceClient) streamOutcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s, err := g.ModelStreamInfer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var o streamOutcome
	for range 2 {
		if err := s.Send(repeatStreamRequest()); err != nil {
			return streamOutcome{err: err}
		}
		o = streamOutcome{}
		for !o.final && o.errMsg == "" && o.err == nil {
			r, err := s.Recv()
			switch {
			case err != nil:
				o.err = err
			case r.GetErrorMessage() != "":
				o.errMsg = r.GetErrorMessage()
			default:
				if len(r.GetInferResponse().GetOutputs()) > 0 {
					o.responses++
				}
				o.final = r.GetInferResponse().GetParameters()["triton_final_response"].GetBoolParam()
			}
		}
		if !o.final {
			break
		}
	}
	return o
}

func TestGRPCStreamFaults(t *testing.T) {
	p := faultserver.Start(t)
	g := grpcConn(t, p.GRPCAddr)
	tests := []struct {
		fault faultserver.Fault
		check func(o streamOutcome) string
	}{
		{faultserver.Fault{}, func(o streamOutcome) string {
			if o.responses != 8 || !o.final || o.err != nil {
				return "want 8 responses and the final one, twice"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.StreamCut}, func(o streamOutcome) string {
			if o.responses != 2 || o.final || !errors.Is(o.err, io.EOF) {
				return "want 2 responses, then the stream ended with status OK (io.EOF)"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.StreamError, Before: 3}, func(o streamOutcome) string {
			if o.responses != 3 || o.errMsg == "" || o.err != nil {
				return "want 3 responses, then an error_message"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.NoFinal}, func(o streamOutcome) string {
			if o.responses != 8 || o.final || status.Code(o.err) != codes.DeadlineExceeded {
				return "want 8 responses, then silence until the client's deadline"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.StreamGarbage}, func(o streamOutcome) string {
			if o.responses != 2 || status.Code(o.err) != codes.Internal || !strings.Contains(o.err.Error(), "unmarshal") {
				return "want 2 responses, then one that does not unmarshal"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.Garbage}, func(o streamOutcome) string {
			if status.Code(o.err) != codes.Internal || !strings.Contains(o.err.Error(), "unary requests only") {
				return "want INTERNAL naming a unary fault"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Kind.String(), func(t *testing.T) {
			p.Set(tt.fault)
			if o := grpcStreamRequest(t, g); tt.check(o) != "" {
				t.Errorf("%s; got %+v", tt.check(o), o)
			}
		})
	}
	t.Run("stream kind on ModelInfer", func(t *testing.T) {
		p.Set(faultserver.Fault{Kind: faultserver.NoFinal})
		if _, err := g.ModelInfer(context.Background(), grpcRequest()); status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "streamed requests only") {
			t.Errorf("got %v; want INTERNAL naming a stream fault", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !p.NoneHeld(ctx) {
		t.Errorf("%d requests still held 5 s after their clients left", p.Held())
	}
}

// httpStreamRequest posts a generate_stream request for 8 responses and
// reads its events within 300 ms.
func httpStreamRequest(t *testing.T, c *http.Client, addr string) streamOutcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v2/models/repeat/generate_stream", strings.NewReader(`{"IN":[1,2,3,4,5,6,7,8]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return streamOutcome{err: err}
	}
	defer resp.Body.Close()
	var o streamOutcome
	if resp.StatusCode != http.StatusOK {
		o.err = errors.New(resp.Status)
		return o
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			o.err = err
			return o
		}
		if msg, ok := ev["error"].(string); ok {
			o.errMsg = msg
			continue
		}
		o.responses++
	}
	o.err = sc.Err()
	o.final = o.err == nil
	return o
}

func TestHTTPStreamFaults(t *testing.T) {
	p := faultserver.Start(t)
	c := newHTTPClient(t)
	var syntax *json.SyntaxError
	tests := []struct {
		fault faultserver.Fault
		check func(o streamOutcome) string
	}{
		{faultserver.Fault{}, func(o streamOutcome) string {
			if o.responses != 8 || !o.final {
				return "want 8 events and the end of the body"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.StreamCut}, func(o streamOutcome) string {
			if o.responses != 2 || !errors.Is(o.err, io.ErrUnexpectedEOF) {
				return "want 2 events, then the body cut short (unexpected EOF)"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.StreamError, Before: 3}, func(o streamOutcome) string {
			if o.responses != 3 || o.errMsg == "" || !o.final {
				return "want 3 events, an error event and the end of the body"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.NoFinal}, func(o streamOutcome) string {
			if o.responses != 8 || !errors.Is(o.err, context.DeadlineExceeded) {
				return "want 8 events, then silence until the client's deadline"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.StreamGarbage}, func(o streamOutcome) string {
			if o.responses != 2 || !errors.As(o.err, &syntax) {
				return "want 2 events, then one whose data is not JSON"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.Garbage}, func(o streamOutcome) string {
			if o.err == nil || !strings.Contains(o.err.Error(), "500") {
				return "want a 500 naming a unary fault"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Kind.String(), func(t *testing.T) {
			p.Set(tt.fault)
			if o := httpStreamRequest(t, c, p.HTTPAddr); tt.check(o) != "" {
				t.Errorf("%s; got %+v", tt.check(o), o)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !p.NoneHeld(ctx) {
		t.Errorf("%d requests still held 5 s after their clients left", p.Held())
	}
}
