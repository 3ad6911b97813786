package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// testCtx bounds one test's calls generously: a slow machine is not a failure.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// transport is one way of talking to a server.
type transport struct {
	name string
	opts func(s *servertest.Server) Options
}

// transports covers gRPC over its default transport and over the other
// one (h2 and grpc-go), every HTTP tensor format over the default HTTP
// transport (fasthttp), and net/http with binary and JSON tensors.
func transports() []transport {
	httpOpts := func(tr, in, out string) func(s *servertest.Server) Options {
		return func(s *servertest.Server) Options {
			return Options{Protocol: HTTP, URL: s.HTTPAddr, InputTensorFormat: in, OutputTensorFormat: out, httpTransport: tr}
		}
	}
	return []transport{
		{"grpc", func(s *servertest.Server) Options { return Options{Protocol: GRPC, URL: s.GRPCAddr} }},
		{"grpc-" + otherGRPCTransport(), func(s *servertest.Server) Options {
			return Options{Protocol: GRPC, URL: s.GRPCAddr, grpcTransport: otherGRPCTransport()}
		}},
		{"http-binary", httpOpts("", FormatBinary, FormatBinary)},
		{"http-json", httpOpts("", FormatJSON, FormatJSON)},
		{"http-binary-in-json-out", httpOpts("", FormatBinary, FormatJSON)},
		{"http-json-in-binary-out", httpOpts("", FormatJSON, FormatBinary)},
		{"nethttp-binary", httpOpts(transportNet, FormatBinary, FormatBinary)},
		{"nethttp-json", httpOpts(transportNet, FormatJSON, FormatJSON)},
	}
}

// otherGRPCTransport is the gRPC transport that is not the default.
func otherGRPCTransport() string {
	if tr, _ := grpcTransportOf(""); tr == transportH2 {
		return transportGRPCGo
	}
	return transportH2
}

