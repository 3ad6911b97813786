package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// jsonOnlyServer is a minimal v2 HTTP server without the binary tensor
// extension, configuration or repository endpoints, answering statistics
// and configuration the way a newer Triton might (strings for uint64,
// fields this build does not know).
type jsonOnlyServer struct {
	mu      sync.Mutex
	headers []http.Header
	bodies  [][]byte
}

func (f *jsonOnlyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	switch r.Method + " " + r.URL.Path {
	case "GET /v2":
		io.WriteString(w, `{"name":"fake","version":"9","extensions":["statistics"],"future":{"x":1}}`)
	case "GET /v2/health/live":
	case "GET /v2/health/ready":
		w.WriteHeader(http.StatusServiceUnavailable)
	case "GET /v2/models/echo/stats":
		io.WriteString(w, `{"model_stats":[{"name":"echo","version":"1","last_inference":"1700000000000",
			"inference_count":"18446744073709551615","execution_count":5,
			"inference_stats":{"success":{"count":"5","ns":"1000"},"fail":{"count":0,"ns":0},"shiny_new":{"count":1}},
			"batch_stats":[{"batch_size":"1","compute_infer":{"count":5,"ns":"50"}}],"not_yet_invented":[1,2]}]}`)
	case "GET /v2/models/echo/versions/2/config":
		io.WriteString(w, `{"name":"echo","platform":"onnxruntime_onnx","max_batch_size":8,"backend":"onnxruntime",
			"input":[{"name":"IN","data_type":"TYPE_FP32","dims":["4"],"some_new_flag":true}],
			"instance_group":[{"kind":"KIND_FUTURE","count":2}],"brand_new_section":{"a":[1,2]}}`)
	case "POST /v2/models/echo/infer":
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get(headerInferLen) != "" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			io.WriteString(w, `{"error":"this server only speaks JSON"}`)
			return
		}
		var req struct {
			ID     string          `json:"id"`
			Inputs json.RawMessage `json:"inputs"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"bad JSON"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"model_name":"echo","model_version":"1","id":"`+req.ID+`","outputs":`+string(req.Inputs)+`}`)
	default:
		http.NotFound(w, r) // plain text, not a v2 error: the endpoint does not exist
	}
}

func TestHTTPJSONOnlyServer(t *testing.T) {
	for _, tr := range []string{transportFast, transportNet} {
		t.Run(tr, func(t *testing.T) { testHTTPJSONOnlyServer(t, tr) })
	}
}

