package client

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

func boolParam(b bool) *inferencepb.InferParameter {
	return &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: b}}
}

func TestScanInferResponse(t *testing.T) {
	out := func(n string) *inferencepb.ModelInferResponse_InferOutputTensor {
		return &inferencepb.ModelInferResponse_InferOutputTensor{Name: n, Datatype: "FP32", Shape: []int64{1}}
	}
	tests := []struct {
		name string
		msg  *inferencepb.ModelInferResponse
		want inferSummary
	}{
		{"empty", &inferencepb.ModelInferResponse{}, inferSummary{final: -1}},
		{"two outputs", &inferencepb.ModelInferResponse{ModelName: "m", Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{out("a"), out("b")},
			RawOutputContents: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}}, inferSummary{outputs: 2, raw: 2, final: -1}},
		{"final true", &inferencepb.ModelInferResponse{Parameters: map[string]*inferencepb.InferParameter{
			ParamFinalResponse: boolParam(true), "other": boolParam(false)}}, inferSummary{final: 1}},
		{"final false", &inferencepb.ModelInferResponse{Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{out("a")},
			Parameters: map[string]*inferencepb.InferParameter{ParamFinalResponse: boolParam(false)}}, inferSummary{outputs: 1, final: 0}},
	}
	for _, tt := range tests {
		det := proto.MarshalOptions{Deterministic: true}
		b, err := det.Marshal(tt.msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := scanInferResponse(b)
		if err != nil || got != tt.want {
			t.Errorf("%s: scan = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
		stream, _ := det.Marshal(&inferencepb.ModelStreamInferResponse{InferResponse: tt.msg})
		msg, inner, err := scanStreamResponse(stream)
		if err != nil || len(msg) != 0 || string(inner) != string(b) {
			t.Errorf("%s: stream scan = %q, %x, %v", tt.name, msg, inner, err)
		}
	}
	b, _ := proto.Marshal(&inferencepb.ModelStreamInferResponse{ErrorMessage: "boom"})
	if msg, _, err := scanStreamResponse(b); err != nil || string(msg) != "boom" {
		t.Errorf("stream error message = %q, %v", msg, err)
	}
	for _, bad := range [][]byte{{0x2a}, {0x2a, 0x05, 1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := scanInferResponse(bad); err == nil {
			t.Errorf("scan of %x succeeded", bad)
		}
	}
}

// The allocation-free scanner agrees with the protobuf library.
func FuzzScanInferResponse(f *testing.F) {
	for _, m := range []*inferencepb.ModelInferResponse{
		{},
		{ModelName: "m", Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{{Name: "a"}}, RawOutputContents: [][]byte{{1}}},
		{Parameters: map[string]*inferencepb.InferParameter{ParamFinalResponse: boolParam(true)}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := scanInferResponse(b)
		var m inferencepb.ModelInferResponse
		perr := proto.Unmarshal(b, &m)
		if perr != nil {
			return // the scanner may be more lenient (it skips what it does not read)
		}
		if err != nil {
			t.Fatalf("proto decodes %x but the scanner fails: %v", b, err)
		}
		if s.outputs != len(m.GetOutputs()) {
			t.Fatalf("scanner counts %d outputs, proto %d", s.outputs, len(m.GetOutputs()))
		}
		want := -1
		if p, ok := m.GetParameters()[ParamFinalResponse]; ok {
			want = 0
			if p.GetBoolParam() {
				want = 1
			}
		}
		if s.final != want {
			t.Fatalf("scanner final %d, proto %d", s.final, want)
		}
	})
}
