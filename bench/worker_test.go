// Package bench holds perfgo's benchmark harness (run.sh), the bare client
// loop it compares perfgo with (bareloop/), and this benchmark of the
// measured worker path.
package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/inputs"
	"github.com/perfgo/perfgo/pkg/loadgen"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// BenchmarkWorkerPath runs perfgo's engine (pkg/loadgen: closed loop,
// per-worker recorders) over the real client against the reference server
// in a child process, so that the allocations counted are perfgo's alone.
//
// allocs/op and B/op include the run's fixed costs (workers, histograms)
// spread over b.N requests. allocs/req and B/req are the marginal cost of
// one more request: the difference between a run of b.N requests and one
// of calibrate requests, from runtime.MemStats, which cancels the fixed
// costs exactly. Use -benchtime=200000x or so: b.N must exceed 2*calibrate.
//
//	go test -run '^$' -bench WorkerPath -benchtime=200000x ./bench/
func BenchmarkWorkerPath(b *testing.B) {
	httpAddr, grpcAddr := servertest.StartProcess(b)
	for _, tt := range []struct {
		name, protocol, url, transportEnv, transport string
	}{
		{"grpc", "grpc", grpcAddr, "", ""},
		{"grpc-grpcgo", "grpc", grpcAddr, "PERFGO_GRPC_TRANSPORT", "grpc-go"},
		{"http", "http", httpAddr, "", ""},
		{"http-nethttp", "http", httpAddr, "PERFGO_HTTP_TRANSPORT", "nethttp"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			if tt.transport != "" {
				b.Setenv(tt.transportEnv, tt.transport)
			}
			benchWorkerPath(b, tt.protocol, tt.url)
		})
	}
}

const (
	workers   = 8
	calibrate = 5000
)

func benchWorkerPath(b *testing.B, protocol, url string) {
	ctx := context.Background()
	cl, err := client.New(ctx, client.Options{Protocol: client.Protocol(protocol), URL: url, Workers: workers})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	md, err := cl.ModelMetadata(ctx, "simple", "")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := cl.ModelConfig(ctx, "simple", "")
	if err != nil {
		b.Fatal(err)
	}
	tensors, outputs, err := inputs.Build(inputs.Model{Metadata: md, Config: cfg}, inputs.Options{Data: inputs.Random, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	req := &client.InferRequest{Model: "simple", Inputs: tensors, Outputs: outputs}
	run := func(n int) error {
		r, err := loadgen.Run(ctx, loadgen.Options{
			Start: workers, End: workers, RequestCount: n, Model: "simple",
			NewCaller: func(int) (loadgen.Caller, error) { return cl.NewCall(req) },
		})
		if err != nil {
			return err
		}
		if len(r.Levels) != 1 || r.Levels[0].Client.Requests != uint64(n) || r.Levels[0].Client.Failed != 0 {
			return fmt.Errorf("a run of %d requests reported %+v", n, r.Levels)
		}
		return nil
	}
	if err := run(calibrate); err != nil { // connect and warm up
		b.Fatal(err)
	}
	small, err := mallocs(func() error { return run(calibrate) })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	big, err := mallocs(func() error { return run(b.N) })
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if b.N > 2*calibrate {
		n := float64(b.N - calibrate)
		b.ReportMetric(float64(big.count-small.count)/n, "allocs/req")
		b.ReportMetric(float64(big.bytes-small.bytes)/n, "B/req")
	}
}

type allocs struct{ count, bytes int64 }

// mallocs counts the heap allocations made while f runs (by any goroutine).
func mallocs(f func() error) (allocs, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := f()
	runtime.ReadMemStats(&after)
	return allocs{int64(after.Mallocs - before.Mallocs), int64(after.TotalAlloc - before.TotalAlloc)}, err
}

func TestMain(m *testing.M) {
	servertest.ServeIfChild()
	goleak.VerifyTestMain(m)
}

// The harness's own pieces: a test that the benchmark's server and worker
// path work, so that `go test ./bench/` fails before `make bench` does.
func TestWorkerPathSmoke(t *testing.T) {
	httpAddr, grpcAddr := servertest.StartProcess(t)
	for _, tt := range []struct{ protocol, url string }{{"grpc", grpcAddr}, {"http", httpAddr}} {
		t.Run(tt.protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cl, err := client.New(ctx, client.Options{Protocol: client.Protocol(tt.protocol), URL: tt.url, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			before, err := cl.ModelStatistics(ctx, "simple", "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := mallocs(func() error {
				_, err := loadgen.Run(ctx, loadgen.Options{Start: 2, End: 2, RequestCount: 100, Model: "simple",
					NewCaller: func(int) (loadgen.Caller, error) {
						return cl.NewCall(&client.InferRequest{Model: "simple", Inputs: []client.Tensor{
							{Name: "INPUT0", Datatype: "INT32", Shape: []int64{1, 16}, Data: make([]byte, 64)},
							{Name: "INPUT1", Datatype: "INT32", Shape: []int64{1, 16}, Data: make([]byte, 64)},
						}})
					}})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.count <= 0 || got.bytes <= 0 {
				t.Errorf("mallocs counted %+v for a whole run: want some", got)
			}
			after, err := cl.ModelStatistics(ctx, "simple", "")
			if err != nil {
				t.Fatal(err)
			}
			sent := after.GetModelStats()[0].GetInferenceStats().GetSuccess().GetCount() - before.GetModelStats()[0].GetInferenceStats().GetSuccess().GetCount()
			if sent != 100 {
				t.Errorf("the server counted %d requests, the run sent 100", sent)
			}
		})
	}
}
