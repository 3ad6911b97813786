package client

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// simpleBinaryReply is the reference server's answer to the simple model
// with binary outputs: the header, then 2 × 64 bytes.
const simpleBinaryHeader = `{"model_name":"simple","model_version":"1","outputs":[` +
	`{"name":"OUTPUT0","datatype":"INT32","shape":[1,16],"parameters":{"binary_data_size":64}},` +
	`{"name":"OUTPUT1","datatype":"INT32","shape":[1,16],"parameters":{"binary_data_size":64}}]}`

func simpleBinaryBody() []byte { return append([]byte(simpleBinaryHeader), make([]byte, 128)...) }

// wantErr checks err against want: "" for success, else a part of the message.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("check: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("check: %v, want an error containing %q", err, want)
	}
}

func TestCheckHTTP(t *testing.T) {
	both := []string{"OUTPUT0", "OUTPUT1"}
	jsonOut := `{"outputs":[{"name":"O","datatype":"INT32","shape":[1],"data":[7]}]}`
	tests := []struct {
		name      string
		want      []string
		body      string
		headerLen int
		err       string // "" for success
	}{
		{"binary", both, string(simpleBinaryBody()), len(simpleBinaryHeader), ""},
		{"binary, any outputs", nil, string(simpleBinaryBody()), len(simpleBinaryHeader), ""},
		{"binary, one asked", []string{"OUTPUT1"}, string(simpleBinaryBody()), len(simpleBinaryHeader), ""},
		{"binary short", both, string(simpleBinaryBody()[:len(simpleBinaryHeader)+124]), len(simpleBinaryHeader), "binary outputs declare 128 bytes, the body carries 124"},
		{"binary long", both, string(simpleBinaryBody()) + "x", len(simpleBinaryHeader), "declare 128 bytes, the body carries 129"},
		{"header length past body", both, "{}", 5, "exceeds"},
		{"json", []string{"O"}, jsonOut, -1, ""},
		{"json escaped name", []string{"O\u00e9/"}, `{"outputs":[{"name":"O\u00e9\/","data":[]}]}`, -1, ""},
		{"json surrogate pair name", []string{"😀"}, `{"outputs":[{"name":"\ud83d\ude00","data":[]}]}`, -1, ""},
		{"json missing output", []string{"O", "P"}, jsonOut, -1, `response has no output "P"`},
		{"json no data", nil, `{"outputs":[{"name":"O"}]}`, -1, `response output "O" has neither "data" nor binary_data_size`},
		{"shared memory", nil, `{"outputs":[{"name":"O","parameters":{"shared_memory_region":"r"}}]}`, -1, ""},
		{"no outputs", nil, `{"outputs":[]}`, -1, "response has no outputs"},
		{"no outputs key", nil, `{"model_name":"m"}`, -1, `response has no "outputs" array`},
		{"outputs not array", nil, `{"outputs":{}}`, -1, `"outputs" is not an array`},
		{"output not object", nil, `{"outputs":[1]}`, -1, "output 0 is not an object"},
		{"output without name", nil, `{"outputs":[{"data":[]}]}`, -1, "output 0 has no name"},
		{"negative size", nil, `{"outputs":[{"name":"O","parameters":{"binary_data_size":-1}}]}`, -1, "not a non-negative integer"},
		{"fractional size", nil, `{"outputs":[{"name":"O","parameters":{"binary_data_size":1.5}}]}`, -1, "not a non-negative integer"},
		{"html", nil, "<html><body>hello</body></html>", -1, `response is not a v2 JSON object (starts with "<html><body>hell")`},
		{"array", nil, `[{"outputs":[]}]`, -1, "not a v2 JSON object"},
		{"empty", nil, ``, -1, "not a v2 JSON object"},
		{"trailing garbage", []string{"O"}, jsonOut + "x", -1, "not valid JSON"},
		{"unterminated", []string{"O"}, jsonOut[:len(jsonOut)-1], -1, "not valid JSON"},
		{"bad escape", nil, `{"outputs":[{"name":"\x","data":[]}]}`, -1, "not valid JSON"},
		{"control char", nil, "{\"outputs\":[{\"name\":\"a\tb\",\"data\":[]}]}", -1, "not valid JSON"},
		{"trailing comma", nil, `{"outputs":[{"name":"O","data":[1,]}]}`, -1, "not valid JSON"},
		{"leading zero", nil, `{"outputs":[{"name":"O","data":[01]}]}`, -1, "not valid JSON"},
		{"garbage later", nil, `{"outputs":[{"name":"O","data":[]}],"x":tru}`, -1, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, newOutputCheck(tt.want).checkHTTP([]byte(tt.body), tt.headerLen), tt.err)
		})
	}
}

