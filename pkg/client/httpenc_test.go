package client

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func int32Data(vals ...int32) []byte {
	var out []byte
	for _, v := range vals {
		out = binary.LittleEndian.AppendUint32(out, uint32(v))
	}
	return out
}

func seq32(n int, f func(i int) int32) []byte {
	var out []byte
	for i := range n {
		out = binary.LittleEndian.AppendUint32(out, uint32(f(i)))
	}
	return out
}

// simpleRequest is Triton's "simple" example request.
func simpleRequest() *InferRequest {
	return &InferRequest{
		Model: "simple",
		ID:    "req-1",
		Inputs: []Tensor{
			{Name: "INPUT0", Datatype: TypeInt32, Shape: []int64{1, 16}, Data: seq32(16, func(i int) int32 { return int32(i) })},
			{Name: "INPUT1", Datatype: TypeInt32, Shape: []int64{1, 16}, Data: seq32(16, func(int) int32 { return 1 })},
		},
		Outputs:    []string{"OUTPUT0", "OUTPUT1"},
		Parameters: map[string]any{"sequence_id": uint64(42), "sequence_start": true, "priority": 1, "tag": "a<b>"},
	}
}

func allTypesRequest() *InferRequest {
	req := &InferRequest{Model: "all", Version: "3"}
	for _, dt := range Datatypes() {
		req.Inputs = append(req.Inputs, Tensor{
			Name: "IN_" + dt, Datatype: dt, Shape: []int64{2, 3}, Data: sampleData(dt, 6),
			Parameters: map[string]any{"p": 0.5},
		})
	}
	req.Inputs = append(req.Inputs, Tensor{Name: "SCALAR", Datatype: TypeFP64, Data: sampleData(TypeFP64, 1)})
	return req
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

// The request bodies the HTTP client sends, byte for byte.
func TestHTTPRequestGolden(t *testing.T) {
	tests := []struct {
		name                string
		req                 *InferRequest
		binaryIn, binaryOut bool
	}{
		{"json_simple", simpleRequest(), false, false},
		{"json_all_types", allTypesRequest(), false, false},
		{"binary_simple_header", simpleRequest(), true, true},
		{"binary_all_types_header", allTypesRequest(), true, true},
		{"binary_in_json_out_header", simpleRequest(), true, false},
		{"json_in_binary_out", simpleRequest(), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checked, err := checkRequest(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			body, headerLen, err := encodeHTTPRequest(checked, tt.binaryIn, tt.binaryOut)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(body[:max(headerLen, 0)]) && tt.binaryIn {
				t.Fatalf("header of %d bytes is not JSON: %q", headerLen, body[:headerLen])
			}
			if !tt.binaryIn {
				if headerLen != -1 || !json.Valid(body) {
					t.Fatalf("JSON body: headerLen %d, valid %v", headerLen, json.Valid(body))
				}
				checkGolden(t, tt.name, append(body, '\n'))
				return
			}
			var tail []byte
			for _, in := range tt.req.Inputs {
				tail = append(tail, in.Data...)
			}
			if !bytes.Equal(body[headerLen:], tail) {
				t.Fatalf("binary part is not the inputs' data in order")
			}
			checkGolden(t, tt.name, append(body[:headerLen:headerLen], '\n'))
		})
	}
}

// The caller's parameter maps are never modified by encoding.
func TestEncodeLeavesRequestAlone(t *testing.T) {
	req := simpleRequest()
	req.Inputs[0].Parameters = map[string]any{"x": 1}
	checked, err := checkRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := encodeHTTPRequest(checked, true, true); err != nil {
		t.Fatal(err)
	}
	if len(req.Parameters) != 4 || len(req.Inputs[0].Parameters) != 1 {
		t.Fatalf("encoding changed the request's parameters: %v, %v", req.Parameters, req.Inputs[0].Parameters)
	}
}

func TestCheckRequest(t *testing.T) {
	ok := func() *InferRequest { return simpleRequest() }
	tests := []struct {
		name    string
		mutate  func(*InferRequest)
		wantErr string
	}{
		{"ok", func(*InferRequest) {}, ""},
		{"no model", func(r *InferRequest) { r.Model = "" }, "no model"},
		{"dup input", func(r *InferRequest) { r.Inputs[1].Name = "INPUT0" }, "twice"},
		{"dup output", func(r *InferRequest) { r.Outputs = []string{"A", "A"} }, "twice"},
		{"empty output", func(r *InferRequest) { r.Outputs = []string{""} }, "empty name"},
		{"bad data", func(r *InferRequest) { r.Inputs[0].Data = r.Inputs[0].Data[1:] }, "INPUT0"},
		{"bad param", func(r *InferRequest) { r.Parameters["x"] = []int{1} }, `"x"`},
		{"bad tensor param", func(r *InferRequest) { r.Inputs[0].Parameters = map[string]any{"y": struct{}{}} }, `"y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			tt.mutate(r)
			_, err := checkRequest(r)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
	if _, err := checkRequest(nil); err == nil {
		t.Fatal("nil request accepted")
	}
}

func TestDecodeHTTPResponse(t *testing.T) {
	bin := append(int32Data(1, 2), int32Data(3)...)
	header := `{"model_name":"m","model_version":"1","id":"x","parameters":{"n":7,"big":18446744073709551615,"f":0.5,"s":"v","b":true},` +
		`"outputs":[{"name":"A","datatype":"INT32","shape":[2],"parameters":{"binary_data_size":8}},` +
		`{"name":"B","datatype":"INT32","shape":[1],"parameters":{"binary_data_size":4}},` +
		`{"name":"C","datatype":"BYTES","shape":[2],"data":["hi",""]}]}`
	body := append([]byte(header), bin...)
	r, err := decodeHTTPResponse(body, len(header))
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != "m" || r.Version != "1" || r.ID != "x" || len(r.Outputs) != 3 {
		t.Fatalf("decoded %+v", r)
	}
	wantParams := map[string]any{"n": int64(7), "big": uint64(18446744073709551615), "f": 0.5, "s": "v", "b": true}
	for k, v := range wantParams {
		if r.Parameters[k] != v {
			t.Errorf("parameter %s = %#v, want %#v", k, r.Parameters[k], v)
		}
	}
	if !bytes.Equal(r.Outputs[0].Data, int32Data(1, 2)) || !bytes.Equal(r.Outputs[1].Data, int32Data(3)) {
		t.Errorf("binary outputs = %x, %x", r.Outputs[0].Data, r.Outputs[1].Data)
	}
	if want := AppendBytesElement(AppendBytesElement(nil, []byte("hi")), nil); !bytes.Equal(r.Outputs[2].Data, want) {
		t.Errorf("JSON BYTES output = %x, want %x", r.Outputs[2].Data, want)
	}
	if r.Outputs[0].Parameters != nil {
		t.Errorf("binary_data_size leaked into parameters: %v", r.Outputs[0].Parameters)
	}

	bad := []struct {
		name      string
		body      string
		headerLen int
	}{
		{"header too long", `{}`, 3},
		{"invalid header len", `{}`, -2},
		{"not json", `nope`, -1},
		{"short binary", `{"outputs":[{"name":"A","datatype":"INT32","shape":[1],"parameters":{"binary_data_size":4}}]}xx`, 92},
		{"leftover binary", `{"outputs":[]}xx`, 14},
		{"shape mismatch", `{"outputs":[{"name":"A","datatype":"INT32","shape":[2],"data":[1]}]}`, -1},
		{"negative size", `{"outputs":[{"name":"A","datatype":"INT32","shape":[0],"parameters":{"binary_data_size":-4}}]}`, -1},
		{"bad data", `{"outputs":[{"name":"A","datatype":"INT32","shape":[1],"data":["x"]}]}`, -1},
	}
	for _, tt := range bad {
		if r, err := decodeHTTPResponse([]byte(tt.body), tt.headerLen); err == nil {
			t.Errorf("%s: decoded %+v, want an error", tt.name, r)
		}
	}
}

func FuzzSplitInferBody(f *testing.F) {
	f.Add([]byte(`{"outputs":[]}`), -1)
	f.Add([]byte(`{"outputs":[]}abc`), 14)
	f.Add([]byte(`{}`), 9)
	f.Add([]byte(``), 0)
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		header, bin, err := splitInferBody(body, headerLen)
		if err != nil {
			return
		}
		if len(header)+len(bin) != len(body) || !bytes.Equal(append(bytes.Clone(header), bin...), body) {
			t.Fatalf("split of %q at %d lost bytes: %q + %q", body, headerLen, header, bin)
		}
		if headerLen >= 0 && len(header) != headerLen {
			t.Fatalf("header is %d bytes, want %d", len(header), headerLen)
		}
	})
}

func FuzzDecodeHTTPResponse(f *testing.F) {
	h := `{"model_name":"m","outputs":[{"name":"A","datatype":"INT32","shape":[2],"parameters":{"binary_data_size":8}}]}`
	f.Add(append([]byte(h), int32Data(1, 2)...), len(h))
	f.Add([]byte(`{"outputs":[{"name":"C","datatype":"BYTES","shape":[1],"data":["hi"]}]}`), -1)
	f.Add([]byte(`{"outputs":[{"name":"F","datatype":"FP16","shape":[1,2],"data":[[1.5],[2]]}]}`), -1)
	f.Add([]byte(`{"outputs":[{"name":"A","datatype":"INT8","shape":[1],"parameters":{"binary_data_size":1e300}}]}x`), 96)
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		r, err := decodeHTTPResponse(body, headerLen)
		if err != nil {
			return
		}
		// Whatever decodes is self-consistent.
		for _, o := range r.Outputs {
			if err := CheckTensor(&o); err != nil && o.Parameters["shared_memory_region"] == nil {
				t.Fatalf("decoded output fails its own check: %v", err)
			}
		}
	})
}
