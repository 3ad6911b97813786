package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// TestStatisticsExact sends a known mix of requests over both transports
// and checks every counter exactly.
func TestStatisticsExact(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	c := grpcClient(t, s.GRPCAddr)
	const (
		perWorker = 25
		workers   = 4
		batch     = 3
		bad       = 7
	)
	before := time.Now().UnixMilli()
	hdr := `{"inputs":[{"name":"INPUT0","shape":[3,16],"datatype":"INT32","parameters":{"binary_data_size":192}},` +
		`{"name":"INPUT1","shape":[3,16],"datatype":"INT32","parameters":{"binary_data_size":192}}],` +
		`"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}`
	data := int32s(make([]int32, 48)...)
	var eg errgroup.Group
	for w := range workers {
		eg.Go(func() error {
			for range perWorker {
				if w%2 == 0 {
					if r := h.inferBinary("simple", hdr, data, data); r.status != http.StatusOK {
						return fmt.Errorf("HTTP infer: %d %s", r.status, r.body)
					}
					continue
				}
				_, err := c.ModelInfer(context.Background(), &inferencepb.ModelInferRequest{ModelName: "simple",
					Inputs: []*inputT{
						{Name: "INPUT0", Datatype: "INT32", Shape: []int64{batch, 16}},
						{Name: "INPUT1", Datatype: "INT32", Shape: []int64{batch, 16}},
					},
					RawInputContents: [][]byte{data, data}})
				if err != nil {
					return fmt.Errorf("gRPC infer: %w", err)
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range bad { // failures the model sees: wrong shape
		if i%2 == 0 {
			errorBody(t, h.inferJSON("simple", `{"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"INT32","data":[1,2]}]}`), 400)
			continue
		}
		_, err := c.ModelInfer(testCtx(t), &inferencepb.ModelInferRequest{ModelName: "simple", Inputs: []*inputT{{Name: "INPUT0", Datatype: "INT32", Shape: []int64{1}}}, RawInputContents: [][]byte{int32s(1)}})
		wantCode(t, err, codes.InvalidArgument)
	}
	// Requests for unknown models are not any model's failures.
	errorBody(t, h.inferJSON("nope", `{}`), 404)

	st := stats(t, c, "simple")
	is := st.InferenceStats
	const k = workers * perWorker
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"success.count", is.Success.Count, k},
		{"fail.count", is.Fail.Count, bad},
		{"queue.count", is.Queue.Count, k},
		{"compute_input.count", is.ComputeInput.Count, k},
		{"compute_infer.count", is.ComputeInfer.Count, k},
		{"compute_output.count", is.ComputeOutput.Count, k},
		{"inference_count", st.InferenceCount, k * batch},
		{"execution_count", st.ExecutionCount, k},
		{"cache_hit.count", is.CacheHit.Count, 0},
		{"batch_stats entries", uint64(len(st.BatchStats)), 1},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %d, want %d", ch.name, ch.got, ch.want)
		}
	}
	if len(st.BatchStats) == 1 && (st.BatchStats[0].BatchSize != batch || st.BatchStats[0].ComputeInfer.Count != k) {
		t.Errorf("batch_stats = %v, want batch_size %d count %d", st.BatchStats[0], batch, k)
	}
	if is.Success.Ns < is.Queue.Ns+is.ComputeInput.Ns+is.ComputeInfer.Ns+is.ComputeOutput.Ns {
		t.Errorf("success.ns %d is less than queue+compute %d", is.Success.Ns, is.Queue.Ns+is.ComputeInput.Ns+is.ComputeInfer.Ns+is.ComputeOutput.Ns)
	}
	if is.Success.Ns == 0 || is.Fail.Ns == 0 {
		t.Errorf("success.ns %d, fail.ns %d: want both > 0", is.Success.Ns, is.Fail.Ns)
	}
	if int64(st.LastInference) < before || int64(st.LastInference) > time.Now().UnixMilli() {
		t.Errorf("last_inference %d is not between %d and now", st.LastInference, before)
	}
	// Server.Statistics is the same data.
	direct, err := s.Statistics("simple")
	if err != nil || direct.ModelStats[0].InferenceCount != k*batch {
		t.Errorf("Server.Statistics = %v, %v", direct, err)
	}

	// /metrics tells the same story.
	m := scrape(t, s.MetricsAddr)
	for name, want := range map[string]uint64{
		"nv_inference_request_success": k,
		"nv_inference_request_failure": bad,
		"nv_inference_count":           k * batch,
		"nv_inference_exec_count":      k,
	} {
		key := name + `{model="simple",version="1"}`
		if got, ok := m[key]; !ok || got != float64(want) {
			t.Errorf("%s = %v (present %v), want %d", key, got, ok, want)
		}
	}
	if got := m[`nv_inference_request_duration_us{model="simple",version="1"}`]; got != float64(is.Success.Ns/1000) {
		t.Errorf("nv_inference_request_duration_us = %v, want success.ns/1000 = %d", got, is.Success.Ns/1000)
	}
	if got, ok := m[`nv_inference_pending_request_count{model="simple",version="1"}`]; !ok || got != 0 {
		t.Errorf("nv_inference_pending_request_count = %v (present %v), want 0 when idle", got, ok)
	}
}

// scrape reads /metrics into name{labels} -> value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	r := newHTTPClient(t, addr).get("/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// delayInfer sends one batch-1 request to the delay model over gRPC.
func delayInfer(ctx context.Context, c inferencepb.GRPCInferenceServiceClient, v float32) error {
	resp, err := c.ModelInfer(ctx, &inferencepb.ModelInferRequest{ModelName: "delay",
		Inputs:           []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 1}}},
		RawInputContents: [][]byte{fp32s(v)}})
	if err != nil {
		return err
	}
	if !bytes.Equal(resp.RawOutputContents[0], fp32s(v)) {
		return fmt.Errorf("delay echoed %x, want %x", resp.RawOutputContents[0], fp32s(v))
	}
	return nil
}

