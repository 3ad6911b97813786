package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// seqRequest is one request of the sequence models over gRPC.
func seqRequest(model string, id any, start, end bool, v int32) *inferencepb.ModelInferRequest {
	p := map[string]*inferencepb.InferParameter{"sequence_start": boolParam(start), "sequence_end": boolParam(end)}
	switch id := id.(type) {
	case uint64:
		p["sequence_id"] = &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_Uint64Param{Uint64Param: id}}
	case string:
		p["sequence_id"] = &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: id}}
	}
	return &inferencepb.ModelInferRequest{ModelName: model, Parameters: p,
		Inputs: []*inputT{{Name: "INPUT", Datatype: "INT32", Shape: []int64{1}}}, RawInputContents: [][]byte{int32s(v)}}
}

// TestSequenceSemantics: Triton's rules for starts, restarts and ends, and
// the counts a test compares with a client's.
func TestSequenceSemantics(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	steps := []struct {
		model      string
		id         any
		start, end bool
		in, want   int32
		code       codes.Code
		msg        string
	}{
		{model: "sequence", id: uint64(5), in: 1, code: codes.InvalidArgument,
			msg: "inference request for sequence 5 to model 'sequence' must specify the START flag on the first request of the sequence"},
		{model: "sequence", id: uint64(5), start: true, in: 1, want: 1},
		{model: "sequence", id: uint64(5), in: 2, want: 3},
		{model: "sequence", id: uint64(5), start: true, in: 10, want: 10}, // restart
		{model: "sequence", id: uint64(5), end: true, in: 1, want: 11},
		{model: "sequence", id: uint64(5), in: 1, code: codes.InvalidArgument, msg: "must specify the START flag"},
		{model: "sequence", id: uint64(6), start: true, in: 7, want: 7}, // left open
		{model: "sequence_string", id: "conv-1", in: 1, code: codes.InvalidArgument,
			msg: "inference request for sequence conv-1 to model 'sequence_string' must specify the START flag on the first request of the sequence"},
		{model: "sequence_string", id: "conv-1", start: true, in: 2, want: 2},
		{model: "sequence_string", id: "conv-1", end: true, in: 2, want: 4},
		{model: "sequence_string", id: uint64(9), start: true, in: 1, code: codes.InvalidArgument, msg: "string correlation ids"},
	}
	for i, st := range steps {
		resp, err := c.ModelInfer(testCtx(t), seqRequest(st.model, st.id, st.start, st.end, st.in))
		if st.code != codes.OK {
			wantCode(t, err, st.code, st.msg)
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := decodeInt32s(t, resp.RawOutputContents[0])[0]; got != st.want {
			t.Errorf("step %d: OUTPUT %d, want %d", i, got, st.want)
		}
	}
	got, ok := s.Sequences("sequence")
	want := server.SequenceStats{Requests: map[string]uint64{"5": 6, "6": 1}, Open: []string{"6"}, Started: 2, Restarted: 1, Ended: 1}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("Sequences(sequence) = %+v, %v; want %+v", got, ok, want)
	}
	got, _ = s.Sequences("sequence_string")
	want = server.SequenceStats{Requests: map[string]uint64{"conv-1": 3}, Open: []string{}, Started: 1, Ended: 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sequences(sequence_string) = %+v; want %+v", got, want)
	}
	if _, ok := s.Sequences("identity"); ok {
		t.Error("Sequences(identity) is ok; identity is not stateful")
	}
}

// TestSequenceConfigCorrID: clients learn the correlation id's type from the
// config's CONTROL_SEQUENCE_CORRID control.
func TestSequenceConfigCorrID(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	for model, want := range map[string]inferencepb.DataType{"sequence": inferencepb.DataType_TYPE_UINT64, "sequence_string": inferencepb.DataType_TYPE_STRING} {
		cfg, err := c.ModelConfig(testCtx(t), &inferencepb.ModelConfigRequest{Name: model})
		if err != nil {
			t.Fatal(err)
		}
		ci := cfg.Config.GetSequenceBatching().GetControlInput()
		if len(ci) != 1 || ci[0].Name != "CORRID" || len(ci[0].Control) != 1 ||
			ci[0].Control[0].Kind != inferencepb.ModelSequenceBatching_Control_CONTROL_SEQUENCE_CORRID || ci[0].Control[0].DataType != want {
			t.Errorf("%s: control_input %v, want CORRID CONTROL_SEQUENCE_CORRID %v", model, ci, want)
		}
	}
}

// TestSequenceExpiry: an idle sequence is ended, counted, and its next
// request needs a START again; the count shows in /metrics too.
func TestSequenceExpiry(t *testing.T) {
	const idle = 5 * time.Millisecond
	s := servertest.Start(t, func(o *server.Options) { o.SequenceIdle = idle })
	c := grpcClient(t, s.GRPCAddr)
	for _, id := range []uint64{1, 2} {
		if _, err := c.ModelInfer(testCtx(t), seqRequest("sequence", id, true, false, 1)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(4 * idle) // at least this long, which is all the test needs
	got, _ := s.Sequences("sequence")
	if got.Expired != 2 || len(got.Open) != 0 {
		t.Errorf("after idling: expired %d, open %v; want 2 and none", got.Expired, got.Open)
	}
	_, err := c.ModelInfer(testCtx(t), seqRequest("sequence", uint64(1), false, false, 1))
	wantCode(t, err, codes.InvalidArgument, "must specify the START flag")
	resp, err := http.Get("http://" + s.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range []string{
		`perfgo_sequence_expired_total{model="sequence",version="1"} 2`,
		`perfgo_sequence_open{model="sequence",version="1"} 0`,
		`perfgo_sequence_serial_violations_total{model="sequence",version="1"} 0`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// TestSequenceSerialViolation: a request that arrives while another of its
// sequence is held counts as a violation; requests one after the other do
// not. The held requests end when their clients cancel.
func TestSequenceSerialViolation(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) { o.SequenceHold = time.Minute })
	c := grpcClient(t, s.GRPCAddr)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var eg errgroup.Group
	send := func(start bool) {
		eg.Go(func() error {
			_, err := c.ModelInfer(ctx, seqRequest("sequence", uint64(3), start, false, 1))
			if err == nil {
				return fmt.Errorf("a held request succeeded before its client cancelled it")
			}
			return nil
		})
	}
	waitInFlight := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for s.InFlight("sequence") != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d sequence requests in flight, want %d", s.InFlight("sequence"), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	send(true)
	waitInFlight(1)
	if got, _ := s.Sequences("sequence"); got.SerialViolations != 0 {
		t.Fatalf("one request in flight: %d violations", got.SerialViolations)
	}
	send(false)
	waitInFlight(2)
	cancel()
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	waitInFlight(0)
	got, _ := s.Sequences("sequence")
	if got.SerialViolations != 1 || got.Requests["3"] != 2 {
		t.Errorf("violations %d, requests %v; want 1 and 2 for sequence 3", got.SerialViolations, got.Requests)
	}
}
