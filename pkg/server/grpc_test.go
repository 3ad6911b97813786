package server_test

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

type inputT = inferencepb.ModelInferRequest_InferInputTensor

func wantCode(t *testing.T, err error, code codes.Code, fragments ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("code %v (%v), want %v", st.Code(), err, code)
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message(), f) {
			t.Errorf("message %q does not mention %q", st.Message(), f)
		}
	}
}

func TestGRPCMetadataRPCs(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	ctx := testCtx(t)

	live, err := c.ServerLive(ctx, &inferencepb.ServerLiveRequest{})
	if err != nil || !live.Live {
		t.Errorf("ServerLive = %v, %v", live, err)
	}
	ready, err := c.ServerReady(ctx, &inferencepb.ServerReadyRequest{})
	if err != nil || !ready.Ready {
		t.Errorf("ServerReady = %v, %v", ready, err)
	}
	mr, err := c.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: "simple", Version: "1"})
	if err != nil || !mr.Ready {
		t.Errorf("ModelReady = %v, %v", mr, err)
	}
	md, err := c.ServerMetadata(ctx, &inferencepb.ServerMetadataRequest{})
	if err != nil || md.Name != "perfgo" || !reflect.DeepEqual(md.Extensions, []string{"binary_tensor_data", "statistics", "model_configuration", "sequence", "system_shared_memory"}) {
		t.Errorf("ServerMetadata = %v, %v", md, err)
	}
	mm, err := c.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: "simple"})
	if err != nil {
		t.Fatal(err)
	}
	want := &inferencepb.ModelMetadataResponse{
		Name: "simple", Versions: []string{"1"}, Platform: "perfgo",
		Inputs: []*inferencepb.ModelMetadataResponse_TensorMetadata{
			{Name: "INPUT0", Datatype: "INT32", Shape: []int64{-1, 16}},
			{Name: "INPUT1", Datatype: "INT32", Shape: []int64{-1, 16}},
		},
		Outputs: []*inferencepb.ModelMetadataResponse_TensorMetadata{
			{Name: "OUTPUT0", Datatype: "INT32", Shape: []int64{-1, 16}},
			{Name: "OUTPUT1", Datatype: "INT32", Shape: []int64{-1, 16}},
		},
	}
	if !proto.Equal(mm, want) {
		t.Errorf("ModelMetadata = %v, want %v", mm, want)
	}
	cfg, err := c.ModelConfig(ctx, &inferencepb.ModelConfigRequest{Name: "repeat"})
	if err != nil || !cfg.Config.GetModelTransactionPolicy().GetDecoupled() {
		t.Errorf("ModelConfig(repeat) = %v, %v; want decoupled", cfg, err)
	}
	cfg, err = c.ModelConfig(ctx, &inferencepb.ModelConfigRequest{Name: "sequence"})
	if err != nil || cfg.Config.GetSequenceBatching() == nil {
		t.Errorf("ModelConfig(sequence) = %v, %v; want sequence_batching", cfg, err)
	}
	idx, err := c.RepositoryIndex(ctx, &inferencepb.RepositoryIndexRequest{})
	if err != nil || len(idx.Models) != len(s.Models()) {
		t.Fatalf("RepositoryIndex = %d models, %v; want %d", len(idx.GetModels()), err, len(s.Models()))
	}
	for _, m := range idx.Models {
		if m.State != "READY" || m.Version != "1" {
			t.Errorf("index entry %v, want READY version 1", m)
		}
	}
	all, err := c.ModelStatistics(ctx, &inferencepb.ModelStatisticsRequest{})
	if err != nil || len(all.ModelStats) != len(s.Models()) {
		t.Errorf("ModelStatistics(all) = %d models, %v", len(all.GetModelStats()), err)
	}
	h, err := healthpb.NewHealthClient(grpcConn(t, s.GRPCAddr)).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("grpc.health.v1 Check = %v, %v; want SERVING", h, err)
	}
}

