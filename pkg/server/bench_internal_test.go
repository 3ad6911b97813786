package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// The benchmarks below measure the server's own per-request work, without
// a network or a client in the same process muddying the allocation count.

func BenchmarkCoreInfer(b *testing.B) {
	c := fuzzCore()
	data := make([]byte, 64)
	for _, model := range []string{"identity", "simple"} {
		b.Run(model, func(b *testing.B) {
			inputs := []tensor{{name: "INPUT0", dt: datatype.FP32, shape: []int64{1, 16}, data: data}}
			if model == "simple" {
				inputs = []tensor{
					{name: "INPUT0", dt: datatype.Int32, shape: []int64{1, 16}, data: data},
					{name: "INPUT1", dt: datatype.Int32, shape: []int64{1, 16}, data: data},
				}
			}
			req := request{modelName: model, inputs: inputs}
			ctx := context.Background()
			var res response // pooled by the front ends; reused here
			b.ReportAllocs()
			for b.Loop() {
				req.received = time.Now()
				res = response{}
				if err := c.infer(ctx, &req, &res); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discardWriter is a reusable http.ResponseWriter.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// reusableBody lets one *http.Request be served again and again.
type reusableBody struct{ bytes.Reader }

func (*reusableBody) Close() error { return nil }

func BenchmarkHTTPHandler(b *testing.B) {
	c := fuzzCore()
	h := newHTTPFrontend(c, &serverMeta{}, 1<<20)
	hdr := `{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"FP32","parameters":{"binary_data_size":64}}],"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}`
	jsonBody := `{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}]}`
	cases := []struct {
		name string
		body []byte
		hl   string
	}{
		{"binary", append([]byte(hdr), make([]byte, 64)...), strconv.Itoa(len(hdr))},
		{"json", []byte(jsonBody), ""},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			body := &reusableBody{}
			req, err := http.NewRequest(http.MethodPost, "/v2/models/identity/infer", body)
			if err != nil {
				b.Fatal(err)
			}
			req.ContentLength = int64(len(tc.body))
			if tc.hl != "" {
				req.Header.Set(headerLength, tc.hl)
			}
			w := &discardWriter{h: http.Header{}}
			// Route once to set the path values, then call the handler
			// directly, as the mux would.
			req.SetPathValue("model", "identity")
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(tc.body)
				clear(w.h)
				w.code = 0
				h.infer(w, req)
				if w.code != 0 && w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

func BenchmarkGRPCHandler(b *testing.B) {
	c := fuzzCore()
	g := &grpcFrontend{core: c, meta: &serverMeta{}, streamInFlight: 1, final: newFinalParams()}
	in := &inferencepb.ModelInferRequest{ModelName: "identity",
		Inputs:           []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 16}}},
		RawInputContents: [][]byte{make([]byte, 64)}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.ModelInfer(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerateStream measures one generate request of 16 tokens
// (times of 1µs, mostly already due): the model alone (emit counts), and
// with each response encoded for gRPC as ModelStreamInfer sends it.
func BenchmarkGenerateStream(b *testing.B) {
	c := fuzzCore()
	text := []byte{2, 0, 0, 0, 'h', 'i'}
	for _, encode := range []bool{false, true} {
		name := "model"
		if encode {
			name = "grpc_encode"
		}
		b.Run(name, func(b *testing.B) {
			ex := &grpcExchange{}
			ex.in[0] = tensor{name: "text_input", dt: datatype.Bytes, shape: []int64{1}, data: text}
			req := &ex.req
			ctx := context.Background()
			n := 0
			final := newFinalParams()
			emit := func(res *response) error {
				n++
				if encode {
					_ = encodeGRPCResponse(req, res, final)
				}
				return nil
			}
			b.ReportAllocs()
			for b.Loop() {
				*req = request{modelName: "generate", inputs: ex.in[:1], maxTokens: 16, received: time.Now()}
				if err := c.stream(ctx, req, emit); err != nil {
					b.Fatal(err)
				}
			}
			if n != 16*b.N {
				b.Fatalf("%d responses for %d requests", n, b.N)
			}
		})
	}
}

// BenchmarkGenerateSSE measures one generate_stream request of 16 tokens
// through the HTTP handler, events included.
func BenchmarkGenerateSSE(b *testing.B) {
	c := fuzzCore()
	h := newHTTPFrontend(c, &serverMeta{}, 1<<20)
	body := []byte(`{"text_input":"hi","parameters":{"max_tokens":16}}`)
	rb := &reusableBody{}
	req, err := http.NewRequest(http.MethodPost, "/v2/models/generate/generate_stream", rb)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.SetPathValue("model", "generate")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rb.Reset(body)
		clear(w.h)
		w.code = 0
		h.generateStream(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

var _ io.ReadCloser = (*reusableBody)(nil)