func TestCheckHTTPDepth(t *testing.T) {
	for _, depth := range []int{jsonMaxDepth - 1, jsonMaxDepth} {
		v := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		body := []byte(`{"x":` + v + `,"outputs":[{"name":"O","data":[]}]}`)
		err := newOutputCheck(nil).checkHTTP(body, -1)
		if valid := json.Valid(body); valid != (err == nil) {
			t.Errorf("depth %d: json.Valid %v, checkHTTP %v", depth+1, valid, err)
		}
	}
}

func TestCheckHTTPDoesNotAllocate(t *testing.T) {
	c := newOutputCheck([]string{"OUTPUT0", "OUTPUT1"})
	body := simpleBinaryBody()
	if n := testing.AllocsPerRun(100, func() {
		if err := c.checkHTTP(body, len(simpleBinaryHeader)); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("checkHTTP allocates %v times per response", n)
	}
}

// The scanner agrees with encoding/json on what is valid JSON, and on the
// names and outputs it finds.
func FuzzScanInferHeader(f *testing.F) {
	for _, s := range []string{
		simpleBinaryHeader,
		`{"outputs":[{"name":"O\u00e9","data":[1,2.5e-3,true,null,"x"]}]}`,
		`{"outputs":[{"name":"\ud83d\ude00","parameters":{"binary_data_size":0}}]}`,
		`{"outputs":[]} `, `[]`, `{"a":{"b":[{}]}}`, `"x"`, `{"outputs":[1,]}`, `{"a" 1}`, "-0.0e+1", "{\"\\u12\":1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := jsonScan{b: b}
		s.value()
		s.end()
		if valid := json.Valid(b); valid != !s.bad {
			t.Fatalf("json.Valid %v, scanner bad %v (at %d) for %q", valid, s.bad, s.i, b)
		}
		var v struct {
			Outputs []struct {
				Name       *string
				Data       json.RawMessage
				Parameters map[string]json.RawMessage
			}
		}
		if json.Unmarshal(b, &v) != nil || len(v.Outputs) == 0 {
			return
		}
		// Ask for every name encoding/json found: the check must find them.
		var names []string
		seen := map[string]bool{}
		for _, o := range v.Outputs {
			if o.Name == nil || seen[*o.Name] || !strings.Contains(string(b), `"name"`) {
				return
			}
			seen[*o.Name] = true
			names = append(names, *o.Name)
		}
		err := newOutputCheck(names).checkHTTP(b, -1)
		if err != nil && strings.Contains(err.Error(), "response has no output") {
			t.Fatalf("encoding/json finds outputs %q, the check says %v", names, err)
		}
	})
}