// runClosedLoop runs workers each sending n delay requests back to back.
func runClosedLoop(t *testing.T, c inferencepb.GRPCInferenceServiceClient, workers, n int) time.Duration {
	t.Helper()
	start := time.Now()
	var eg errgroup.Group
	for w := range workers {
		eg.Go(func() error {
			for i := range n {
				if err := delayInfer(context.Background(), c, float32(w*1000+i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestDelaySaturation: with I instances of service time S and no batching,
// N requests take at least ceil(N/I)×S however many clients send them (a
// timer never fires early), each execution runs one request, and with more
// clients than instances requests queue.
func TestDelaySaturation(t *testing.T) {
	const (
		instances = 2
		service   = 10 * time.Millisecond
		workers   = 6
		perWorker = 8
		n         = workers * perWorker
	)
	s := servertest.Start(t, func(o *server.Options) {
		o.Delay = server.DelayOptions{ServiceTime: service, Instances: instances}
	})
	c := grpcClient(t, s.GRPCAddr)
	elapsed := runClosedLoop(t, c, workers, perWorker)
	if floor := time.Duration((n+instances-1)/instances) * service; elapsed < floor {
		t.Errorf("%d requests on %d instances of %v took %v; the instance limit allows no less than %v", n, instances, service, elapsed, floor)
	}
	st := stats(t, c, "delay")
	is := st.InferenceStats
	if st.ExecutionCount != n || st.InferenceCount != n || is.Success.Count != n {
		t.Errorf("executions %d, inferences %d, successes %d; want %d each", st.ExecutionCount, st.InferenceCount, is.Success.Count, n)
	}
	if got := scrape(t, s.MetricsAddr)[`nv_inference_pending_request_count{model="delay",version="1"}`]; got != 0 {
		t.Errorf("pending gauge %v after the run, want 0", got)
	}
	if is.ComputeInfer.Ns < uint64(n*service) {
		t.Errorf("compute_infer.ns %v < %d × %v", time.Duration(is.ComputeInfer.Ns), n, service)
	}
	// 6 clients on 2 instances: at any moment up to 4 requests wait, each for
	// at least part of a service time. Their total wait is far above zero;
	// half of one service time is a bound no schedule can undercut.
	if is.Queue.Ns < uint64(service/2) {
		t.Errorf("queue.ns = %v with %d clients on %d instances; requests should have queued", time.Duration(is.Queue.Ns), workers, instances)
	}
}

// TestDynamicBatching: one instance, many concurrent clients: executions
// carry several requests, so execution_count < inference_count.
func TestDynamicBatching(t *testing.T) {
	const (
		service   = 10 * time.Millisecond
		workers   = 12
		perWorker = 5
		n         = workers * perWorker
	)
	s := servertest.Start(t, func(o *server.Options) {
		o.Delay = server.DelayOptions{ServiceTime: service, Instances: 1, MaxBatchSize: 4, DynamicBatching: true, MaxQueueDelay: time.Millisecond}
	})
	c := grpcClient(t, s.GRPCAddr)
	elapsed := runClosedLoop(t, c, workers, perWorker)
	st := stats(t, c, "delay")
	if st.InferenceCount != n || st.InferenceStats.Success.Count != n {
		t.Fatalf("inferences %d, successes %d; want %d", st.InferenceCount, st.InferenceStats.Success.Count, n)
	}
	if st.ExecutionCount >= st.InferenceCount {
		t.Errorf("execution_count %d >= inference_count %d: no request was batched", st.ExecutionCount, st.InferenceCount)
	}
	if st.ExecutionCount < n/4 {
		t.Errorf("execution_count %d < %d: a batch exceeded max_batch_size 4", st.ExecutionCount, n/4)
	}
	var sum, execs uint64
	for _, b := range st.BatchStats {
		if b.BatchSize < 1 || b.BatchSize > 4 {
			t.Errorf("batch_stats has batch size %d, outside 1..4", b.BatchSize)
		}
		sum += b.BatchSize * b.ComputeInfer.Count
		execs += b.ComputeInfer.Count
	}
	if sum != n || execs != st.ExecutionCount {
		t.Errorf("batch_stats cover %d inferences in %d executions, want %d in %d", sum, execs, n, st.ExecutionCount)
	}
	if floor := time.Duration(st.ExecutionCount) * service; elapsed < floor {
		t.Errorf("%d executions of %v finished in %v; one instance cannot", st.ExecutionCount, service, elapsed)
	}
}

// TestMaxQueueDelay: a lone request waits MaxQueueDelay for company before
// it runs.
func TestMaxQueueDelay(t *testing.T) {
	const wait = 30 * time.Millisecond
	s := servertest.Start(t, func(o *server.Options) {
		o.Delay = server.DelayOptions{ServiceTime: time.Millisecond, DynamicBatching: true, MaxQueueDelay: wait}
	})
	c := grpcClient(t, s.GRPCAddr)
	if err := delayInfer(testCtx(t), c, 1); err != nil {
		t.Fatal(err)
	}
	st := stats(t, c, "delay")
	if q := time.Duration(st.InferenceStats.Queue.Ns); q < wait {
		t.Errorf("queue time %v, want at least the max queue delay %v", q, wait)
	}
}

func TestServiceTimeDistributions(t *testing.T) {
	for _, dist := range []string{"fixed", "exponential", "uniform", "lognormal"} {
		t.Run(dist, func(t *testing.T) {
			s := servertest.Start(t, func(o *server.Options) {
				o.Delay = server.DelayOptions{ServiceTime: 2 * time.Millisecond, Distribution: dist, Instances: 4}
			})
			c := grpcClient(t, s.GRPCAddr)
			runClosedLoop(t, c, 4, 5)
			if st := stats(t, c, "delay"); st.ExecutionCount != 20 {
				t.Errorf("execution_count %d, want 20", st.ExecutionCount)
			}
		})
	}
}

func TestSequence(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	h := newHTTPClient(t, s.HTTPAddr)
	type step struct {
		id         any // uint64 or string
		start, end bool
		in         int32
		want       int32
		code       codes.Code // OK or the expected error
	}
	grpcSend := func(st step) (int32, error) {
		p := map[string]*inferencepb.InferParameter{
			"sequence_start": {ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: st.start}},
			"sequence_end":   {ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: st.end}},
		}
		switch id := st.id.(type) {
		case uint64:
			p["sequence_id"] = &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_Uint64Param{Uint64Param: id}}
		case string:
			p["sequence_id"] = &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: id}}
		}
		resp, err := c.ModelInfer(testCtx(t), &inferencepb.ModelInferRequest{ModelName: "sequence", Parameters: p,
			Inputs: []*inputT{{Name: "INPUT", Datatype: "INT32", Shape: []int64{1}}}, RawInputContents: [][]byte{int32s(st.in)}})
		if err != nil {
			return 0, err
		}
		return decodeInt32s(t, resp.RawOutputContents[0])[0], nil
	}
	httpSend := func(st step) (int32, error) {
		id, _ := json.Marshal(st.id)
		body := fmt.Sprintf(`{"parameters":{"sequence_id":%s,"sequence_start":%v,"sequence_end":%v},"inputs":[{"name":"INPUT","shape":[1],"datatype":"INT32","data":[%d]}]}`, id, st.start, st.end, st.in)
		r := h.inferJSON("sequence", body)
		if r.status != http.StatusOK {
			return 0, status.Error(map[int]codes.Code{400: codes.InvalidArgument, 503: codes.Unavailable}[r.status], string(r.body))
		}
		var got []int32
		if err := json.Unmarshal(decodeHTTP(t, r).output(t, "OUTPUT").Data, &got); err != nil {
			t.Fatal(err)
		}
		return got[0], nil
	}
	steps := []step{
		{id: uint64(7), start: true, in: 1, want: 1},
		{id: "abc", start: true, in: 100, want: 100},
		{id: uint64(7), in: 2, want: 3},
		{id: "abc", in: 5, want: 105},
		{id: uint64(7), in: 3, end: true, want: 6},
		{id: uint64(7), in: 1, code: codes.InvalidArgument}, // ended
		{id: uint64(8), in: 1, code: codes.InvalidArgument}, // never started
		{id: "abc", start: true, in: 1, want: 1},            // restart
		{id: "abc", end: true, in: 1, want: 2},
		{id: uint64(0), start: true, in: 1, code: codes.InvalidArgument}, // no id
	}
	for name, send := range map[string]func(step) (int32, error){"grpc": grpcSend, "http": httpSend} {
		t.Run(name, func(t *testing.T) {
			for i, st := range steps {
				got, err := send(st)
				if st.code != codes.OK {
					wantCode(t, err, st.code)
					continue
				}
				if err != nil || got != st.want {
					t.Fatalf("step %d %+v: got %d, %v; want %d", i, st, got, err, st.want)
				}
			}
		})
	}
}

// TestSequenceLimit: with room for one live sequence, a second start fails
// until the first ends.
func TestSequenceLimit(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) { o.MaxSequences = 1 })
	h := newHTTPClient(t, s.HTTPAddr)
	send := func(id int, start, end bool) httpResult {
		return h.inferJSON("sequence", fmt.Sprintf(`{"parameters":{"sequence_id":%d,"sequence_start":%v,"sequence_end":%v},"inputs":[{"name":"INPUT","shape":[1],"datatype":"INT32","data":[1]}]}`, id, start, end))
	}
	if r := send(1, true, false); r.status != 200 {
		t.Fatalf("start 1: %d %s", r.status, r.body)
	}
	errorBody(t, send(2, true, false), 503, "live sequences")
	if r := send(1, false, true); r.status != 200 {
		t.Fatalf("end 1: %d %s", r.status, r.body)
	}
	if r := send(2, true, true); r.status != 200 {
		t.Fatalf("start 2 after 1 ended: %d %s", r.status, r.body)
	}
}