func testHTTPJSONOnlyServer(t *testing.T, tr string) {
	fake := &jsonOnlyServer{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx := testCtx(t)
	c, err := NewHTTP(ctx, Options{URL: srv.URL, Headers: map[string]string{"X-Run": "42", "authorization": "Bearer t"}, httpTransport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if in, out := c.BinaryTensors(); in || out {
		t.Fatalf("server lacks binary_tensor_data but the client chose binary (in %v, out %v)", in, out)
	}

	req := &InferRequest{Model: "echo", ID: "r7", Inputs: []Tensor{
		{Name: "S", Datatype: TypeBytes, Shape: []int64{2}, Data: sampleData(TypeBytes, 2)},
		{Name: "F", Datatype: TypeFP16, Shape: []int64{3}, Data: sampleData(TypeFP16, 3)},
	}}
	call, err := c.NewCall(req)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := call.Do(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r, err := call.Response()
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "r7" || len(r.Outputs) != 2 || string(r.Outputs[0].Data) != string(req.Inputs[0].Data) || string(r.Outputs[1].Data) != string(req.Inputs[1].Data) {
		t.Fatalf("JSON echo = %+v", r)
	}
	fake.mu.Lock()
	h := fake.headers[len(fake.headers)-1]
	fake.mu.Unlock()
	if h.Get("X-Run") != "42" || h.Get("Authorization") != "Bearer t" || h.Get("Content-Type") != "application/json" {
		t.Errorf("infer headers = %v, want the user's headers and Content-Type application/json", h)
	}

	if live, err := c.ServerLive(ctx); !live || err != nil {
		t.Errorf("ServerLive = %v, %v", live, err)
	}
	if ready, err := c.ServerReady(ctx); ready || err != nil {
		t.Errorf("ServerReady on a 503 = %v, %v; want false, nil", ready, err)
	}
	if ready, err := c.ModelReady(ctx, "echo", ""); ready || err != nil {
		t.Errorf("ModelReady on a plain 404 = %v, %v; want false, nil", ready, err)
	}

	st, err := c.ModelStatistics(ctx, "echo", "")
	if err != nil {
		t.Fatalf("statistics with unknown fields and uint64 strings: %v", err)
	}
	ms := st.GetModelStats()[0]
	if ms.GetInferenceCount() != 18446744073709551615 || ms.GetExecutionCount() != 5 ||
		ms.GetInferenceStats().GetSuccess().GetCount() != 5 || ms.GetBatchStats()[0].GetComputeInfer().GetNs() != 50 {
		t.Errorf("statistics decoded as %v", ms)
	}
	cfg, err := c.ModelConfig(ctx, "echo", "2")
	if err != nil {
		t.Fatalf("config with unknown fields and enum values: %v", err)
	}
	if cfg.GetMaxBatchSize() != 8 || cfg.GetInput()[0].GetDims()[0] != 4 || cfg.GetInstanceGroup()[0].GetCount() != 2 {
		t.Errorf("config decoded as %v", cfg)
	}

	// Endpoints the server lacks are ErrUnsupported, not a failure.
	if _, err := c.ModelConfig(ctx, "echo", ""); !errors.Is(err, ErrUnsupported) || Class(err) != "http:404" {
		t.Errorf("missing config endpoint: %v (class %q), want ErrUnsupported", err, Class(err))
	}
	if _, err := c.ModelStatistics(ctx, "", ""); !errors.Is(err, ErrUnsupported) {
		t.Errorf("missing statistics endpoint: %v, want ErrUnsupported", err)
	}
	if _, err := c.RepositoryIndex(ctx, false); !errors.Is(err, ErrUnsupported) {
		t.Errorf("missing repository endpoint: %v, want ErrUnsupported", err)
	}

	// Binary requested from a JSON-only server: the server's answer is kept.
	bc, err := NewHTTP(ctx, Options{URL: srv.URL, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatJSON, httpTransport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	call, err = bc.NewCall(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = call.Do(ctx)
	var e *Error
	if !errors.As(err, &e) || e.Class != "http:415" || e.Message != "this server only speaks JSON" {
		t.Errorf("binary to a JSON-only server: %v, want class http:415 with the server's message", err)
	}
}

// A JSON tensor the client cannot express fails at NewCall, not per request.
func TestHTTPJSONUnrepresentable(t *testing.T) {
	srv := httptest.NewServer(&jsonOnlyServer{})
	defer srv.Close()
	c, err := NewHTTP(testCtx(t), Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.NewCall(&InferRequest{Model: "echo", Inputs: []Tensor{{Name: "S", Datatype: TypeBytes, Shape: []int64{1}, Data: AppendBytesElement(nil, []byte{0xff})}}})
	if err == nil || !strings.Contains(err.Error(), "binary tensor format") {
		t.Errorf("non-UTF-8 BYTES in JSON mode: %v, want advice to use the binary format", err)
	}
}

func TestParseHTTPURL(t *testing.T) {
	tests := []struct {
		in, base, host string
		wantErr        bool
	}{
		{"", "http://localhost:8000", "localhost", false},
		{"127.0.0.1:8000", "http://127.0.0.1:8000", "127.0.0.1", false},
		{"http://h:1", "http://h:1", "h", false},
		{"https://h", "https://h:443", "h", false},
		{"http://h", "http://h:80", "h", false},
		{"https://h:9/kserve/", "https://h:9/kserve", "h", false},
		{"[::1]:8000", "http://[::1]:8000", "::1", false},
		{"grpc://h:1", "", "", true},
		{"http://", "", "", true},
		{"http://h:1/?q=1", "", "", true},
		{"http://h:1/x#f", "", "", true},
	}
	for _, tt := range tests {
		base, host, err := parseHTTPURL(tt.in)
		if (err != nil) != tt.wantErr || base != tt.base || host != tt.host {
			t.Errorf("parseHTTPURL(%q) = %q, %q, %v; want %q, %q, error %v", tt.in, base, host, err, tt.base, tt.host, tt.wantErr)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	ctx := testCtx(t)
	tests := []struct {
		name string
		opts Options
	}{
		{"protocol", Options{Protocol: "ftp"}},
		{"negative connections", Options{Protocol: GRPC, URL: "h:1", Connections: -1}},
		{"negative timeout", Options{Protocol: GRPC, URL: "h:1", Timeout: -1}},
		{"bad header", Options{Protocol: GRPC, URL: "h:1", Headers: map[string]string{"a b": "c"}}},
		{"grpc scheme", Options{Protocol: GRPC, URL: "http://h:1"}},
		{"grpc no port", Options{Protocol: GRPC, URL: "h"}},
		{"compression", Options{Protocol: GRPC, URL: "h:1", GRPCCompression: "deflate"}},
		{"grpc tls files without tls", Options{Protocol: GRPC, URL: "h:1", TLS: TLSOptions{GRPCRootCerts: "x.pem"}}},
		{"grpc missing roots", Options{Protocol: GRPC, URL: "h:1", TLS: TLSOptions{GRPCUseSSL: true, GRPCRootCerts: "/nonexistent.pem"}}},
		{"http tensor format", Options{URL: "h:1", InputTensorFormat: "xml", OutputTensorFormat: "json"}},
		{"https options on http", Options{URL: "http://h:1", TLS: TLSOptions{HTTPSCAFile: "ca.pem"}, InputTensorFormat: "json", OutputTensorFormat: "json"}},
		{"https cert without key", Options{URL: "https://h:1", TLS: TLSOptions{HTTPSClientCert: "c.pem"}, InputTensorFormat: "json", OutputTensorFormat: "json"}},
	}
	for _, tt := range tests {
		if c, err := New(ctx, tt.opts); err == nil {
			c.Close()
			t.Errorf("%s: New(%+v) succeeded", tt.name, tt.opts)
		}
	}
	// "GRPC" in any case is gRPC.
	c, err := New(ctx, Options{Protocol: "GRPC", URL: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*GRPCClient); !ok {
		t.Errorf("protocol GRPC gave %T", c)
	}
	c.Close()
}

func TestHTTPPoolSizing(t *testing.T) {
	tests := []struct{ workers, conns, wantMax, wantIdle int }{
		{0, 0, 0, 64},
		{16, 0, 16, 16},
		{16, 4, 4, 4},
	}
	for _, tt := range tests {
		for _, tr := range []string{transportFast, transportNet} {
			c, err := NewHTTP(testCtx(t), Options{URL: "127.0.0.1:1", Workers: tt.workers, Connections: tt.conns, InputTensorFormat: "json", OutputTensorFormat: "json", httpTransport: tr})
			if err != nil {
				t.Fatal(err)
			}
			switch ht := c.t.(type) {
			case *netHTTP:
				rt := ht.rt
				if tr != transportNet || rt.MaxConnsPerHost != tt.wantMax || rt.MaxIdleConnsPerHost != tt.wantIdle || rt.DisableKeepAlives {
					t.Errorf("%s, workers %d, connections %d: max %d, idle %d, keep-alive %v; want max %d, idle %d, keep-alive",
						tr, tt.workers, tt.conns, rt.MaxConnsPerHost, rt.MaxIdleConnsPerHost, !rt.DisableKeepAlives, tt.wantMax, tt.wantIdle)
				}
			case *fastHTTP:
				if tr != transportFast || ht.pool.max != tt.wantMax || ht.addr != "127.0.0.1:1" {
					t.Errorf("%s, workers %d, connections %d: pool of %d to %q; want %d to 127.0.0.1:1", tr, tt.workers, tt.conns, ht.pool.max, ht.addr, tt.wantMax)
				}
			default:
				t.Errorf("transport %q gave %T", tr, c.t)
			}
			c.Close()
		}
	}
}

// fakeGRPC implements ModelInfer only (everything else is UNIMPLEMENTED)
// and records the metadata and payload sizes it saw.
type fakeGRPC struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	mu       sync.Mutex
	md       metadata.MD
	payloads []*stats.InPayload
}

func (f *fakeGRPC) ModelInfer(ctx context.Context, req *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.md = md
	f.mu.Unlock()
	resp := &inferencepb.ModelInferResponse{ModelName: req.GetModelName(), Id: req.GetId()}
	for i, in := range req.GetInputs() {
		resp.Outputs = append(resp.Outputs, &inferencepb.ModelInferResponse_InferOutputTensor{Name: in.GetName(), Datatype: in.GetDatatype(), Shape: in.GetShape()})
		resp.RawOutputContents = append(resp.RawOutputContents, req.GetRawInputContents()[i])
	}
	return resp, nil
}

func (f *fakeGRPC) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (f *fakeGRPC) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (f *fakeGRPC) HandleConn(context.Context, stats.ConnStats)                       {}
func (f *fakeGRPC) HandleRPC(_ context.Context, s stats.RPCStats) {
	if p, ok := s.(*stats.InPayload); ok {
		f.mu.Lock()
		f.payloads = append(f.payloads, p)
		f.mu.Unlock()
	}
}

func startFakeGRPC(t *testing.T, f *fakeGRPC, opts ...grpc.ServerOption) string {
	return serveGRPC(t, f, append(opts, grpc.StatsHandler(f))...)
}

// serveGRPC serves impl on a loopback port until the test ends.
func serveGRPC(t *testing.T, impl inferencepb.GRPCInferenceServiceServer, opts ...grpc.ServerOption) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	inferencepb.RegisterGRPCInferenceServiceServer(s, impl)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return ln.Addr().String()
}

func TestGRPCMetadataAndGzip(t *testing.T) {
	f := &fakeGRPC{}
	addr := startFakeGRPC(t, f)
	ctx := testCtx(t)
	for _, comp := range []string{"none", "gzip"} {
		t.Run(comp, func(t *testing.T) {
			c, err := NewGRPC(ctx, Options{URL: addr, GRPCCompression: comp, Headers: map[string]string{"X-Run": "42"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			zeros := make([]byte, 4096) // compresses well
			req := &InferRequest{Model: "m", ID: "i", Inputs: []Tensor{{Name: "Z", Datatype: TypeUint8, Shape: []int64{4096}, Data: zeros}}}
			call, err := c.NewCall(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := call.Do(ctx); err != nil {
				t.Fatal(err)
			}
			r, err := call.Response()
			if err != nil || len(r.Outputs) != 1 || len(r.Outputs[0].Data) != 4096 || r.ID != "i" {
				t.Fatalf("echo = %+v, %v", r, err)
			}
			f.mu.Lock()
			md, p := f.md, f.payloads[len(f.payloads)-1]
			f.mu.Unlock()
			if got := md.Get("x-run"); len(got) != 1 || got[0] != "42" {
				t.Errorf("server saw metadata %v, want x-run: 42", md)
			}
			compressed := p.CompressedLength < p.Length/2
			if compressed != (comp == "gzip") {
				t.Errorf("compression %s: payload %d bytes on the wire for %d", comp, p.CompressedLength, p.Length)
			}
			// Everything but ModelInfer is unsupported on this server.
			if _, err := c.ModelConfig(ctx, "m", ""); !errors.Is(err, ErrUnsupported) || Class(err) != "grpc:UNIMPLEMENTED" {
				t.Errorf("ModelConfig on a server without it: %v (class %q)", err, Class(err))
			}
			if _, err := c.ModelStatistics(ctx, "", ""); !errors.Is(err, ErrUnsupported) {
				t.Errorf("ModelStatistics on a server without it: %v", err)
			}
			if _, err := prepareStream(t, c, req).Do(ctx); !errors.Is(err, ErrUnsupported) {
				t.Errorf("streaming on a server without it: %v, want ErrUnsupported", err)
			}
		})
	}
}