func newClient(t testing.TB, opts Options) Client {
	t.Helper()
	c, err := New(testCtx(t), opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func newCall(t testing.TB, c Client, req *InferRequest) Call {
	t.Helper()
	call, err := c.NewCall(req)
	if err != nil {
		t.Fatalf("NewCall: %v", err)
	}
	return call
}

func TestConformanceEndpoints(t *testing.T) {
	s := servertest.Start(t)
	ctx := testCtx(t)
	g := newClient(t, Options{Protocol: GRPC, URL: s.GRPCAddr})
	h := newClient(t, Options{Protocol: HTTP, URL: "http://" + s.HTTPAddr})
	hn := newClient(t, Options{Protocol: HTTP, URL: "http://" + s.HTTPAddr, httpTransport: transportNet})

	// The HTTP client chose binary tensors because the server offers them.
	if in, out := h.(*HTTPClient).BinaryTensors(); !in || !out {
		t.Errorf("auto tensor format = binary in %v, out %v; want binary both ways", in, out)
	}
	for name, c := range map[string]Client{"grpc": g, "http": h, "nethttp": hn} {
		t.Run(name, func(t *testing.T) {
			if live, err := c.ServerLive(ctx); !live || err != nil {
				t.Errorf("ServerLive = %v, %v", live, err)
			}
			if ready, err := c.ServerReady(ctx); !ready || err != nil {
				t.Errorf("ServerReady = %v, %v", ready, err)
			}
			md, err := c.ServerMetadata(ctx)
			if err != nil || md.GetName() == "" || !slices.Contains(md.GetExtensions(), "binary_tensor_data") {
				t.Errorf("ServerMetadata = %v, %v", md, err)
			}
			if ready, err := c.ModelReady(ctx, "identity", ""); !ready || err != nil {
				t.Errorf("ModelReady(identity) = %v, %v", ready, err)
			}
			if ready, err := c.ModelReady(ctx, "identity", "1"); !ready || err != nil {
				t.Errorf("ModelReady(identity, 1) = %v, %v", ready, err)
			}
			if ready, err := c.ModelReady(ctx, "nope", ""); ready || !errors.Is(err, ErrModelNotFound) {
				t.Errorf("ModelReady(nope) = %v, %v; want false, ErrModelNotFound", ready, err)
			}
			mm, err := c.ModelMetadata(ctx, "simple", "")
			if err != nil {
				t.Fatalf("ModelMetadata: %v", err)
			}
			if len(mm.GetInputs()) != 2 || mm.GetInputs()[0].GetDatatype() != TypeInt32 ||
				!slices.Equal(mm.GetInputs()[0].GetShape(), []int64{-1, 16}) {
				t.Errorf("ModelMetadata(simple) inputs = %v", mm.GetInputs())
			}
			if _, err := c.ModelMetadata(ctx, "simple", "9"); !errors.Is(err, ErrModelNotFound) {
				t.Errorf("ModelMetadata(simple, 9) error = %v, want ErrModelNotFound", err)
			}
			cfg, err := c.ModelConfig(ctx, "simple", "")
			if err != nil || cfg.GetName() != "simple" || cfg.GetMaxBatchSize() != 8 || len(cfg.GetInput()) != 2 {
				t.Errorf("ModelConfig(simple) = %v, %v", cfg, err)
			}
			if _, err := c.ModelConfig(ctx, "nope", ""); !errors.Is(err, ErrModelNotFound) {
				t.Errorf("ModelConfig(nope) error = %v, want ErrModelNotFound", err)
			}
			st, err := c.ModelStatistics(ctx, "", "")
			if err != nil || len(st.GetModelStats()) < 3 {
				t.Errorf("ModelStatistics(all) = %d models, %v", len(st.GetModelStats()), err)
			}
			st, err = c.ModelStatistics(ctx, "simple", "1")
			if err != nil || len(st.GetModelStats()) != 1 || st.GetModelStats()[0].GetName() != "simple" {
				t.Errorf("ModelStatistics(simple) = %v, %v", st, err)
			}
			idx, err := c.RepositoryIndex(ctx, true)
			if err != nil {
				t.Fatalf("RepositoryIndex: %v", err)
			}
			var names []string
			for _, m := range idx.GetModels() {
				names = append(names, m.GetName())
			}
			for _, want := range []string{"identity", "simple", "delay", "repeat", "identity_bytes"} {
				if !slices.Contains(names, want) {
					t.Errorf("RepositoryIndex lacks %q: %v", want, names)
				}
			}
		})
	}

	// Both transports decode the same server state to the same messages:
	// the HTTP JSON path loses nothing.
	for _, m := range []string{"simple", "identity", "delay", "repeat", "sequence"} {
		gm, err1 := g.ModelMetadata(ctx, m, "")
		hm, err2 := h.ModelMetadata(ctx, m, "")
		if err1 != nil || err2 != nil || !proto.Equal(gm, hm) {
			t.Errorf("metadata of %s differs:\ngrpc %v (%v)\nhttp %v (%v)", m, gm, err1, hm, err2)
		}
		gc, err1 := g.ModelConfig(ctx, m, "")
		hc, err2 := h.ModelConfig(ctx, m, "")
		if err1 != nil || err2 != nil || !proto.Equal(gc, hc) {
			t.Errorf("config of %s differs:\ngrpc %v (%v)\nhttp %v (%v)", m, gc, err1, hc, err2)
		}
	}
	gi, _ := g.RepositoryIndex(ctx, false)
	hi, _ := h.RepositoryIndex(ctx, false)
	if !proto.Equal(gi, hi) {
		t.Errorf("repository index differs:\ngrpc %v\nhttp %v", gi, hi)
	}
	gmd, _ := g.ServerMetadata(ctx)
	hmd, _ := h.ServerMetadata(ctx)
	if !proto.Equal(gmd, hmd) {
		t.Errorf("server metadata differs:\ngrpc %v\nhttp %v", gmd, hmd)
	}
}

func TestConformanceInferSimple(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, tr.opts(s))
			req := simpleRequest()
			call := newCall(t, c, req)
			for i := range 3 { // the reused buffers give the same answer every time
				tm, err := call.Do(testCtx(t))
				if err != nil {
					t.Fatalf("Do %d: %v", i, err)
				}
				if tm.Total <= 0 || tm.Send < 0 || tm.Recv < 0 || tm.Send+tm.Recv > tm.Total {
					t.Errorf("Do %d timing %+v: want 0 <= Send+Recv <= Total, Total > 0", i, tm)
				}
				r, err := call.Response()
				if err != nil {
					t.Fatalf("Response %d: %v", i, err)
				}
				if r.Model != "simple" || r.ID != "req-1" || len(r.Outputs) != 2 {
					t.Fatalf("response %+v", r)
				}
				in0, in1 := req.Inputs[0].Data, req.Inputs[1].Data
				for j := range 16 {
					a := int32(binary.LittleEndian.Uint32(in0[4*j:]))
					b := int32(binary.LittleEndian.Uint32(in1[4*j:]))
					sum := int32(binary.LittleEndian.Uint32(r.Outputs[0].Data[4*j:]))
					diff := int32(binary.LittleEndian.Uint32(r.Outputs[1].Data[4*j:]))
					if sum != a+b || diff != a-b {
						t.Fatalf("element %d: OUTPUT0 %d, OUTPUT1 %d; want %d, %d", j, sum, diff, a+b, a-b)
					}
				}
				if r.Outputs[0].Name != "OUTPUT0" || r.Outputs[0].Datatype != TypeInt32 || !slices.Equal(r.Outputs[0].Shape, []int64{1, 16}) {
					t.Errorf("OUTPUT0 = %s %s %v", r.Outputs[0].Name, r.Outputs[0].Datatype, r.Outputs[0].Shape)
				}
			}
			// Asking for one output returns only that one.
			one := simpleRequest()
			one.Outputs = []string{"OUTPUT1"}
			call = newCall(t, c, one)
			if _, err := call.Do(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if r, err := call.Response(); err != nil || len(r.Outputs) != 1 || r.Outputs[0].Name != "OUTPUT1" {
				t.Fatalf("one output: %+v, %v", r, err)
			}
			// No outputs named returns all of them.
			all := simpleRequest()
			all.Outputs = nil
			call = newCall(t, c, all)
			if _, err := call.Do(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if r, err := call.Response(); err != nil || len(r.Outputs) != 2 {
				t.Fatalf("all outputs: %+v, %v", r, err)
			}
		})
	}
}

