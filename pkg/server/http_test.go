package server_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func TestHTTPMetadataGolden(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) {
		o.Delay.Instances = 2
		o.Delay.DynamicBatching = true
		o.Delay.MaxQueueDelay = 100e3 // 100µs
	})
	h := newHTTPClient(t, s.HTTPAddr)
	tests := []struct {
		name, method, path, body string
	}{
		{"server_metadata", "GET", "/v2", ""},
		{"identity_metadata", "GET", "/v2/models/identity", ""},
		{"identity_metadata_version", "GET", "/v2/models/identity/versions/1", ""},
		{"simple_metadata", "GET", "/v2/models/simple", ""},
		{"simple_config", "GET", "/v2/models/simple/config", ""},
		{"delay_config", "GET", "/v2/models/delay/config", ""},
		{"sequence_config", "GET", "/v2/models/sequence/config", ""},
		{"repeat_config", "GET", "/v2/models/repeat/config", ""},
		{"repeat_metadata", "GET", "/v2/models/repeat", ""},
		{"repository_index", "POST", "/v2/repository/index", `{}`},
		{"simple_stats_fresh", "GET", "/v2/models/simple/stats", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(tt.method, tt.path, nil, []byte(tt.body))
			if r.status != http.StatusOK {
				t.Fatalf("%s %s: status %d, want 200: %s", tt.method, tt.path, r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			checkGolden(t, tt.name, r.body)
		})
	}
}

func TestHTTPStatsGolden(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	body := `{"inputs":[{"name":"INPUT0","shape":[2,16],"datatype":"INT32","data":[` + strings.Repeat("1,", 31) + `1]},` +
		`{"name":"INPUT1","shape":[2,16],"datatype":"INT32","data":[` + strings.Repeat("2,", 31) + `2]}]}`
	for range 3 {
		if r := h.inferJSON("simple", body); r.status != http.StatusOK {
			t.Fatalf("infer: %d %s", r.status, r.body)
		}
	}
	if r := h.inferJSON("simple", `{"inputs":[]}`); r.status != http.StatusBadRequest {
		t.Fatalf("empty inputs: %d, want 400", r.status)
	}
	r := h.get("/v2/models/simple/stats")
	if r.status != http.StatusOK {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
	checkGolden(t, "simple_stats_after", maskTimings(r.body))

	all := h.get("/v2/models/stats")
	var got struct {
		ModelStats []struct {
			Name           string `json:"name"`
			InferenceCount uint64 `json:"inference_count"`
		} `json:"model_stats"`
	}
	if err := json.Unmarshal(all.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.ModelStats) != len(s.Models()) {
		t.Errorf("/v2/models/stats lists %d models, the server has %d", len(got.ModelStats), len(s.Models()))
	}
	for _, m := range got.ModelStats {
		want := uint64(0)
		if m.Name == "simple" {
			want = 6
		}
		if m.InferenceCount != want {
			t.Errorf("%s inference_count = %d, want %d", m.Name, m.InferenceCount, want)
		}
	}
}

func TestHTTPHealth(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	for _, p := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/simple/ready", "/v2/models/simple/versions/1/ready"} {
		if r := h.get(p); r.status != http.StatusOK || len(r.body) != 0 {
			t.Errorf("GET %s: %d %q, want 200 and an empty body", p, r.status, r.body)
		}
	}
}

// errorBody checks r is a JSON error with the status and a message
// containing every fragment.
func errorBody(t *testing.T, r httpResult, status int, fragments ...string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r.body)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("body is not {\"error\": ...}: %s", r.body)
	}
	for _, f := range fragments {
		if !strings.Contains(e.Error, f) {
			t.Errorf("error %q does not mention %q", e.Error, f)
		}
	}
}

