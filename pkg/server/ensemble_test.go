package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// TestEnsemble: every request to the ensemble is one request to each step
// model, with the step's output fed to the next; each model's statistics
// count it, and the ensemble's queue and compute are its steps' sums.
func TestEnsemble(t *testing.T) {
	const service = 3 * time.Millisecond
	s := servertest.Start(t, func(o *server.Options) { o.Delay = server.DelayOptions{ServiceTime: service} })
	c := grpcClient(t, s.GRPCAddr)
	h := newHTTPClient(t, s.HTTPAddr)

	cfg, err := c.ModelConfig(testCtx(t), &inferencepb.ModelConfigRequest{Name: "ensemble"})
	if err != nil {
		t.Fatal(err)
	}
	steps := cfg.GetConfig().GetEnsembleScheduling().GetStep()
	if cfg.GetConfig().GetPlatform() != "ensemble" || len(steps) != 2 || steps[0].GetModelName() != "identity" || steps[1].GetModelName() != "delay" ||
		steps[0].GetOutputMap()["OUTPUT0"] != steps[1].GetInputMap()["INPUT0"] {
		t.Fatalf("ensemble config: platform %q, steps %v; want identity feeding delay", cfg.GetConfig().GetPlatform(), steps)
	}

	const workers, perWorker = 3, 6
	var eg errgroup.Group
	for w := range workers {
		eg.Go(func() error {
			for i := range perWorker {
				v := fp32s(float32(w*100+i), 2)
				if w == 0 {
					r := h.inferBinary("ensemble", `{"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}],"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}`, v)
					if r.status != http.StatusOK || !bytes.HasSuffix(r.body, v) {
						return fmt.Errorf("HTTP ensemble: %d %q", r.status, r.body)
					}
					continue
				}
				resp, err := c.ModelInfer(context.Background(), &inferencepb.ModelInferRequest{ModelName: "ensemble",
					Inputs:           []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 2}}},
					RawInputContents: [][]byte{v}})
				if err != nil {
					return err
				}
				if len(resp.RawOutputContents) != 1 || !bytes.Equal(resp.RawOutputContents[0], v) || resp.Outputs[0].Name != "OUTPUT0" {
					return fmt.Errorf("ensemble answered %v %x, want OUTPUT0 %x", resp.Outputs, resp.RawOutputContents, v)
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	// A request over the ensemble's batch limit fails there, before any step.
	if _, err := c.ModelInfer(testCtx(t), &inferencepb.ModelInferRequest{ModelName: "ensemble",
		Inputs:           []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{9, 1}}},
		RawInputContents: [][]byte{fp32s(make([]float32, 9)...)}}); err == nil {
		t.Fatal("a batch of 9 went through the ensemble; its maximum is 8")
	}

	const n = workers * perWorker
	ens, id, dl := stats(t, c, "ensemble"), stats(t, c, "identity"), stats(t, c, "delay")
	for _, m := range []*inferencepb.ModelStatistics{ens, id, dl} {
		st := m.GetInferenceStats()
		if st.GetSuccess().GetCount() != n || st.GetQueue().GetCount() != n || st.GetComputeInfer().GetCount() != n || m.GetInferenceCount() != n {
			t.Errorf("%s: success %d, queue %d, compute %d, inferences %d; want %d each", m.GetName(),
				st.GetSuccess().GetCount(), st.GetQueue().GetCount(), st.GetComputeInfer().GetCount(), m.GetInferenceCount(), n)
		}
	}
	if e, i, d := ens.GetInferenceStats().GetFail().GetCount(), id.GetInferenceStats().GetFail().GetCount(), dl.GetInferenceStats().GetFail().GetCount(); e != 1 || i != 0 || d != 0 {
		t.Errorf("fail counts: ensemble %d, identity %d, delay %d; want 1, 0, 0", e, i, d)
	}
	sum := func(f func(*inferencepb.InferStatistics) *inferencepb.StatisticDuration) (got, want uint64) {
		return f(ens.GetInferenceStats()).GetNs(), f(id.GetInferenceStats()).GetNs() + f(dl.GetInferenceStats()).GetNs()
	}
	for name, f := range map[string]func(*inferencepb.InferStatistics) *inferencepb.StatisticDuration{
		"queue":         (*inferencepb.InferStatistics).GetQueue,
		"compute input": (*inferencepb.InferStatistics).GetComputeInput,
		"compute infer": (*inferencepb.InferStatistics).GetComputeInfer,
	} {
		if got, want := sum(f); got != want {
			t.Errorf("ensemble %s %d ns, want the steps' sum %d ns", name, got, want)
		}
	}
	if got, min := dl.GetInferenceStats().GetComputeInfer().GetNs(), uint64(n)*uint64(service); got < min {
		t.Errorf("delay step compute %v for %d requests of %v", time.Duration(got), n, service)
	}
	// The steps ran inside the ensemble's requests.
	if e, steps := ens.GetInferenceStats().GetSuccess().GetNs(), id.GetInferenceStats().GetSuccess().GetNs()+dl.GetInferenceStats().GetSuccess().GetNs(); e < steps {
		t.Errorf("ensemble success time %v is less than its steps' %v", time.Duration(e), time.Duration(steps))
	}
}