// Every datatype goes out and comes back unchanged through identity_<type>.
func TestConformanceDatatypes(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, tr.opts(s))
			for _, dt := range Datatypes() {
				data := sampleData(dt, 12)
				req := &InferRequest{Model: "identity_" + strings.ToLower(dt),
					Inputs: []Tensor{{Name: "INPUT0", Datatype: dt, Shape: []int64{2, 6}, Data: data}}}
				call := newCall(t, c, req)
				if _, err := call.Do(testCtx(t)); err != nil {
					t.Errorf("%s: Do: %v", dt, err)
					continue
				}
				r, err := call.Response()
				if err != nil {
					t.Errorf("%s: Response: %v", dt, err)
					continue
				}
				if len(r.Outputs) != 1 || r.Outputs[0].Datatype != dt || !slices.Equal(r.Outputs[0].Shape, []int64{2, 6}) ||
					!bytes.Equal(r.Outputs[0].Data, data) {
					t.Errorf("%s: echoed %+v, want the input back", dt, r.Outputs)
				}
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestConformanceErrors(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) { o.Delay.ServiceTime = 500 * time.Millisecond })
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			opts := tr.opts(s)
			c := newClient(t, opts)

			unknown := simpleRequest()
			unknown.Model = "nope"
			_, err := newCall(t, c, unknown).Do(testCtx(t))
			if !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), "nope") {
				t.Errorf("unknown model: %v, want ErrModelNotFound naming the model", err)
			}
			if cls := Class(err); cls != "grpc:NOT_FOUND" && cls != "http:404" {
				t.Errorf("unknown model class %q", cls)
			}

			bad := simpleRequest()
			bad.Inputs[0].Shape, bad.Inputs[0].Data = []int64{1, 15}, bad.Inputs[0].Data[:60]
			bad.Inputs[1].Shape, bad.Inputs[1].Data = []int64{1, 15}, bad.Inputs[1].Data[:60]
			call := newCall(t, c, bad)
			_, err = call.Do(testCtx(t))
			var e *Error
			if !errors.Is(err, ErrBadRequest) || !errors.As(err, &e) || !strings.Contains(e.Message, "shape") {
				t.Errorf("bad shape: %v, want ErrBadRequest with the server's message", err)
			}
			if _, err := call.Response(); err == nil {
				t.Error("Response after a failed Do succeeded")
			}

			// A decoupled model cannot answer a plain infer (Triton: HTTP
			// 501, gRPC Unimplemented).
			rep := &InferRequest{Model: "repeat", Inputs: []Tensor{{Name: "IN", Datatype: TypeInt32, Shape: []int64{2}, Data: int32Data(1, 2)}}}
			if _, err := newCall(t, c, rep).Do(testCtx(t)); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "decoupled transaction policy") {
				t.Errorf("decoupled model via infer: %v, want ErrUnsupported with the server's message", err)
			}

			// Timeout: the delay model takes 500 ms; the client gives up long before.
			topts := opts
			topts.Timeout = 50 * time.Millisecond
			tc := newClient(t, topts)
			delay := &InferRequest{Model: "delay", Inputs: []Tensor{{Name: "INPUT0", Datatype: TypeFP32, Shape: []int64{1, 4}, Data: make([]byte, 16)}}}
			tm, err := newCall(t, tc, delay).Do(testCtx(t))
			if !errors.Is(err, ErrTimeout) || Class(err) != "timeout" || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("timeout: %v (class %q), want ErrTimeout", err, Class(err))
			}
			if tm.Total <= 0 {
				t.Errorf("a timed-out request reports Total %v", tm.Total)
			}

			// Cancellation by the caller is not a failure of the server.
			ctx, cancel := context.WithCancel(testCtx(t))
			cancel()
			if _, err := newCall(t, c, simpleRequest()).Do(ctx); !errors.Is(err, context.Canceled) || Class(err) != "cancelled" {
				t.Errorf("cancelled: %v (class %q), want context.Canceled", err, Class(err))
			}

			// Unreachable server.
			uopts := opts
			uopts.URL = closedAddr(t)
			uc := newClient(t, uopts)
			_, err = newCall(t, uc, simpleRequest()).Do(testCtx(t))
			if !errors.Is(err, ErrUnreachable) || Class(err) != "unreachable" {
				t.Errorf("unreachable: %v (class %q), want ErrUnreachable", err, Class(err))
			}
			if live, err := uc.ServerLive(testCtx(t)); live || !errors.Is(err, ErrUnreachable) {
				t.Errorf("ServerLive on a closed port = %v, %v", live, err)
			}
		})
	}
	// Auto-detecting the HTTP tensor format needs the server.
	_, err := NewHTTP(testCtx(t), Options{URL: closedAddr(t)})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("NewHTTP on a closed port: %v, want ErrUnreachable", err)
	}
}