func TestGRPCErrors(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	ctx := testCtx(t)
	infer := func(req *inferencepb.ModelInferRequest) error {
		_, err := c.ModelInfer(ctx, req)
		return err
	}
	tests := []struct {
		name      string
		req       *inferencepb.ModelInferRequest
		code      codes.Code
		fragments []string
	}{
		{"unknown model", &inferencepb.ModelInferRequest{ModelName: "nope", Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 1}}}, RawInputContents: [][]byte{fp32s(1)}}, codes.NotFound, []string{`"nope"`}},
		{"unknown version", &inferencepb.ModelInferRequest{ModelName: "identity", ModelVersion: "3", Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 1}}}, RawInputContents: [][]byte{fp32s(1)}}, codes.NotFound, []string{`version "3"`}},
		{"no model name", &inferencepb.ModelInferRequest{}, codes.InvalidArgument, []string{"no model name"}},
		{"no inputs", &inferencepb.ModelInferRequest{ModelName: "identity"}, codes.InvalidArgument, []string{"no inputs"}},
		{"bad shape", &inferencepb.ModelInferRequest{ModelName: "identity", Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1}}}, RawInputContents: [][]byte{fp32s(1)}}, codes.InvalidArgument, []string{"[1]", "[-1 -1]"}},
		{"byte size", &inferencepb.ModelInferRequest{ModelName: "identity", Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 2}}}, RawInputContents: [][]byte{fp32s(1)}}, codes.InvalidArgument, []string{"4 bytes", "needs 8"}},
		{"raw count", &inferencepb.ModelInferRequest{ModelName: "identity", Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 1}}}, RawInputContents: [][]byte{fp32s(1), fp32s(2)}}, codes.InvalidArgument, []string{"raw_input_contents has 2"}},
		{"no data", &inferencepb.ModelInferRequest{ModelName: "identity", Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 1}}}}, codes.InvalidArgument, []string{"no data"}},
		{"contents count", &inferencepb.ModelInferRequest{ModelName: "identity", Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 2}, Contents: &inferencepb.InferTensorContents{Fp32Contents: []float32{1}}}}}, codes.InvalidArgument, []string{"fp32_contents has 1", "needs 2"}},
		{"both raw and contents", &inferencepb.ModelInferRequest{ModelName: "identity", Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 1}, Contents: &inferencepb.InferTensorContents{Fp32Contents: []float32{1}}}}, RawInputContents: [][]byte{fp32s(1)}}, codes.InvalidArgument, []string{"one or the other"}},
		{"decoupled unary", &inferencepb.ModelInferRequest{ModelName: "repeat", Inputs: []*inputT{{Name: "IN", Datatype: "INT32", Shape: []int64{1}}}, RawInputContents: [][]byte{int32s(1)}}, codes.Unimplemented, []string{"ModelInfer RPC doesn't support models with decoupled transaction policy"}},
		{"bad sequence_id", &inferencepb.ModelInferRequest{ModelName: "sequence", Parameters: map[string]*inferencepb.InferParameter{"sequence_id": {ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: true}}}, Inputs: []*inputT{{Name: "INPUT", Datatype: "INT32", Shape: []int64{1}}}, RawInputContents: [][]byte{int32s(1)}}, codes.InvalidArgument, []string{"sequence_id"}},
		{"shared memory", &inferencepb.ModelInferRequest{ModelName: "identity", Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 1}, Parameters: map[string]*inferencepb.InferParameter{"shared_memory_region": {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: "r"}}}}}}, codes.InvalidArgument, []string{"shared_memory_byte_size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, infer(tt.req), tt.code, tt.fragments...)
		})
	}

	t.Run("metadata of unknown model", func(t *testing.T) {
		_, err := c.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: "nope"})
		wantCode(t, err, codes.NotFound, `"nope"`)
		_, err = c.ModelConfig(ctx, &inferencepb.ModelConfigRequest{Name: "nope"})
		wantCode(t, err, codes.NotFound, `"nope"`)
		_, err = c.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: "nope"})
		wantCode(t, err, codes.NotFound, `"nope"`)
		_, err = c.ModelStatistics(ctx, &inferencepb.ModelStatisticsRequest{Name: "nope"})
		wantCode(t, err, codes.NotFound, `"nope"`)
	})
	t.Run("unimplemented by design", func(t *testing.T) {
		calls := map[string]error{}
		_, calls["RepositoryModelLoad"] = c.RepositoryModelLoad(ctx, &inferencepb.RepositoryModelLoadRequest{ModelName: "simple"})
		_, calls["RepositoryModelUnload"] = c.RepositoryModelUnload(ctx, &inferencepb.RepositoryModelUnloadRequest{ModelName: "simple"})
		_, calls["CudaSharedMemoryStatus"] = c.CudaSharedMemoryStatus(ctx, &inferencepb.CudaSharedMemoryStatusRequest{})
		_, calls["CudaSharedMemoryRegister"] = c.CudaSharedMemoryRegister(ctx, &inferencepb.CudaSharedMemoryRegisterRequest{})
		_, calls["CudaSharedMemoryUnregister"] = c.CudaSharedMemoryUnregister(ctx, &inferencepb.CudaSharedMemoryUnregisterRequest{})
		_, calls["TraceSetting"] = c.TraceSetting(ctx, &inferencepb.TraceSettingRequest{})
		_, calls["LogSettings"] = c.LogSettings(ctx, &inferencepb.LogSettingsRequest{})
		for name, err := range calls {
			t.Run(name, func(t *testing.T) { wantCode(t, err, codes.Unimplemented, "perfgo serve") })
		}
	})
}

