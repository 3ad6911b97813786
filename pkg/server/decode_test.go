package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

func TestSplitBinary(t *testing.T) {
	body := []byte(`{"a":1}BINARY`)
	tests := []struct {
		name, header     string
		wantHdr, wantBin string
		wantErr          string
	}{
		{"no header: all JSON", "", `{"a":1}BINARY`, "", ""},
		{"split", "7", `{"a":1}`, "BINARY", ""},
		{"spaces allowed", " 7 ", `{"a":1}`, "BINARY", ""},
		{"all header", "13", `{"a":1}BINARY`, "", ""},
		{"zero", "0", "", `{"a":1}BINARY`, ""},
		{"past the end", "14", "", "", "only 13 bytes"},
		{"negative", "-1", "", "", "not a byte count"},
		{"not a number", "x", "", "", "not a byte count"},
		{"huge", "99999999999999999999999", "", "", "not a byte count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr, bin, err := splitBinary(body, tt.header)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || kindOf(err) != kindInvalid {
					t.Fatalf("err = %v, want an invalid-request error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(hdr) != tt.wantHdr || string(bin) != tt.wantBin {
				t.Fatalf("got %q %q %v, want %q %q", hdr, bin, err, tt.wantHdr, tt.wantBin)
			}
		})
	}
}

func TestDecodeJSONRequestParameters(t *testing.T) {
	in := `"inputs":[{"name":"I","shape":[1],"datatype":"INT32","data":[1]}]`
	tests := []struct {
		name    string
		body    string
		check   func(*request) bool
		wantErr string
	}{
		{"numeric sequence id", `{"parameters":{"sequence_id":18446744073709551615,"sequence_start":true,"sequence_end":false},` + in + `}`,
			func(r *request) bool { return r.seqID.num == math.MaxUint64 && r.seqStart && !r.seqEnd }, ""},
		{"string sequence id", `{"parameters":{"sequence_id":"s-1","sequence_end":true},` + in + `}`,
			func(r *request) bool { return r.seqID.str == "s-1" && r.seqEnd }, ""},
		{"unknown parameters ignored", `{"id":"x","parameters":{"priority":3,"custom":"v"},` + in + `}`,
			func(r *request) bool { return r.id == "x" }, ""},
		{"request-level binary output", `{"parameters":{"binary_data_output":true},` + in + `,"outputs":[{"name":"O"},{"name":"P","parameters":{"binary_data":false}}]}`,
			func(r *request) bool {
				return r.binaryOutputs && r.outputs[0].binary == -1 && r.outputs[1].binary == 0
			}, ""},
		{"negative sequence id", `{"parameters":{"sequence_id":-4},` + in + `}`, nil, "non-negative integer"},
		{"empty string sequence id", `{"parameters":{"sequence_id":""},` + in + `}`, nil, "empty string"},
		{"sequence_start not bool", `{"parameters":{"sequence_start":1},` + in + `}`, nil, "true or false"},
		{"id not a string", `{"id":5,` + in + `}`, nil, "malformed JSON"},
		{"input without name", `{"inputs":[{"shape":[1],"datatype":"INT32","data":[1]}]}`, nil, "no name"},
		{"input without shape", `{"inputs":[{"name":"I","datatype":"INT32","data":[1]}]}`, nil, "no shape"},
		{"output without name", `{` + in + `,"outputs":[{}]}`, nil, "no name"},
		{"data and binary size", `{"inputs":[{"name":"I","shape":[1],"datatype":"INT32","data":[1],"parameters":{"binary_data_size":4}}]}`, nil, "both"},
		{"binary size not a number", `{"inputs":[{"name":"I","shape":[1],"datatype":"INT32","parameters":{"binary_data_size":"4"}}]}`, nil, "non-negative integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r request
			err := decodeJSONRequest([]byte(tt.body), nil, &r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(&r) {
				t.Fatalf("err %v, request %+v", err, r)
			}
		})
	}
}

func TestElementCount(t *testing.T) {
	tests := []struct {
		shape []int64
		want  int64
		err   bool
	}{
		{nil, 1, false},
		{[]int64{2, 3}, 6, false},
		{[]int64{0, 1 << 62}, 0, false},
		{[]int64{1 << 21, 1 << 21}, 0, true},
		{[]int64{-1}, 0, true},
	}
	for _, tt := range tests {
		got, err := elementCount(tt.shape)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("elementCount(%v) = %d, %v; want %d, err %v", tt.shape, got, err, tt.want, tt.err)
		}
	}
}