// TestShutdownDrainsInFlight: requests in the delay model when Shutdown is
// called complete normally; afterwards the listeners are closed.
func TestShutdownDrainsInFlight(t *testing.T) {
	s, err := server.New(server.Options{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Delay: server.DelayOptions{ServiceTime: 50 * time.Millisecond, Instances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.MetricsAddr() != "" {
		t.Errorf("metrics listener %q, want disabled", s.MetricsAddr())
	}
	c := grpcClient(t, s.GRPCAddr())
	const n = 3
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs <- delayInfer(context.Background(), c, float32(i)) })
	}
	// Wait until all three are inside the server, then shut down.
	for deadline := time.Now().Add(20 * time.Second); ; {
		if s.InFlight("delay") == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("requests never reached the server")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("in-flight request failed during graceful shutdown: %v", err)
		}
	}
	if st, _ := s.Statistics("delay"); st.ModelStats[0].InferenceStats.Success.Count != n {
		t.Errorf("success.count %d after shutdown, want %d", st.ModelStats[0].InferenceStats.Success.Count, n)
	}
	if err := delayInfer(testCtx(t), c, 1); status.Code(err) != codes.Unavailable {
		t.Errorf("request after shutdown: %v, want Unavailable", err)
	}
}

// TestQueuedGauge: with the one instance busy (for an hour), every later
// request waits, and nv_inference_pending_request_count says how many.
func TestQueuedGauge(t *testing.T) {
	s, err := server.New(server.Options{GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		Delay: server.DelayOptions{ServiceTime: time.Hour, Instances: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := grpcClient(t, s.GRPCAddr())
	const n = 3
	var eg errgroup.Group
	for i := range n {
		eg.Go(func() error { _ = delayInfer(context.Background(), c, float32(i)); return nil })
	}
	for deadline := time.Now().Add(20 * time.Second); s.InFlight("delay") < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("requests never reached the server")
		}
	}
	key := `nv_inference_pending_request_count{model="delay",version="1"}`
	got := 0.0
	// The first request may still be on its way from the queue to the
	// instance: wait for the steady state, which lasts an hour.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if got = scrape(t, s.MetricsAddr())[key]; got == n-1 {
			break
		}
	}
	if got != n-1 {
		t.Errorf("pending gauge %v, want %d (one executing, the rest queued)", got, n-1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace: the requests would take an hour
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	_ = eg.Wait()
}

func TestGRPCGzip(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	resp, err := c.ModelInfer(testCtx(t), &inferencepb.ModelInferRequest{ModelName: "identity",
		Inputs:           []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 2}}},
		RawInputContents: [][]byte{fp32s(1, 2)}}, grpc.UseCompressor(gzip.Name))
	if err != nil {
		t.Fatalf("gzip-compressed request: %v", err)
	}
	if !bytes.Equal(resp.RawOutputContents[0], fp32s(1, 2)) {
		t.Errorf("output %x", resp.RawOutputContents[0])
	}
}