// contentsFor builds typed contents holding the dtypeCase values.
func contentsFor(dt string) *inferencepb.InferTensorContents {
	switch dt {
	case "BOOL":
		return &inferencepb.InferTensorContents{BoolContents: []bool{true, false, true}}
	case "UINT8":
		return &inferencepb.InferTensorContents{UintContents: []uint32{0, 7, 255}}
	case "UINT16":
		return &inferencepb.InferTensorContents{UintContents: []uint32{0, 7, 65535}}
	case "UINT32":
		return &inferencepb.InferTensorContents{UintContents: []uint32{0, 7, 4294967295}}
	case "UINT64":
		return &inferencepb.InferTensorContents{Uint64Contents: []uint64{0, 7, 18446744073709551615}}
	case "INT8":
		return &inferencepb.InferTensorContents{IntContents: []int32{-128, 0, 127}}
	case "INT16":
		return &inferencepb.InferTensorContents{IntContents: []int32{-32768, 0, 32767}}
	case "INT32":
		return &inferencepb.InferTensorContents{IntContents: []int32{-2147483648, 0, 2147483647}}
	case "INT64":
		return &inferencepb.InferTensorContents{Int64Contents: []int64{-9223372036854775808, 0, 9223372036854775807}}
	case "FP32":
		return &inferencepb.InferTensorContents{Fp32Contents: []float32{1, 2.5, -3}}
	case "FP64":
		return &inferencepb.InferTensorContents{Fp64Contents: []float64{1, 2.5, -3}}
	case "BYTES":
		return &inferencepb.InferTensorContents{BytesContents: [][]byte{[]byte("a"), {}, []byte("héllo \"q\"")}}
	}
	return &inferencepb.InferTensorContents{} // FP16, BF16: no typed field
}