// The server counts exactly the requests the client sent, per transport.
func TestConformanceStatistics(t *testing.T) {
	s := servertest.Start(t)
	ctx := testCtx(t)
	models := []string{"identity_int8", "identity_int16", "identity_int32", "identity_uint8", "identity_uint16", "identity_uint32", "identity_int64", "identity_uint64"}
	trs := transports()
	for i, tr := range trs {
		model := models[i]
		dt := strings.ToUpper(strings.TrimPrefix(model, "identity_"))
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, tr.opts(s))
			req := &InferRequest{Model: model, Inputs: []Tensor{{Name: "INPUT0", Datatype: dt, Shape: []int64{3, 2}, Data: sampleData(dt, 6)}}}
			call := newCall(t, c, req)
			const ok, failed = 17, 3
			for range ok {
				if _, err := call.Do(ctx); err != nil {
					t.Fatal(err)
				}
			}
			bad := &InferRequest{Model: model, Inputs: []Tensor{{Name: "INPUT0", Datatype: dt, Shape: []int64{9, 2}, Data: sampleData(dt, 18)}}}
			badCall := newCall(t, c, bad)
			for range failed {
				if _, err := badCall.Do(ctx); !errors.Is(err, ErrBadRequest) {
					t.Fatalf("batch 9 > max 8: %v, want ErrBadRequest", err)
				}
			}
			st, err := c.ModelStatistics(ctx, model, "")
			if err != nil {
				t.Fatal(err)
			}
			ms := st.GetModelStats()[0]
			is := ms.GetInferenceStats()
			if got := is.GetSuccess().GetCount(); got != ok {
				t.Errorf("server success.count = %d, client sent %d", got, ok)
			}
			if got := is.GetFail().GetCount(); got != failed {
				t.Errorf("server fail.count = %d, client sent %d bad requests", got, failed)
			}
			if got := ms.GetInferenceCount(); got != ok*3 {
				t.Errorf("inference_count = %d, want %d (batch 3)", got, ok*3)
			}
			if is.GetSuccess().GetNs() == 0 || ms.GetLastInference() == 0 {
				t.Errorf("success.ns %d, last_inference %d: want non-zero", is.GetSuccess().GetNs(), ms.GetLastInference())
			}
		})
	}
}