// TestResponseCache: with the cache on, a request equal to an earlier one
// (inputs and requested outputs) is a cache hit with the same answer and
// no compute; a different one is a miss that computes. Statistics count
// both as Triton's do.
func TestResponseCache(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) { o.ResponseCache = true })
	c := grpcClient(t, s.GRPCAddr)
	cfg, err := c.ModelConfig(testCtx(t), &inferencepb.ModelConfigRequest{Name: "identity"})
	if err != nil || !cfg.GetConfig().GetResponseCache().GetEnable() {
		t.Fatalf("identity config: response cache %v, %v; want enabled", cfg.GetConfig().GetResponseCache(), err)
	}
	infer := func(vals ...float32) {
		t.Helper()
		v := fp32s(vals...)
		resp, err := c.ModelInfer(testCtx(t), &inferencepb.ModelInferRequest{ModelName: "identity",
			Inputs:           []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, int64(len(vals))}}},
			RawInputContents: [][]byte{v}})
		if err != nil || len(resp.RawOutputContents) != 1 || !bytes.Equal(resp.RawOutputContents[0], v) {
			t.Fatalf("identity(%v): %v, %v", vals, resp, err)
		}
	}
	for range 5 {
		infer(1, 2, 3)
	}
	infer(1, 2, 4) // same shape, other data
	infer(1, 2)    // other shape
	infer(1, 2, 4)
	st := stats(t, c, "identity")
	is := st.GetInferenceStats()
	if is.GetCacheHit().GetCount() != 5 || is.GetCacheMiss().GetCount() != 3 || is.GetSuccess().GetCount() != 8 ||
		is.GetComputeInfer().GetCount() != 3 || st.GetInferenceCount() != 3 || st.GetExecutionCount() != 3 || is.GetQueue().GetCount() != 8 {
		t.Errorf("hits %d, misses %d, success %d, compute %d, inferences %d, executions %d, queue %d; want 5, 3, 8, 3, 3, 3, 8",
			is.GetCacheHit().GetCount(), is.GetCacheMiss().GetCount(), is.GetSuccess().GetCount(), is.GetComputeInfer().GetCount(),
			st.GetInferenceCount(), st.GetExecutionCount(), is.GetQueue().GetCount())
	}
	// Without the option nothing is cached.
	plain := grpcClient(t, servertest.Start(t).GRPCAddr)
	if _, err := plain.ModelInfer(testCtx(t), &inferencepb.ModelInferRequest{ModelName: "identity",
		Inputs: []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 1}}}, RawInputContents: [][]byte{fp32s(1)}}); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, plain, "identity").GetInferenceStats(); st.GetCacheHit().GetCount()+st.GetCacheMiss().GetCount() != 0 {
		t.Errorf("a server without the cache counted cache hits or misses: %v", st)
	}
}
