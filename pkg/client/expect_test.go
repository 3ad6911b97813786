package client

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// expectedSimple is simpleRequest with the simple model's answers
// expected; bad, when >= 0, spoils OUTPUT1's element bad.
func expectedSimple(bad int) *InferRequest {
	req := simpleRequest()
	req.Parameters = nil
	out1 := seq32(16, func(i int) int32 {
		if i == bad {
			return 99
		}
		return int32(i) - 1
	})
	req.Expected = []Tensor{
		{Name: "OUTPUT0", Datatype: TypeInt32, Shape: []int64{1, 16}, Data: seq32(16, func(i int) int32 { return int32(i) + 1 })},
		{Name: "OUTPUT1", Datatype: TypeInt32, Shape: []int64{1, 16}, Data: out1},
	}
	return req
}

func bytesTensor(name string, elems ...string) Tensor {
	var data []byte
	for _, e := range elems {
		data = datatype.AppendBytesElement(data, []byte(e))
	}
	return Tensor{Name: name, Datatype: TypeBytes, Shape: []int64{1, int64(len(elems))}, Data: data}
}

func TestExpectedOutputs(t *testing.T) {
	s := servertest.Start(t)
	allOutputs := expectedSimple(-1)
	allOutputs.Outputs = nil
	missing := expectedSimple(-1)
	missing.Outputs = nil
	missing.Expected[1].Name = "OUTPUT9"
	short := expectedSimple(-1)
	short.Expected[0].Shape, short.Expected[0].Data = []int64{1, 15}, short.Expected[0].Data[:60]
	in := bytesTensor("INPUT0", "a", "bc", "def")
	bytesOK := &InferRequest{Model: "identity_bytes", Inputs: []Tensor{in}, Expected: []Tensor{bytesTensor("OUTPUT0", "a", "bc", "def")}}
	bytesBad := &InferRequest{Model: "identity_bytes", Inputs: []Tensor{in}, Expected: []Tensor{bytesTensor("OUTPUT0", "a", "bc", "deX")}}
	tests := []struct {
		name string
		req  *InferRequest
		msg  string // "" for success
	}{
		{"match", expectedSimple(-1), ""},
		{"all outputs", allOutputs, ""},
		{"bytes", bytesOK, ""},
		{"differ", expectedSimple(5), `output "OUTPUT1" differs from the expected at element 5`},
		{"differ first", expectedSimple(0), `output "OUTPUT1" differs from the expected at element 0`},
		{"size", short, `output "OUTPUT0" has 64 bytes, expected 60: first difference at element 15`},
		{"bytes differ", bytesBad, `output "OUTPUT0" differs from the expected at element 2`},
		{"missing", missing, `response has no output "OUTPUT9", expected`},
	}
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newClient(t, tr.opts(s))
			for _, tt := range tests {
				call := newCall(t, c, tt.req)
				for range 2 {
					_, err := call.Do(ctx)
					if tt.msg == "" {
						if err != nil {
							t.Fatalf("%s: %v", tt.name, err)
						}
						continue
					}
					e, ok := errors.AsType[*Error](err)
					if !ok || !errors.Is(err, ErrValidation) || e.Class != "validation" || e.Message != tt.msg {
						t.Fatalf("%s: error %v (%#v), want validation failure %q", tt.name, err, err, tt.msg)
					}
				}
			}
		})
	}
}

func TestExpectedInvalid(t *testing.T) {
	notRequested := expectedSimple(-1)
	notRequested.Outputs = []string{"OUTPUT0"}
	twice := expectedSimple(-1)
	twice.Expected[1].Name = "OUTPUT0"
	badShape := expectedSimple(-1)
	badShape.Expected[0].Shape = []int64{1, 3}
	for name, req := range map[string]*InferRequest{"not requested": notRequested, "twice": twice, "bad shape": badShape} {
		if _, err := checkRequest(req); err == nil || !strings.Contains(err.Error(), "expected output") {
			t.Errorf("%s: %v, want an error about the expected output", name, err)
		}
	}
}

// Outputs in gRPC contents fields are compared after decoding.
func TestExpectedGRPCContents(t *testing.T) {
	msg, err := proto.Marshal(&inferencepb.ModelInferResponse{ModelName: "simple", Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{{
		Name: "OUTPUT0", Datatype: TypeInt32, Shape: []int64{1, 3},
		Contents: &inferencepb.InferTensorContents{IntContents: []int32{1, 2, 3}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		want []byte
		err  string
	}{
		{int32Data(1, 2, 3), ""},
		{int32Data(1, 2, 4), `output "OUTPUT0" differs from the expected at element 2`},
	} {
		req := &InferRequest{Model: "simple", Expected: []Tensor{{Name: "OUTPUT0", Datatype: TypeInt32, Shape: []int64{1, 3}, Data: tt.want}}}
		checked, err := checkRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		s, err := scanInferResponse(msg)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, checked.outputSpec().newCheck().checkPB(msg, s), tt.err)
	}
}

// Comparing binary outputs allocates nothing, on success or as the check alone.
func TestExpectedNoAllocs(t *testing.T) {
	checked, err := checkRequest(expectedSimple(-1))
	if err != nil {
		t.Fatal(err)
	}
	c := checked.outputSpec().newCheck()
	body := simpleBinaryBody()
	// simpleBinaryBody's outputs are zeros: expect zeros.
	for _, w := range c.want {
		w.Data = make([]byte, 64)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := c.checkHTTP(body, len(simpleBinaryHeader)); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("checkHTTP with expected outputs: %v allocs, want 0", n)
	}
}