// Many workers over one pooled client, each with its own Call.
func TestConformanceConcurrent(t *testing.T) {
	s := servertest.Start(t)
	ctx := testCtx(t)
	const workers, each = 8, 25
	trs := transports()
	for i, tr := range []transport{trs[0], trs[1], trs[5]} { // grpc, http (fasthttp), net/http
		model := []string{"identity_fp64", "identity_fp16", "identity_fp32"}[i]
		dt := strings.ToUpper(strings.TrimPrefix(model, "identity_"))
		t.Run(tr.name, func(t *testing.T) {
			opts := tr.opts(s)
			opts.Workers, opts.Connections = workers, 3
			c := newClient(t, opts)
			var eg errgroup.Group
			for w := range workers {
				data := sampleData(dt, w+1)
				call := newCall(t, c, &InferRequest{Model: model, Inputs: []Tensor{{Name: "INPUT0", Datatype: dt, Shape: []int64{1, int64(w + 1)}, Data: data}}})
				eg.Go(func() error {
					for range each {
						if _, err := call.Do(ctx); err != nil {
							return err
						}
						r, err := call.Response()
						if err != nil {
							return err
						}
						if !bytes.Equal(r.Outputs[0].Data, data) {
							return errors.New("a worker got another worker's answer")
						}
					}
					return nil
				})
			}
			if err := eg.Wait(); err != nil {
				t.Fatal(err)
			}
			st, err := c.ModelStatistics(ctx, model, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := st.GetModelStats()[0].GetInferenceStats().GetSuccess().GetCount(); got != workers*each {
				t.Errorf("server counted %d successes, workers sent %d", got, workers*each)
			}
		})
	}
}

// Calls are spread round-robin over the gRPC pool.
func TestGRPCPool(t *testing.T) {
	tests := []struct{ workers, conns, want int }{
		{0, 0, 1}, {6, 0, 1}, {7, 0, 2}, {13, 0, 3}, {100, 4, 4},
	}
	for _, tt := range tests {
		c, err := NewGRPC(testCtx(t), Options{URL: "127.0.0.1:1", Workers: tt.workers, Connections: tt.conns, grpcTransport: transportGRPCGo})
		if err != nil {
			t.Fatal(err)
		}
		if c.Connections() != tt.want {
			t.Errorf("workers %d, connections %d: pool of %d, want %d", tt.workers, tt.conns, c.Connections(), tt.want)
		}
		seen := map[any]int{}
		for range 2 * tt.want {
			call, err := c.NewCall(simpleRequest())
			if err != nil {
				t.Fatal(err)
			}
			seen[call.(*grpcCall).conn]++
		}
		if len(seen) != tt.want {
			t.Errorf("%d calls landed on %d connections, want %d", 2*tt.want, len(seen), tt.want)
		}
		for conn, n := range seen {
			if n != 2 {
				t.Errorf("connection %p has %d calls, want 2 (round-robin)", conn, n)
			}
		}
		_ = c.Close()
	}
}

func repeatRequest(vals ...int32) *InferRequest {
	return &InferRequest{Model: "repeat", Inputs: []Tensor{{Name: "IN", Datatype: TypeInt32, Shape: []int64{int64(len(vals))}, Data: int32Data(vals...)}}}
}

// Response is safe to keep: the next Do does not overwrite what it returned.
func TestResponseOutlivesNextDo(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, tr.opts(s))
			call := newCall(t, c, simpleRequest())
			if _, err := call.Do(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			r1, err := call.Response()
			if err != nil {
				t.Fatal(err)
			}
			keep := bytes.Clone(r1.Outputs[0].Data)
			if _, err := call.Do(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r1.Outputs[0].Data, keep) {
				t.Fatal("the second Do overwrote the first Response's data")
			}
		})
	}
}