func TestServiceTimesMean(t *testing.T) {
	const mean = time.Millisecond
	for _, dist := range []string{"fixed", "exponential", "uniform", "lognormal"} {
		st, err := newServiceTimes(dist, mean, 42)
		if err != nil {
			t.Fatal(err)
		}
		var sum time.Duration
		lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
		const n = 20000
		for range n {
			d := st.next()
			sum += d
			lo, hi = min(lo, d), max(hi, d)
		}
		avg := sum / n
		if avg < mean*95/100 || avg > mean*105/100 {
			t.Errorf("%s: mean of %d draws %v, want %v ±5%%", dist, n, avg, mean)
		}
		if dist == "uniform" && (lo < mean/2 || hi > mean*3/2) {
			t.Errorf("uniform: draws in [%v, %v], want within [%v, %v]", lo, hi, mean/2, mean*3/2)
		}
		if dist == "fixed" && (lo != mean || hi != mean) {
			t.Errorf("fixed: draws in [%v, %v], want exactly %v", lo, hi, mean)
		}
	}
	if _, err := newServiceTimes("gaussian", mean, 1); err == nil || !strings.Contains(err.Error(), "fixed, exponential") {
		t.Errorf("unknown distribution: err = %v", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Options)
		wantErr string
	}{
		{"defaults", func(*Options) {}, ""},
		{"bad distribution", func(o *Options) { o.Delay.Distribution = "normal" }, "normal"},
		{"negative service time", func(o *Options) { o.Delay.ServiceTime = -1 }, "service time"},
		{"too many instances", func(o *Options) { o.Delay.Instances = 5000 }, "instances"},
		{"negative batch", func(o *Options) { o.Delay.MaxBatchSize = -1 }, "max batch"},
		{"negative queue delay", func(o *Options) { o.Delay.MaxQueueDelay = -1 }, "queue delay"},
		{"negative body limit", func(o *Options) { o.MaxRequestBytes = -1 }, "max request bytes"},
		{"negative sequence hold", func(o *Options) { o.SequenceHold = -1 }, "sequence hold"},
		{"negative first response", func(o *Options) { o.Generate.FirstResponse = -1 }, "first response"},
		{"negative gap", func(o *Options) { o.Generate.Gap = -1 }, "between responses"},
		{"too many tokens", func(o *Options) { o.Generate.Tokens = MaxTokens + 1 }, "tokens per request"},
		{"bad generate distribution", func(o *Options) { o.Generate.Distribution = "pareto" }, "pareto"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{}
			tt.mod(&o)
			_, err := New(o)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("New: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// fuzzCore is a core with every model, ready, for fuzzing the whole path.
func fuzzCore() *core {
	d := newDelayBackend(DelayOptions{ServiceTime: time.Microsecond, Distribution: "fixed", Instances: 1, MaxBatchSize: 8})
	opts, err := Options{MaxSequences: 16, SequenceIdle: time.Second,
		Generate: GenerateOptions{FirstResponse: time.Microsecond, Gap: time.Microsecond, Tokens: 2}}.withDefaults()
	if err != nil {
		panic(err) // fixed options: a failure is a bug in this function
	}
	models := append(identityModels(false), simpleModel(), sequenceModel("sequence", false, opts), sequenceModel("sequence_string", true, opts),
		repeatModel(), generateModel(opts.Generate), d.model())
	c := newCore(models)
	c.ready.Store(true)
	return c
}

// FuzzHTTPInferBody drives the HTTP body path (split, JSON decode,
// validation, inline models, response encoding) with arbitrary bodies. It
// must never panic, and every successful response must be valid JSON.
func FuzzHTTPInferBody(f *testing.F) {
	f.Add("identity", "", []byte(`{"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`))
	f.Add("identity_bytes", "", []byte(`{"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"BYTES","data":["a","\u00ff"]}]}`))
	f.Add("identity_bool", "", []byte(`{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"BOOL","data":[[true]]}],"outputs":[{"name":"OUTPUT0"}]}`))
	f.Add("simple", "", []byte(`{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]},{"name":"INPUT1","shape":[1,16],"datatype":"INT32","data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}]}`))
	hdr := `{"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"FP16","parameters":{"binary_data_size":4}}],"parameters":{"binary_data_output":true}}`
	f.Add("identity_fp16", itoaTest(len(hdr)), append([]byte(hdr), 0, 0x3c, 0, 0x7e))
	hdr = `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"BYTES","parameters":{"binary_data_size":7}}]}`
	f.Add("identity_bytes", itoaTest(len(hdr)), append([]byte(hdr), 3, 0, 0, 0, 'a', 0xff, 'c'))
	f.Add("sequence", "", []byte(`{"parameters":{"sequence_id":"x","sequence_start":true},"inputs":[{"name":"INPUT","shape":[1],"datatype":"INT32","data":[1]}]}`))
	f.Add("identity", "5", []byte(`{"inp`))
	c := fuzzCore()
	h := newHTTPFrontend(c, &serverMeta{}, 1<<20)
	f.Fuzz(func(t *testing.T, model, headerLen string, body []byte) {
		m, err := c.lookup(model, "")
		if err != nil || m.name == "delay" { // the delay model needs running instances
			return
		}
		req := request{modelName: model, received: time.Now()}
		if err := h.decodeBody(headerLen, body, &req); err != nil {
			if kindOf(err) == kindInternal {
				t.Fatalf("decode error without a kind: %v", err)
			}
			return
		}
		// A second decode of the same body may come from the header
		// cache; it must produce the same request.
		again := request{modelName: model, received: req.received}
		if err := h.decodeBody(headerLen, body, &again); err != nil {
			t.Fatalf("second decode failed: %v", err)
		}
		if a, b := fmt.Sprintf("%+v", req), fmt.Sprintf("%+v", again); a != b {
			t.Fatalf("decodes differ:\n%s\n%s", a, b)
		}
		var res response
		if err := c.infer(context.Background(), &req, &res); err != nil {
			if kindOf(err) == kindInternal {
				t.Fatalf("infer error without a kind: %v", err)
			}
			return
		}
		w := httptest.NewRecorder()
		out := h.writeResponse(w, &req, &res, nil)
		if !json.Valid(out) {
			t.Fatalf("response header is not valid JSON: %s", out)
		}
	})
}

func itoaTest(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// FuzzGRPCInfer drives the gRPC decode path with arbitrary protobuf bytes.
func FuzzGRPCInfer(f *testing.F) {
	seed := &inferencepb.ModelInferRequest{ModelName: "simple", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{
		{Name: "INPUT0", Datatype: "INT32", Shape: []int64{1, 16}, Contents: &inferencepb.InferTensorContents{IntContents: make([]int32, 16)}},
		{Name: "INPUT1", Datatype: "INT32", Shape: []int64{1, 16}, Contents: &inferencepb.InferTensorContents{IntContents: make([]int32, 16)}},
	}}
	b, _ := proto.Marshal(seed)
	f.Add(b)
	seed = &inferencepb.ModelInferRequest{ModelName: "identity_bytes", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{
		{Name: "INPUT0", Datatype: "BYTES", Shape: []int64{1, 1}}}, RawInputContents: [][]byte{{1, 0, 0, 0, 'x'}}}
	b, _ = proto.Marshal(seed)
	f.Add(b)
	c := fuzzCore()
	f.Fuzz(func(t *testing.T, b []byte) {
		var in inferencepb.ModelInferRequest
		if proto.Unmarshal(b, &in) != nil || in.ModelName == "delay" || in.ModelName == "repeat" {
			return
		}
		req := request{received: time.Now()}
		if err := decodeGRPCRequest(&in, &req); err != nil {
			return
		}
		var res response
		if err := c.infer(context.Background(), &req, &res); err == nil {
			_ = encodeGRPCResponse(&req, &res, newFinalParams())
		}
	})
}

// FuzzGenerateRequest drives the generate extension's request mapping and
// the model run behind it with arbitrary bodies: no panic, every error has
// a kind, every response is valid JSON.
func FuzzGenerateRequest(f *testing.F) {
	f.Add("generate", []byte(`{"text_input":"hi","parameters":{"max_tokens":2,"stream":false}}`))
	f.Add("generate", []byte(`{"text_input":["hi"],"max_tokens":[1],"temperature":0.5}`))
	f.Add("identity", []byte(`{"INPUT0":[[1,2],[3,4]]}`))
	f.Add("identity_bytes", []byte(`{"INPUT0":"\u00ff"}`))
	f.Add("simple", []byte(`{"INPUT0":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"INPUT1":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}`))
	f.Add("sequence", []byte(`{"INPUT":1,"sequence_id":"s","sequence_start":true}`))
	f.Add("identity", []byte(`{"INPUT0":[[1],[2,3]]}`))
	c := fuzzCore()
	f.Fuzz(func(t *testing.T, model string, body []byte) {
		m, err := c.lookup(model, "")
		if err != nil || m.name == "delay" { // the delay model needs running instances
			return
		}
		req := request{modelName: model, received: time.Now()}
		if err := decodeGenerateRequest(m, body, &req); err != nil {
			if kindOf(err) == kindInternal {
				t.Fatalf("decode error without a kind: %v", err)
			}
			return
		}
		if req.maxTokens > 4 {
			req.maxTokens = 4 // keep each run short
		}
		err = c.stream(context.Background(), &req, func(res *response) error {
			if out := appendGenerateResponse(nil, &req, res); !json.Valid(out) {
				t.Fatalf("response is not valid JSON: %s", out)
			}
			return nil
		})
		if err != nil && kindOf(err) == kindInternal {
			t.Fatalf("error without a kind: %v", err)
		}
	})
}

func TestJSONShape(t *testing.T) {
	tests := []struct {
		raw     string
		want    []int64
		wantErr bool
	}{
		{`"text"`, []int64{1}, false},
		{` 3 `, []int64{1}, false},
		{`[]`, []int64{0}, false},
		{`[1,2,3]`, []int64{3}, false},
		{`[[1,2],[3,4],[5,6]]`, []int64{3, 2}, false},
		{`[["a"]]`, []int64{1, 1}, false},
		{`null`, nil, true},
		{``, nil, true},
		{`[1,`, nil, true},
	}
	for _, tt := range tests {
		got, err := jsonShape([]byte(tt.raw))
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("jsonShape(%s) = %v, %v; want %v (error %v)", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}