func TestHTTPErrors(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	ok := `{"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`
	tests := []struct {
		name      string
		method    string
		path      string
		header    map[string]string
		body      string
		status    int
		fragments []string
	}{
		{"unknown model metadata", "GET", "/v2/models/nope", nil, "", 404, []string{`"nope"`, "identity"}},
		{"unknown model config", "GET", "/v2/models/nope/config", nil, "", 404, []string{`"nope"`}},
		{"unknown model ready", "GET", "/v2/models/nope/ready", nil, "", 404, []string{`"nope"`}},
		{"unknown model stats", "GET", "/v2/models/nope/stats", nil, "", 404, []string{`"nope"`}},
		{"unknown model infer", "POST", "/v2/models/nope/infer", nil, ok, 404, []string{`"nope"`}},
		{"unknown version", "GET", "/v2/models/identity/versions/2", nil, "", 404, []string{`version "2"`}},
		{"unknown version infer", "POST", "/v2/models/identity/versions/7/infer", nil, ok, 404, []string{`version "7"`}},
		{"unknown endpoint", "GET", "/v3/whatever", nil, "", 404, []string{"/v3/whatever"}},
		{"malformed JSON", "POST", "/v2/models/identity/infer", nil, `{"inputs":[`, 400, []string{"malformed JSON"}},
		{"no inputs", "POST", "/v2/models/identity/infer", nil, `{"inputs":[]}`, 400, []string{"no inputs"}},
		{"unknown input", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"X","shape":[1,1],"datatype":"FP32","data":[1]}]}`, 400, []string{`"X"`, "INPUT0"}},
		{"wrong datatype", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"INT32","data":[1]}]}`, 400, []string{"INT32", "FP32"}},
		{"unknown datatype", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FLOAT","data":[1]}]}`, 400, []string{`"FLOAT"`}},
		{"bad rank", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[2],"datatype":"FP32","data":[1,2]}]}`, 400, []string{"[2]", "[-1 -1]"}},
		{"fixed dim mismatch", "POST", "/v2/models/simple/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,3],"datatype":"INT32","data":[1,2,3]},{"name":"INPUT1","shape":[1,3],"datatype":"INT32","data":[1,2,3]}]}`, 400, []string{"[1 3]", "[-1 16]"}},
		{"batch too big", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[9,1],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9]}]}`, 400, []string{"batch size 9", "1 to 8"}},
		{"negative dim", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,-2],"datatype":"FP32","data":[1]}]}`, 400, []string{"negative"}},
		{"too few elements", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,3],"datatype":"FP32","data":[1,2]}]}`, 400, []string{"2 elements", "needs 3"}},
		{"too many elements", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":[1,2]}]}`, 400, []string{"more than"}},
		{"not a number", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":["x"]}]}`, 400, []string{"not a number"}},
		{"int out of range", "POST", "/v2/models/identity_int8/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"INT8","data":[300]}]}`, 400, []string{"300", "INT8"}},
		{"no data", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32"}]}`, 400, []string{"no data"}},
		{"missing input", "POST", "/v2/models/simple/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}`, 400, []string{`"INPUT1"`}},
		{"duplicate input", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":[1]},{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":[1]}]}`, 400, []string{"more than once"}},
		{"unknown output", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":[1]}],"outputs":[{"name":"OUT9"}]}`, 400, []string{`"OUT9"`, "OUTPUT0"}},
		{"bad parameter type", "POST", "/v2/models/identity/infer", nil, `{"parameters":{"binary_data_output":"yes"},"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":[1]}]}`, 400, []string{"binary_data_output", "true or false"}},
		{"decoupled over HTTP", "POST", "/v2/models/repeat/infer", nil, `{"inputs":[{"name":"IN","shape":[2],"datatype":"INT32","data":[1,2]}]}`, 501, []string{"HTTP end point doesn't support models with decoupled transaction policy"}},
		{"sequence without id", "POST", "/v2/models/sequence/infer", nil, `{"inputs":[{"name":"INPUT","shape":[1],"datatype":"INT32","data":[1]}]}`, 400, []string{"sequence_id"}},
		{"header length not a number", "POST", "/v2/models/identity/infer", map[string]string{"Inference-Header-Content-Length": "abc"}, ok, 400, []string{`"abc"`}},
		{"header length past body", "POST", "/v2/models/identity/infer", map[string]string{"Inference-Header-Content-Length": "5000"}, ok, 400, []string{"5000", "truncated"}},
		{"binary size past data", "POST", "/v2/models/identity/infer", map[string]string{"Inference-Header-Content-Length": "92"},
			`{"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}` + "1234", 400, []string{"binary_data_size 8", "4 bytes"}},
		{"binary data left over", "POST", "/v2/models/identity/infer", map[string]string{"Inference-Header-Content-Length": "92"},
			`{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}` + "12345678", 400, []string{"8 bytes", "add up to 4"}},
		{"binary size vs shape", "POST", "/v2/models/identity/infer", map[string]string{"Inference-Header-Content-Length": "92"},
			`{"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":4}}]}` + "1234", 400, []string{"4 bytes", "needs 8"}},
		{"malformed BYTES", "POST", "/v2/models/identity_bytes/infer", map[string]string{"Inference-Header-Content-Length": "99"},
			`{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]}` + "\x09\x00\x00\x00ab", 400, []string{"declares 9 bytes"}},
		{"shared memory input", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","parameters":{"shared_memory_region":"r"}}]}`, 400, []string{"shared_memory_byte_size"}},
		{"classification", "POST", "/v2/models/identity/infer", nil, `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":[1]}],"outputs":[{"name":"OUTPUT0","parameters":{"classification":3}}]}`, 501, []string{"classification"}},
		{"repository load", "POST", "/v2/repository/models/simple/load", nil, "", 501, []string{"built in"}},
		{"CUDA shared memory", "GET", "/v2/cudasharedmemory/status", nil, "", 501, []string{"shared memory"}},
		{"malformed index request", "POST", "/v2/repository/index", nil, `{"ready":`, 400, []string{"repository index"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if hl := tt.header["Inference-Header-Content-Length"]; hl == "92" || hl == "99" {
				// The JSON header's length, computed rather than hand-counted.
				hdr := body[:strings.LastIndexByte(body, '}')+1]
				tt.header = map[string]string{"Inference-Header-Content-Length": itoa(len(hdr))}
			}
			errorBody(t, h.do(tt.method, tt.path, tt.header, []byte(body)), tt.status, tt.fragments...)
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// dtypeCase is one datatype's test tensor of three elements.
type dtypeCase struct {
	dt   string
	json string // the data array as the JSON encoding sends it back
	raw  []byte
}

func le16(v ...uint16) []byte {
	var out []byte
	for _, x := range v {
		out = binary.LittleEndian.AppendUint16(out, x)
	}
	return out
}

func le32(v ...uint32) []byte {
	var out []byte
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, x)
	}
	return out
}

func le64(v ...uint64) []byte {
	var out []byte
	for _, x := range v {
		out = binary.LittleEndian.AppendUint64(out, x)
	}
	return out
}

func bytesElems(v ...string) []byte {
	var out []byte
	for _, s := range v {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	return out
}

func dtypeCases() []dtypeCase {
	return []dtypeCase{
		{"BOOL", `[true,false,true]`, []byte{1, 0, 1}},
		{"UINT8", `[0,7,255]`, []byte{0, 7, 255}},
		{"UINT16", `[0,7,65535]`, le16(0, 7, 65535)},
		{"UINT32", `[0,7,4294967295]`, le32(0, 7, 4294967295)},
		{"UINT64", `[0,7,18446744073709551615]`, le64(0, 7, 18446744073709551615)},
		{"INT8", `[-128,0,127]`, []byte{0x80, 0, 127}},
		{"INT16", `[-32768,0,32767]`, le16(0x8000, 0, 32767)},
		{"INT32", `[-2147483648,0,2147483647]`, le32(0x80000000, 0, 2147483647)},
		{"INT64", `[-9223372036854775808,0,9223372036854775807]`, le64(1<<63, 0, 1<<63-1)},
		{"FP16", `[1,2.5,-3]`, le16(0x3c00, 0x4100, 0xc200)},
		{"BF16", `[1,2.5,-3]`, le16(0x3f80, 0x4020, 0xc040)},
		{"FP32", `[1,2.5,-3]`, le32(0x3f800000, 0x40200000, 0xc0400000)},
		{"FP64", `[1,2.5,-3]`, le64(0x3ff0000000000000, 0x4004000000000000, 0xc008000000000000)},
		{"BYTES", `["a","","h\u00e9llo \"q\""]`, bytesElems("a", "", "héllo \"q\"")},
	}
}

func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	dg := json.NewDecoder(bytes.NewReader(got))
	dg.UseNumber()
	dw := json.NewDecoder(bytes.NewReader(want))
	dw.UseNumber()
	if err := dg.Decode(&g); err != nil {
		t.Fatalf("got is not JSON: %v: %s", err, got)
	}
	if err := dw.Decode(&w); err != nil {
		t.Fatalf("want is not JSON: %v: %s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("data = %s, want %s", got, want)
	}
}

// TestHTTPDatatypes sends every datatype through its identity model in all
// four combinations of JSON and binary, in and out.
func TestHTTPDatatypes(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	for _, c := range dtypeCases() {
		model := "identity_" + strings.ToLower(c.dt)
		t.Run(c.dt, func(t *testing.T) {
			jsonIn := `{"id":"j","inputs":[{"name":"INPUT0","shape":[1,3],"datatype":"` + c.dt + `","data":` + c.json + `}]`
			binIn := `{"id":"b","inputs":[{"name":"INPUT0","shape":[1,3],"datatype":"` + c.dt + `","parameters":{"binary_data_size":` + itoa(len(c.raw)) + `}}]`
			binOut := `,"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}`

			check := func(name string, r httpResult, wantBinary bool) {
				t.Helper()
				if r.status != http.StatusOK {
					t.Fatalf("%s: status %d: %s", name, r.status, r.body)
				}
				d := decodeHTTP(t, r)
				o := d.output(t, "OUTPUT0")
				if o.Datatype != c.dt || !reflect.DeepEqual(o.Shape, []int64{1, 3}) {
					t.Errorf("%s: output %s %v, want %s [1 3]", name, o.Datatype, o.Shape, c.dt)
				}
				if d.ModelName != model || d.ModelVersion != "1" {
					t.Errorf("%s: model %q version %q", name, d.ModelName, d.ModelVersion)
				}
				if wantBinary {
					if !bytes.Equal(o.raw, c.raw) {
						t.Errorf("%s: binary output %x, want %x", name, o.raw, c.raw)
					}
					return
				}
				sameJSON(t, o.Data, []byte(c.json))
			}
			check("json->json", h.inferJSON(model, jsonIn+"}"), false)
			check("json->binary", h.inferJSON(model, jsonIn+binOut), true)
			check("binary->json", h.inferBinary(model, binIn+"}", c.raw), false)
			check("binary->binary", h.inferBinary(model, binIn+binOut, c.raw), true)
			check("binary_data_output", h.inferBinary(model, binIn+`,"parameters":{"binary_data_output":true}}`, c.raw), true)
		})
	}
}

func TestHTTPNestedJSONAndOutputSelection(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	in0 := make([]int32, 32)
	in1 := make([]int32, 32)
	var nested0, nested1 [2][16]int32
	for i := range in0 {
		in0[i], in1[i] = int32(i), int32(100*i)
		nested0[i/16][i%16], nested1[i/16][i%16] = in0[i], in1[i]
	}
	j0, _ := json.Marshal(nested0)
	j1, _ := json.Marshal(nested1)
	body := `{"id":"nested","parameters":{"binary_data_output":true},"inputs":[` +
		`{"name":"INPUT0","shape":[2,16],"datatype":"INT32","data":` + string(j0) + `},` +
		`{"name":"INPUT1","shape":[2,16],"datatype":"INT32","data":` + string(j1) + `}],` +
		`"outputs":[{"name":"OUTPUT1","parameters":{"binary_data":false}}]}`
	r := h.inferJSON("simple", body)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	d := decodeHTTP(t, r)
	if d.ID != "nested" || len(d.Outputs) != 1 {
		t.Fatalf("response id %q with %d outputs, want id nested and only OUTPUT1", d.ID, len(d.Outputs))
	}
	var got []int32
	if err := json.Unmarshal(d.output(t, "OUTPUT1").Data, &got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != in0[i]-in1[i] {
			t.Fatalf("OUTPUT1[%d] = %d, want %d", i, got[i], in0[i]-in1[i])
		}
	}
}

// TestHTTPRawBinaryRequest covers Inference-Header-Content-Length: 0, where
// the body is the single input's bytes.
func TestHTTPRawBinaryRequest(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	raw := fp32s(1, 2, 3, 4)
	r := h.do("POST", "/v2/models/identity/infer", map[string]string{"Inference-Header-Content-Length": "0"}, raw)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	o := decodeHTTP(t, r).output(t, "OUTPUT0")
	if !bytes.Equal(o.raw, raw) || !reflect.DeepEqual(o.Shape, []int64{1, 4}) {
		t.Errorf("got %v %x, want [1 4] %x", o.Shape, o.raw, raw)
	}
	errorBody(t, h.do("POST", "/v2/models/simple/infer", map[string]string{"Inference-Header-Content-Length": "0"}, raw), 400, "one input")
}

func TestHTTPCompressedRequest(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	body := `{"inputs":[{"name":"INPUT0","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}`
	var gz, zl bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, _ = gw.Write([]byte(body))
	_ = gw.Close()
	zw := zlib.NewWriter(&zl)
	_, _ = zw.Write([]byte(body))
	_ = zw.Close()
	for _, tc := range []struct {
		enc  string
		body []byte
	}{{"gzip", gz.Bytes()}, {"deflate", zl.Bytes()}} {
		r := h.do("POST", "/v2/models/identity/infer", map[string]string{"Content-Encoding": tc.enc}, tc.body)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.enc, r.status, r.body)
		}
		sameJSON(t, decodeHTTP(t, r).output(t, "OUTPUT0").Data, []byte(`[1,2,3]`))
	}
	errorBody(t, h.do("POST", "/v2/models/identity/infer", map[string]string{"Content-Encoding": "br"}, []byte(body)), 400, `"br"`)
	errorBody(t, h.do("POST", "/v2/models/identity/infer", map[string]string{"Content-Encoding": "gzip"}, []byte(body)), 400, "gzip")
	errorBody(t, h.do("POST", "/v2/models/identity/infer", map[string]string{"Content-Encoding": "gzip"}, gz.Bytes()[:len(gz.Bytes())/2]), 400, "reading the request body")
}

func TestHTTPBodyLimit(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) { o.MaxRequestBytes = 1000 })
	h := newHTTPClient(t, s.HTTPAddr)
	big := `{"inputs":[{"name":"INPUT0","shape":[1,600],"datatype":"FP32","data":[` + strings.Repeat("1,", 599) + `1]}]}`
	errorBody(t, h.inferJSON("identity", big), 400, "limit of 1000")
}

// TestHTTPRepeatedBinaryHeader: the same JSON header with new tensor bytes
// each time (what a load generator sends) returns the new bytes each time.
func TestHTTPRepeatedBinaryHeader(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	hdr := `{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","parameters":{"binary_data_size":64}},` +
		`{"name":"INPUT1","shape":[1,16],"datatype":"INT32","parameters":{"binary_data_size":64}}],"parameters":{"binary_data_output":true}}`
	for i := range int32(5) {
		a, b := make([]int32, 16), make([]int32, 16)
		for j := range a {
			a[j], b[j] = i*100+int32(j), i
		}
		r := h.inferBinary("simple", hdr, int32s(a...), int32s(b...))
		if r.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		got := decodeInt32s(t, decodeHTTP(t, r).output(t, "OUTPUT0").raw)
		for j := range got {
			if got[j] != a[j]+b[j] {
				t.Fatalf("request %d element %d: %d, want %d", i, j, got[j], a[j]+b[j])
			}
		}
	}
	// The same header with too little data is still caught.
	errorBody(t, h.inferBinary("simple", hdr, int32s(make([]int32, 16)...)), 400, "binary_data_size 64")
}