func TestGRPCDatatypes(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	ctx := testCtx(t)
	for _, dc := range dtypeCases() {
		model := "identity_" + strings.ToLower(dc.dt)
		t.Run(dc.dt, func(t *testing.T) {
			in := &inputT{Name: "INPUT0", Datatype: dc.dt, Shape: []int64{1, 3}}
			check := func(name string, resp *inferencepb.ModelInferResponse, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if len(resp.Outputs) != 1 || len(resp.RawOutputContents) != 1 {
					t.Fatalf("%s: %d outputs, %d raw contents; want 1 and 1", name, len(resp.Outputs), len(resp.RawOutputContents))
				}
				o := resp.Outputs[0]
				if o.Name != "OUTPUT0" || o.Datatype != dc.dt || !reflect.DeepEqual(o.Shape, []int64{1, 3}) || resp.Id != "i" {
					t.Errorf("%s: output %v id %q", name, o, resp.Id)
				}
				if !bytes.Equal(resp.RawOutputContents[0], dc.raw) {
					t.Errorf("%s: raw output %x, want %x", name, resp.RawOutputContents[0], dc.raw)
				}
			}
			resp, err := c.ModelInfer(ctx, &inferencepb.ModelInferRequest{ModelName: model, Id: "i", Inputs: []*inputT{in}, RawInputContents: [][]byte{dc.raw}})
			check("raw", resp, err)

			typed := proto.Clone(in).(*inputT)
			typed.Contents = contentsFor(dc.dt)
			resp, err = c.ModelInfer(ctx, &inferencepb.ModelInferRequest{ModelName: model, Id: "i", Inputs: []*inputT{typed}})
			if dc.dt == "FP16" || dc.dt == "BF16" {
				wantCode(t, err, codes.InvalidArgument, "raw_input_contents")
				return
			}
			check("contents", resp, err)
		})
	}
}

