package client

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func seqRequest(v int32) *InferRequest {
	return &InferRequest{Model: "sequence", Inputs: []Tensor{{Name: "INPUT", Datatype: TypeInt32, Shape: []int64{1}, Data: int32Data(v)}}}
}

// seqOutput is OUTPUT of the latest response: the running sum.
func seqOutput(t *testing.T, call Call) int32 {
	t.Helper()
	r, err := call.Response()
	if err != nil {
		t.Fatalf("Response: %v", err)
	}
	for _, o := range r.Outputs {
		if o.Name == "OUTPUT" {
			return int32(binary.LittleEndian.Uint32(o.Data))
		}
	}
	t.Fatalf("no OUTPUT in %+v", r)
	return 0
}

// runSequences interleaves two sequences on one Call (as a worker of
// perfgo does across its sequences) and checks each running sum.
func runSequences(t *testing.T, call Call, stringID bool, base uint64) {
	t.Helper()
	ctx := testCtx(t)
	sq, ok := call.(Sequencer)
	if !ok {
		t.Fatalf("%T is not a Sequencer", call)
	}
	const steps = 4
	sums := map[uint64]int32{}
	for i := range steps {
		for _, id := range []uint64{base, base + 1} {
			sq.SetSequence(Sequence{ID: id, StringID: stringID, Start: i == 0, End: i == steps-1})
			if _, err := call.Do(ctx); err != nil {
				t.Fatalf("sequence %d step %d: %v", id, i, err)
			}
			sums[id] += 5 // every request of seqRequest(5) adds 5
			if got := seqOutput(t, call); got != sums[id] {
				t.Fatalf("sequence %d step %d: running sum %d, want %d", id, i, got, sums[id])
			}
		}
	}
}

// clearSequence checks that SetSequence of no ID sends none: the model
// refuses a request without sequence_id.
func clearSequence(t *testing.T, call Call) {
	t.Helper()
	call.(Sequencer).SetSequence(Sequence{})
	if _, err := call.Do(testCtx(t)); err == nil {
		t.Error("a request after SetSequence(Sequence{}) carried a sequence id")
	}
}

func TestSequenceUnary(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, tr.opts(s))
			for i, stringID := range []bool{false, true} {
				call := newCall(t, c, seqRequest(5))
				runSequences(t, call, stringID, uint64(10+10*i))
				clearSequence(t, call)
				runSequences(t, call, stringID, uint64(15+10*i))
			}
		})
	}
}

func TestSequenceCycle(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports()[:2] {
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, tr.opts(s))
			var ps []Prepared
			for range 3 {
				p, err := c.Prepare(seqRequest(5))
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, p)
			}
			call, err := Cycle(ps, 0)
			if err != nil {
				t.Fatal(err)
			}
			runSequences(t, call, false, 40)
			clearSequence(t, call)
		})
	}
}

// A request whose own Parameters carry sequence flags: SetSequence wins
// (and SetSequence of no ID leaves the request's own).
func TestSequenceOverridesParameters(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports()[:2] {
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, tr.opts(s))
			req := seqRequest(5)
			req.Parameters = map[string]any{ParamSequenceID: 999, ParamSequenceStart: true, ParamSequenceEnd: true, "other": "x"}
			runSequences(t, newCall(t, c, req), false, 50)
		})
	}
}

func TestAppendPBSequence(t *testing.T) {
	str := func(s string) *inferencepb.InferParameter {
		return &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: s}}
	}
	u64 := func(v uint64) *inferencepb.InferParameter {
		return &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_Uint64Param{Uint64Param: v}}
	}
	boolean := func(v bool) *inferencepb.InferParameter {
		return &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: v}}
	}
	tests := []struct {
		name string
		s    Sequence
		own  seqOwn
		want map[string]*inferencepb.InferParameter
	}{
		{"none", Sequence{}, 0, map[string]*inferencepb.InferParameter{"keep": boolean(true)}},
		{"id only", Sequence{ID: 7}, 0, map[string]*inferencepb.InferParameter{"keep": boolean(true), ParamSequenceID: u64(7)}},
		{"start", Sequence{ID: 1 << 40, Start: true}, 0, map[string]*inferencepb.InferParameter{"keep": boolean(true), ParamSequenceID: u64(1 << 40), ParamSequenceStart: boolean(true)}},
		{"max string end", Sequence{ID: ^uint64(0), StringID: true, Start: true, End: true}, 0, map[string]*inferencepb.InferParameter{"keep": boolean(true), ParamSequenceID: str("18446744073709551615"), ParamSequenceStart: boolean(true), ParamSequenceEnd: boolean(true)}},
		{"overrides own flags", Sequence{ID: 3}, ownStart | ownEnd, map[string]*inferencepb.InferParameter{"keep": boolean(true), ParamSequenceID: u64(3), ParamSequenceStart: boolean(false), ParamSequenceEnd: boolean(false)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The prepared request's own id loses to the appended one.
			base, err := proto.Marshal(&inferencepb.ModelInferRequest{ModelName: "m", Parameters: map[string]*inferencepb.InferParameter{"keep": boolean(true), ParamSequenceID: u64(999)}})
			if err != nil {
				t.Fatal(err)
			}
			if tt.s.ID == 0 {
				tt.want[ParamSequenceID] = u64(999)
			}
			var q pbSeq
			q.s = tt.s
			var wire []byte
			for _, b := range q.data(mem.BufferSlice{mem.SliceBuffer(base)}, tt.own) {
				wire = append(wire, b.ReadOnlyData()...)
			}
			if tail := appendPBSequence(nil, tt.s, tt.own); len(tail) > pbSeqMax {
				t.Fatalf("%d bytes of sequence entries, more than pbSeqMax %d", len(tail), pbSeqMax)
			}
			var got inferencepb.ModelInferRequest
			if err := proto.Unmarshal(wire, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Parameters) != len(tt.want) {
				t.Fatalf("parameters %v, want %v", got.Parameters, tt.want)
			}
			for k, w := range tt.want {
				if !proto.Equal(got.Parameters[k], w) {
					t.Errorf("parameter %s = %v, want %v", k, got.Parameters[k], w)
				}
			}
		})
	}
}

func TestJSONSeqWindow(t *testing.T) {
	tests := []struct {
		obj    string
		params map[string]any
		s      Sequence
		want   map[string]any
	}{
		{`{"inputs":[]}`, nil, Sequence{}, map[string]any{}},
		{`{}`, nil, Sequence{ID: 5, Start: true}, map[string]any{"sequence_id": 5.0, "sequence_start": true}},
		{`{"inputs":[]}`, map[string]any{"a": 1, "sequence_id": 9, "sequence_end": true}, Sequence{ID: ^uint64(0), StringID: true, Start: true, End: true},
			map[string]any{"a": 1.0, "sequence_id": "18446744073709551615", "sequence_start": true, "sequence_end": true}},
		{`{"id":"x"}`, map[string]any{"a": "b"}, Sequence{}, map[string]any{"a": "b"}},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			body, win, after, err := withSeqWindow([]byte(tt.obj), tt.params)
			if err != nil {
				t.Fatal(err)
			}
			n := len(body)
			writeJSONSeq(body[win:win+jsonSeqWindow], tt.s, after)
			if len(body) != n {
				t.Fatal("the window changed the body's length")
			}
			var got struct {
				Parameters map[string]any `json:"parameters"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if fmt.Sprint(got.Parameters) != fmt.Sprint(tt.want) {
				t.Errorf("%s: parameters %v, want %v", body, got.Parameters, tt.want)
			}
		})
	}
}