func TestCheckPB(t *testing.T) {
	out := func(name, dt string, shape ...int64) *inferencepb.ModelInferResponse_InferOutputTensor {
		return &inferencepb.ModelInferResponse_InferOutputTensor{Name: name, Datatype: dt, Shape: shape}
	}
	type O = *inferencepb.ModelInferResponse_InferOutputTensor
	shmOut := func(name, dt string, shape ...int64) O {
		o := out(name, dt, shape...)
		o.Parameters = map[string]*inferencepb.InferParameter{
			"shared_memory_byte_size": {ParameterChoice: &inferencepb.InferParameter_Int64Param{Int64Param: 16}},
			ParamSharedMemoryRegion:   {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: "r"}},
		}
		return o
	}
	bytesData := func(elems ...string) []byte {
		var b []byte
		for _, e := range elems {
			b = append(b, byte(len(e)), 0, 0, 0)
			b = append(b, e...)
		}
		return b
	}
	tests := []struct {
		name string
		want []string
		msg  *inferencepb.ModelInferResponse
		err  string
	}{
		{"simple", []string{"OUTPUT0", "OUTPUT1"}, &inferencepb.ModelInferResponse{
			Outputs:           []O{out("OUTPUT0", "INT32", 1, 16), out("OUTPUT1", "INT32", 1, 16)},
			RawOutputContents: [][]byte{make([]byte, 64), make([]byte, 64)}}, ""},
		{"any", nil, &inferencepb.ModelInferResponse{Outputs: []O{out("A", "FP64", 2)}, RawOutputContents: [][]byte{make([]byte, 16)}}, ""},
		{"missing", []string{"A", "B"}, &inferencepb.ModelInferResponse{Outputs: []O{out("A", "FP64", 2)}, RawOutputContents: [][]byte{make([]byte, 16)}}, `response has no output "B"`},
		{"none", nil, &inferencepb.ModelInferResponse{}, "response has no outputs"},
		{"short", nil, &inferencepb.ModelInferResponse{Outputs: []O{out("A", "FP16", 3)}, RawOutputContents: [][]byte{make([]byte, 5)}}, "need"},
		{"raw count", nil, &inferencepb.ModelInferResponse{Outputs: []O{out("A", "INT8", 1), out("B", "INT8", 1)}, RawOutputContents: [][]byte{{1}}}, "2 outputs but 1 raw_output_contents"},
		{"unknown type", nil, &inferencepb.ModelInferResponse{Outputs: []O{out("A", "INT3", 1)}, RawOutputContents: [][]byte{{1}}}, `unknown datatype "INT3"`},
		{"negative dim", nil, &inferencepb.ModelInferResponse{Outputs: []O{out("A", "INT8", -1)}, RawOutputContents: [][]byte{{1}}}, "negative"},
		{"huge shape", nil, &inferencepb.ModelInferResponse{Outputs: []O{out("A", "INT64", 1<<40, 1<<40)}, RawOutputContents: [][]byte{{1}}}, "shape"},
		{"bytes", []string{"S"}, &inferencepb.ModelInferResponse{Outputs: []O{out("S", "BYTES", 2)}, RawOutputContents: [][]byte{bytesData("ab", "")}}, ""},
		{"bytes count", nil, &inferencepb.ModelInferResponse{Outputs: []O{out("S", "BYTES", 3)}, RawOutputContents: [][]byte{bytesData("ab", "")}}, "needs 3 BYTES elements"},
		{"bytes overrun", nil, &inferencepb.ModelInferResponse{Outputs: []O{out("S", "BYTES", 1)}, RawOutputContents: [][]byte{{9, 0, 0, 0, 1}}}, "overruns"},
		{"contents", []string{"C"}, &inferencepb.ModelInferResponse{Outputs: []O{{Name: "C", Datatype: "INT32", Shape: []int64{2},
			Contents: &inferencepb.InferTensorContents{IntContents: []int32{1, 2}}}}}, ""},
		{"scalar", nil, &inferencepb.ModelInferResponse{Outputs: []O{out("A", "BOOL")}, RawOutputContents: [][]byte{{1}}}, ""},
		// Shared memory: an output there has no data, with an empty raw
		// entry or (Triton) none.
		{"shm empty raw", []string{"A", "B"}, &inferencepb.ModelInferResponse{Outputs: []O{shmOut("A", "INT32", 4), out("B", "INT8", 1)}, RawOutputContents: [][]byte{{}, {1}}}, ""},
		{"shm no raw", []string{"A", "B"}, &inferencepb.ModelInferResponse{Outputs: []O{shmOut("A", "INT32", 4), out("B", "INT8", 1)}, RawOutputContents: [][]byte{{1}}}, ""},
		{"shm all", []string{"A"}, &inferencepb.ModelInferResponse{Outputs: []O{shmOut("A", "INT32", 4)}}, ""},
		{"shm and raw", nil, &inferencepb.ModelInferResponse{Outputs: []O{shmOut("A", "INT8", 1)}, RawOutputContents: [][]byte{{1}}}, "also has 1 raw bytes"},
		{"shm raw count", nil, &inferencepb.ModelInferResponse{Outputs: []O{shmOut("A", "INT8", 1), out("B", "INT8", 1), out("C", "INT8", 1)}, RawOutputContents: [][]byte{{1}}}, "3 outputs but 1 raw_output_contents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := scanInferResponse(b)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, newOutputCheck(tt.want).checkPB(b, s), tt.err)
		})
	}
}

