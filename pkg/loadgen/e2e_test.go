package loadgen

import (
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/result"
	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// The interfaces the engine consumes are the client's.
var (
	_ Caller      = client.Call(nil)
	_ StatsSource = client.Client(nil)
)

// TestEndToEnd runs the engine over a real transport against the reference
// server: the server's own count must equal the count the engine reports.
func TestEndToEnd(t *testing.T) {
	const service = 500 * time.Microsecond
	srv := servertest.Start(t, func(o *server.Options) { o.Delay.ServiceTime = service })
	for _, tt := range []struct {
		name string
		mode result.Mode
		opts client.Options
	}{
		{"grpc closed loop", result.Concurrency, client.Options{Protocol: client.GRPC, URL: srv.GRPCAddr}},
		{"http closed loop", result.Concurrency, client.Options{Protocol: client.HTTP, URL: srv.HTTPAddr}},
		{"grpc open loop", result.RequestRate, client.Options{Protocol: client.GRPC, URL: srv.GRPCAddr}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			tt.opts.Workers, tt.opts.Timeout = 4, 30*time.Second
			c, err := client.New(ctx, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := &client.InferRequest{Model: "delay", Inputs: []client.Tensor{
				{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 4}, Data: make([]byte, 16)},
			}}
			level := 4.0
			if tt.mode == result.RequestRate {
				level = 1000
			}
			run, err := Run(ctx, Options{
				Mode: tt.mode, Start: level, End: level,
				RequestCount: 200, WarmupRequestCount: 10,
				Model: "delay", Stats: c,
				NewCaller: func(int) (Caller, error) { return c.NewCall(req) },
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			l := run.Levels[0]
			if l.Client.Requests != 200 || l.Client.Failed != 0 || l.Client.Issued != 200 {
				t.Errorf("%d ok, %d failed, %d issued; want 200, 0, 200", l.Client.Requests, l.Client.Failed, l.Client.Issued)
			}
			if l.Server == nil || l.Server.Success.Count != 200 || l.Server.ExecutionCount != 200 {
				t.Fatalf("server statistics %+v; want 200 successful requests and executions", l.Server)
			}
			// The server holds each request for the service time.
			if l.Client.Latency.Min < service || l.Server.ComputeInfer.Avg() < service {
				t.Errorf("latency min %v, server compute %v; want both >= %v", l.Client.Latency.Min, l.Server.ComputeInfer.Avg(), service)
			}
			if l.Client.RequestTime <= 0 || l.Client.Latency.Hist == nil {
				t.Errorf("client library time %v, histogram %v; want both", l.Client.RequestTime, l.Client.Latency.Hist != nil)
			}
		})
	}
}