func TestLifecycle(t *testing.T) {
	s, err := server.New(server.Options{HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	// A port in use is a clear error, and nothing is left running.
	busy, err := server.New(server.Options{HTTPAddr: "127.0.0.1:0", GRPCAddr: s.HTTPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	if err := busy.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "gRPC") || !strings.Contains(err.Error(), s.HTTPAddr()) {
		t.Errorf("Start on a busy port: %v, want an error naming gRPC and %s", err, s.HTTPAddr())
	}
	for range 2 {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}
}

// TestShutdownDeadline: when ctx ends before in-flight requests finish,
// Shutdown cuts them off and still returns with every goroutine gone
// (TestMain's leak check).
func TestShutdownDeadline(t *testing.T) {
	s, err := server.New(server.Options{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Delay: server.DelayOptions{ServiceTime: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := grpcClient(t, s.GRPCAddr())
	h := newHTTPClient(t, s.HTTPAddr())
	var eg errgroup.Group
	eg.Go(func() error {
		if err := delayInfer(context.Background(), c, 1); err == nil {
			return fmt.Errorf("an hour-long gRPC request succeeded during a forced shutdown")
		}
		return nil
	})
	eg.Go(func() error {
		req, _ := http.NewRequest("POST", h.base+"/v2/models/delay/infer", strings.NewReader(`{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":[1]}]}`))
		resp, err := h.c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return fmt.Errorf("an hour-long HTTP request succeeded during a forced shutdown")
			}
		}
		return nil
	})
	for deadline := time.Now().Add(20 * time.Second); s.InFlight("delay") < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("requests never reached the server")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("forced Shutdown: %v", err)
	}
	if err := eg.Wait(); err != nil {
		t.Error(err)
	}
}

// TestSequenceIdle: a sequence unused for longer than SequenceIdle is ended,
// and its slot is free for a new one.
func TestSequenceIdle(t *testing.T) {
	const idle = 5 * time.Millisecond
	s := servertest.Start(t, func(o *server.Options) { o.MaxSequences = 1; o.SequenceIdle = idle })
	h := newHTTPClient(t, s.HTTPAddr)
	send := func(id int, start bool) httpResult {
		return h.inferJSON("sequence", fmt.Sprintf(`{"parameters":{"sequence_id":%d,"sequence_start":%v},"inputs":[{"name":"INPUT","shape":[1],"datatype":"INT32","data":[1]}]}`, id, start))
	}
	if r := send(1, true); r.status != 200 {
		t.Fatalf("start 1: %d %s", r.status, r.body)
	}
	time.Sleep(4 * idle) // sleeps at least this long, which is all the test needs
	if r := send(2, true); r.status != 200 {
		t.Fatalf("start 2 once 1 idled out: %d %s", r.status, r.body)
	}
	time.Sleep(4 * idle)
	errorBody(t, send(2, false), 400, "must specify the START flag")
}
