package client

import (
	"errors"
	"os"
	"testing"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// The v2 suite runs against any server that has Triton's "simple" model:
//
//	PERFGO_V2_HTTP_URL=localhost:8000 PERFGO_V2_GRPC_URL=localhost:8001 go test -run Integration ./pkg/client/
//
// Without the variables it is skipped; TestV2SuiteOnReference runs the same
// checks against perfgo's own server so the suite itself is known to work.
func TestIntegration(t *testing.T) {
	ran := false
	if u := os.Getenv("PERFGO_V2_HTTP_URL"); u != "" {
		ran = true
		t.Run("http", func(t *testing.T) { v2Suite(t, Options{Protocol: HTTP, URL: u}) })
	}
	if u := os.Getenv("PERFGO_V2_GRPC_URL"); u != "" {
		ran = true
		t.Run("grpc", func(t *testing.T) { v2Suite(t, Options{Protocol: GRPC, URL: u}) })
	}
	if !ran {
		t.Skip("set PERFGO_V2_HTTP_URL and/or PERFGO_V2_GRPC_URL to a v2 server with the simple model")
	}
}

func TestV2SuiteOnReference(t *testing.T) {
	s := servertest.Start(t)
	t.Run("http", func(t *testing.T) { v2Suite(t, Options{Protocol: HTTP, URL: s.HTTPAddr}) })
	t.Run("http-json", func(t *testing.T) {
		v2Suite(t, Options{Protocol: HTTP, URL: s.HTTPAddr, InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON})
	})
	t.Run("grpc", func(t *testing.T) { v2Suite(t, Options{Protocol: GRPC, URL: s.GRPCAddr}) })
}

// v2Suite checks one server through one transport. It assumes nothing
// else sends to "simple" meanwhile (the statistics check counts requests).
func v2Suite(t *testing.T, opts Options) {
	ctx := testCtx(t)
	c := newClient(t, opts)
	if live, err := c.ServerLive(ctx); !live || err != nil {
		t.Fatalf("ServerLive = %v, %v", live, err)
	}
	if ready, err := c.ServerReady(ctx); !ready || err != nil {
		t.Fatalf("ServerReady = %v, %v", ready, err)
	}
	md, err := c.ServerMetadata(ctx)
	if err != nil {
		t.Fatalf("ServerMetadata: %v", err)
	}
	t.Logf("server %s %s, extensions %v", md.GetName(), md.GetVersion(), md.GetExtensions())
	if ready, err := c.ModelReady(ctx, "simple", ""); !ready || err != nil {
		t.Fatalf("ModelReady(simple) = %v, %v (load Triton's simple example model)", ready, err)
	}
	mm, err := c.ModelMetadata(ctx, "simple", "")
	if err != nil || len(mm.GetInputs()) != 2 || len(mm.GetOutputs()) != 2 {
		t.Fatalf("ModelMetadata(simple) = %v, %v", mm, err)
	}
	if cfg, err := c.ModelConfig(ctx, "simple", ""); errors.Is(err, ErrUnsupported) {
		t.Logf("no model configuration: %v", err)
	} else if err != nil || cfg.GetName() != "simple" {
		t.Errorf("ModelConfig(simple) = %v, %v", cfg, err)
	}
	if _, err := c.RepositoryIndex(ctx, true); err != nil && !errors.Is(err, ErrUnsupported) {
		t.Errorf("RepositoryIndex: %v", err)
	}

	before, statsErr := c.ModelStatistics(ctx, "simple", "")
	if statsErr != nil && !errors.Is(statsErr, ErrUnsupported) {
		t.Fatalf("ModelStatistics: %v", statsErr)
	}
	req := simpleRequest()
	req.Parameters = nil // Triton rejects sequence parameters for a non-sequence model
	call := newCall(t, c, req)
	const n = 10
	for i := range n {
		if _, err := call.Do(ctx); err != nil {
			t.Fatalf("Do %d: %v", i, err)
		}
	}
	r, err := call.Response()
	if err != nil {
		t.Fatalf("Response: %v", err)
	}
	checkSimple(t, r)
	if statsErr == nil {
		after, err := c.ModelStatistics(ctx, "simple", "")
		if err != nil {
			t.Fatal(err)
		}
		d := after.GetModelStats()[0].GetInferenceStats().GetSuccess().GetCount() -
			before.GetModelStats()[0].GetInferenceStats().GetSuccess().GetCount()
		if d != n {
			t.Errorf("server counted %d successes, the client sent %d", d, n)
		}
	}

	bad := &InferRequest{Model: "simple", Inputs: []Tensor{
		{Name: "INPUT0", Datatype: TypeInt32, Shape: []int64{1, 3}, Data: int32Data(1, 2, 3)},
		{Name: "INPUT1", Datatype: TypeInt32, Shape: []int64{1, 3}, Data: int32Data(1, 2, 3)},
	}}
	if _, err := newCall(t, c, bad).Do(ctx); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad shape: %v, want ErrBadRequest", err)
	} else {
		t.Logf("bad shape: %v", err)
	}
	unknown := simpleRequest()
	unknown.Model, unknown.Parameters = "perfgo_no_such_model", nil
	if _, err := newCall(t, c, unknown).Do(ctx); !errors.Is(err, ErrModelNotFound) {
		t.Errorf("unknown model: %v, want ErrModelNotFound", err)
	}
}