// Wrong answers over real sockets fail as "protocol" on every transport.
func TestWrongAnswers(t *testing.T) {
	reply := func(body string, extra string) rawReply {
		return rawReply{"HTTP/1.1 200 OK\r\n" + extra + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, false}
	}
	binHeader := `{"outputs":[{"name":"O","datatype":"INT32","shape":[1],"parameters":{"binary_data_size":4}}]}`
	tests := []struct {
		name  string
		reply rawReply
		inMsg string
	}{
		{"html", reply("<html>oops</html>", ""), `starts with "<html>`},
		{"garbage", reply("\x00\x01\x02", ""), "not a v2 JSON object"},
		{"wrong shape", reply(`{"result":[7]}`, ""), `no "outputs"`},
		{"wrong output", reply(`{"outputs":[{"name":"P","data":[7]}]}`, ""), `response has no output "O"`},
		{"binary short", reply(binHeader+"\x07\x00", "Inference-Header-Content-Length: "+strconv.Itoa(len(binHeader))+"\r\n"),
			"binary outputs declare 4 bytes, the body carries 2"},
	}
	for _, tt := range tests {
		for _, tr := range httpTransports {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				s := startRawServer(t, func(int) rawReply { return tt.reply })
				req := echoRequest()
				req.Outputs = []string{"O"}
				_, err := newCall(t, newClient(t, jsonOpts(s.url(), tr)), req).Do(testCtx(t))
				if !errors.Is(err, ErrServer) || Class(err) != "protocol" || !strings.Contains(err.Error(), tt.inMsg) {
					t.Errorf("Do: %v (class %q), want ErrServer, protocol, naming %q", err, Class(err), tt.inMsg)
				}
			})
		}
	}
}

// wrongGRPC answers ModelInfer with resp.
type wrongGRPC struct {
	fakeGRPC
	resp *inferencepb.ModelInferResponse
}

func (f *wrongGRPC) ModelInfer(context.Context, *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	return f.resp, nil
}

func TestGRPCWrongAnswers(t *testing.T) {
	type O = *inferencepb.ModelInferResponse_InferOutputTensor
	tests := []struct {
		name  string
		resp  *inferencepb.ModelInferResponse
		limit int64
		class string
		inMsg string
	}{
		{"wrong output", &inferencepb.ModelInferResponse{Outputs: []O{{Name: "P", Datatype: "INT32", Shape: []int64{1}}},
			RawOutputContents: [][]byte{make([]byte, 4)}}, 0, "protocol", `response has no output "O"`},
		{"wrong size", &inferencepb.ModelInferResponse{Outputs: []O{{Name: "O", Datatype: "INT32", Shape: []int64{2}}},
			RawOutputContents: [][]byte{make([]byte, 4)}}, 0, "protocol", "need"},
		{"too large", &inferencepb.ModelInferResponse{Outputs: []O{{Name: "O", Datatype: "INT8", Shape: []int64{4096}}},
			RawOutputContents: [][]byte{make([]byte, 4096)}}, 1024, "too_large", "1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &wrongGRPC{resp: tt.resp}
			addr := serveGRPC(t, f)
			req := echoRequest()
			req.Outputs = []string{"O"}
			_, err := newCall(t, newClient(t, Options{Protocol: GRPC, URL: addr, MaxResponseSize: tt.limit}), req).Do(testCtx(t))
			if Class(err) != tt.class || !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("Do: %v (class %q), want class %q naming %q", err, Class(err), tt.class, tt.inMsg)
			}
		})
	}
}

// checkPB never panics, and on what protobuf decodes it agrees with
// datatype.CheckData about every raw output.
func FuzzCheckPB(f *testing.F) {
	for _, m := range []*inferencepb.ModelInferResponse{
		{Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{{Name: "A", Datatype: "INT32", Shape: []int64{1, 2}}}, RawOutputContents: [][]byte{make([]byte, 8)}},
		{Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{{Name: "S", Datatype: "BYTES", Shape: []int64{1}}}, RawOutputContents: [][]byte{{1, 0, 0, 0, 'x'}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := scanInferResponse(b)
		if err != nil {
			return
		}
		err = newOutputCheck(nil).checkPB(b, s)
		var m inferencepb.ModelInferResponse
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		want := len(m.GetOutputs()) > 0 && (len(m.GetRawOutputContents()) == 0 || len(m.GetRawOutputContents()) == len(m.GetOutputs()))
		for i, raw := range m.GetRawOutputContents() {
			if !want || i >= len(m.GetOutputs()) {
				break
			}
			o := m.GetOutputs()[i]
			typ := lookupType([]byte(o.GetDatatype()))
			want = typ.Valid() && datatype.CheckData(typ, o.GetShape(), raw) == nil
		}
		if (err == nil) != want {
			t.Fatalf("checkPB: %v; protobuf and CheckData say valid=%v for %v", err, want, &m)
		}
	})
}