func TestGRPCSimple(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	a, b := make([]int32, 32), make([]int32, 32)
	for i := range a {
		a[i], b[i] = int32(i*i), int32(7-i)
	}
	resp, err := c.ModelInfer(testCtx(t), &inferencepb.ModelInferRequest{
		ModelName: "simple",
		Inputs: []*inputT{
			{Name: "INPUT0", Datatype: "INT32", Shape: []int64{2, 16}},
			{Name: "INPUT1", Datatype: "INT32", Shape: []int64{2, 16}},
		},
		Outputs:          []*inferencepb.ModelInferRequest_InferRequestedOutputTensor{{Name: "OUTPUT1"}, {Name: "OUTPUT0"}},
		RawInputContents: [][]byte{int32s(a...), int32s(b...)},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int32{}
	for i, o := range resp.Outputs {
		got[o.Name] = decodeInt32s(t, resp.RawOutputContents[i])
	}
	for i := range a {
		if got["OUTPUT0"][i] != a[i]+b[i] || got["OUTPUT1"][i] != a[i]-b[i] {
			t.Fatalf("element %d: sum %d diff %d, want %d %d", i, got["OUTPUT0"][i], got["OUTPUT1"][i], a[i]+b[i], a[i]-b[i])
		}
	}
}

// streamAll sends reqs on one ModelStreamInfer stream, closes the send side
// and returns every response.
func streamAll(t *testing.T, c inferencepb.GRPCInferenceServiceClient, reqs ...*inferencepb.ModelInferRequest) []*inferencepb.ModelStreamInferResponse {
	t.Helper()
	st, err := c.ModelStreamInfer(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if err := st.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var out []*inferencepb.ModelStreamInferResponse
	for {
		r, err := st.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		out = append(out, r)
	}
}

func finalFlag(r *inferencepb.ModelInferResponse) (final, present bool) {
	p, ok := r.GetParameters()["triton_final_response"]
	if !ok {
		return false, false
	}
	return p.GetBoolParam(), true
}

func TestRepeatDecoupled(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	req := func(id string, emptyFinal bool, vals ...int32) *inferencepb.ModelInferRequest {
		r := &inferencepb.ModelInferRequest{ModelName: "repeat", Id: id,
			Inputs:           []*inputT{{Name: "IN", Datatype: "INT32", Shape: []int64{int64(len(vals))}}},
			RawInputContents: [][]byte{int32s(vals...)}}
		if emptyFinal {
			r.Parameters = map[string]*inferencepb.InferParameter{"triton_enable_empty_final_response": {ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: true}}}
		}
		return r
	}
	tests := []struct {
		name       string
		emptyFinal bool
		vals       []int32
	}{
		{"three values", false, []int32{5, 6, 7}},
		{"three values, empty final", true, []int32{5, 6, 7}},
		{"no values, empty final", true, nil},
		{"one value", false, []int32{-1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resps := streamAll(t, c, req("r", tt.emptyFinal, tt.vals...))
			want := len(tt.vals)
			if tt.emptyFinal {
				want++
			}
			if len(resps) != want {
				t.Fatalf("%d responses, want %d", len(resps), want)
			}
			for i, r := range resps {
				if r.ErrorMessage != "" {
					t.Fatalf("response %d: error %q", i, r.ErrorMessage)
				}
				ir := r.InferResponse
				final, present := finalFlag(ir)
				isLast := i == len(resps)-1
				if !present || final != isLast {
					t.Errorf("response %d: triton_final_response %v (present %v), want %v", i, final, present, isLast)
				}
				if i == len(tt.vals) { // the empty final response
					if len(ir.Outputs) != 0 {
						t.Errorf("final empty response has %d outputs", len(ir.Outputs))
					}
					continue
				}
				if ir.Id != "r" || len(ir.RawOutputContents) != 2 {
					t.Fatalf("response %d: id %q, %d outputs", i, ir.Id, len(ir.RawOutputContents))
				}
				out := decodeInt32s(t, ir.RawOutputContents[0])
				idx := decodeInt32s(t, ir.RawOutputContents[1])
				if out[0] != tt.vals[i] || idx[0] != int32(i) {
					t.Errorf("response %d: OUT %d IDX %d, want %d %d", i, out[0], idx[0], tt.vals[i], i)
				}
			}
		})
	}
	st := stats(t, c, "repeat")
	if st.InferenceStats.Success.Count != uint64(len(tests)) || st.ExecutionCount != uint64(len(tests)) {
		t.Errorf("repeat stats: success %d executions %d, want %d each", st.InferenceStats.Success.Count, st.ExecutionCount, len(tests))
	}
}

func TestStreamNonDecoupledAndErrors(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	var reqs []*inferencepb.ModelInferRequest
	const n = 20
	for i := range n {
		reqs = append(reqs, &inferencepb.ModelInferRequest{ModelName: "delay", Id: itoa(i),
			Inputs:           []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 1}}},
			RawInputContents: [][]byte{fp32s(float32(i))}})
	}
	reqs = append(reqs, &inferencepb.ModelInferRequest{ModelName: "nope", Id: "bad"})
	resps := streamAll(t, c, reqs...)
	if len(resps) != n+1 {
		t.Fatalf("%d responses, want %d", len(resps), n+1)
	}
	seen := map[string]bool{}
	for _, r := range resps {
		id := r.InferResponse.GetId()
		if id == "bad" {
			if !strings.Contains(r.ErrorMessage, `"nope"`) {
				t.Errorf("error response %q does not name the model", r.ErrorMessage)
			}
			continue
		}
		if r.ErrorMessage != "" {
			t.Fatalf("request %s: %s", id, r.ErrorMessage)
		}
		if _, present := finalFlag(r.InferResponse); present {
			t.Errorf("request %s: triton_final_response sent without triton_enable_empty_final_response", id)
		}
		seen[id] = true
		if want := fp32s(float32(atoi(t, id))); !bytes.Equal(r.InferResponse.RawOutputContents[0], want) {
			t.Errorf("request %s: output %x, want %x", id, r.InferResponse.RawOutputContents[0], want)
		}
	}
	if len(seen) != n {
		t.Errorf("answered %d distinct requests, want %d", len(seen), n)
	}
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a number", s)
		}
		n = 10*n + int(c-'0')
	}
	return n
}
