package loadgen

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/result"
)

// Service times in these tests are chosen so that no completion falls
// exactly on a window boundary: on the fake clock such ties could go
// either way.

func TestTimeWindowsExactCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(7 * time.Millisecond)}
		obs := &events{}
		o := baseOptions(s, 3)
		o.Observer = obs
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if run.Stop != result.StopCompleted || len(run.Levels) != 1 {
			t.Fatalf("stop %v, %d levels; want completed, 1", run.Stop, len(run.Levels))
		}
		// Completions at 7, 14, ... ms: 14 per 100 ms window and worker.
		// Sends at 0, 7, ... 98 ms: 15 in the first window, then 14.
		for i, w := range obs.windows[0] {
			issued := uint64(42)
			if i == 0 {
				issued = 45
			}
			if w.Duration != 100*time.Millisecond || w.Requests != 42 || w.Issued != issued {
				t.Errorf("window %d: %v, %d requests, %d issued; want 100ms, 42, %d", i+1, w.Duration, w.Requests, w.Issued, issued)
			}
		}
		l := run.Levels[0]
		c := l.Client
		if !l.Stable || l.Windows != 3 {
			t.Errorf("stable %v after %d windows; want true after 3", l.Stable, l.Windows)
		}
		if c.Requests != 126 || c.Inferences != 126 || c.Duration != 300*time.Millisecond || c.Throughput != 420 {
			t.Errorf("client %d requests, %d inferences in %v = %v/s; want 126, 126, 300ms, 420/s", c.Requests, c.Inferences, c.Duration, c.Throughput)
		}
		if c.Latency.Mean != 7*time.Millisecond || c.Latency.Min != c.Latency.Mean || c.Latency.Max != c.Latency.Mean || c.Latency.StdDev != 0 {
			t.Errorf("latency %+v; want exactly 7ms", c.Latency)
		}
		if p := c.Latency.Percentile(99); p < 7*time.Millisecond || p > 7007*time.Microsecond {
			t.Errorf("p99 %v; want 7ms within 0.1%%", p)
		}
		if c.RequestTime != 7*time.Millisecond || c.Send != 700*time.Microsecond || c.Recv != 350*time.Microsecond {
			t.Errorf("client library split %v/%v/%v; want 7ms/700µs/350µs", c.RequestTime, c.Send, c.Recv)
		}
		// No time passes on the fake clock between a response and the next
		// send: any overhead would be measured from the wrong instants.
		if c.Overhead != 0 {
			t.Errorf("client overhead %v; want 0", c.Overhead)
		}
	})
}

func TestBatchSizeScalesInferences(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(7 * time.Millisecond)}
		o := baseOptions(s, 1)
		o.BatchSize = 8
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		c := run.Levels[0].Client
		if c.Requests != 42 || c.Inferences != 336 || c.Throughput != 1120 {
			t.Errorf("%d requests, %d inferences, %v/s; want 42, 336, 1120/s", c.Requests, c.Inferences, c.Throughput)
		}
	})
}

func TestCountWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// One worker, a completion every 6.5 ms: the 20th at 130 ms, noticed
		// at the 140 ms poll, so each window holds 21 or 22 requests.
		s := &fakeServer{service: constService(6500 * time.Microsecond)}
		obs := &events{}
		o := baseOptions(s, 1)
		o.MeasurementMode = CountWindows
		o.MeasurementRequestCount = 20
		o.Observer = obs
		if _, err := Run(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		for i, w := range obs.windows[0] {
			if w.Requests < 20 || w.Duration%pollEvery != 0 || w.Duration > 140*time.Millisecond {
				t.Errorf("window %d: %d requests in %v; want >= 20 in a multiple of %v up to 140ms", i+1, w.Requests, w.Duration, pollEvery)
			}
		}
	})
}

// A single-server queue: each request takes 1 ms of the server's time, so
// at concurrency N the latency is N ms and the throughput 1000/s.
func queueServer() *fakeServer {
	return &fakeServer{service: constService(time.Millisecond), sem: make(chan struct{}, 1)}
}

func TestLatencyThresholdStopsLinearSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := queueServer()
		obs := &events{}
		o := baseOptions(s, 1)
		o.End = 10
		o.LatencyThreshold = 3500 * time.Microsecond
		o.Observer = obs
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := values(run.Levels); !slices.Equal(got, []float64{1, 2, 3}) {
			t.Errorf("reported levels %v; want [1 2 3]", got)
		}
		want := "Measured latency went over the set limit of 3.5 msec. "
		if run.Stop != result.StopLatencyThreshold || run.StopMessage != want {
			t.Errorf("stop %v %q; want latency_threshold %q", run.Stop, run.StopMessage, want)
		}
		if !slices.Equal(obs.starts, []float64{1, 2, 3, 4}) {
			t.Errorf("levels started %v; want [1 2 3 4]", obs.starts)
		}
	})
}

func TestOpenEndedSweepEndsAtThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := baseOptions(queueServer(), 2)
		o.End, o.Step = 0, 2
		o.LatencyThreshold = 5500 * time.Microsecond
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if got := values(run.Levels); !slices.Equal(got, []float64{2, 4}) || run.Stop != result.StopLatencyThreshold {
			t.Errorf("levels %v, stop %v; want [2 4], latency_threshold", got, run.Stop)
		}
	})
}

func TestBinarySearchProbeOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &events{}
		o := baseOptions(queueServer(), 1)
		o.End = 16
		o.BinarySearch = true
		o.LatencyThreshold = 5500 * time.Microsecond
		o.Observer = obs
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(obs.starts, []float64{1, 16, 8, 4, 6, 5}) {
			t.Errorf("probes %v; want [1 16 8 4 6 5]", obs.starts)
		}
		if got := values(run.Levels); !slices.Equal(got, []float64{1, 4, 5}) || run.Stop != result.StopCompleted {
			t.Errorf("levels %v, stop %v; want [1 4 5] completed", got, run.Stop)
		}
	})
}

func TestRequestCountIssuesExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(3 * time.Millisecond)}
		o := baseOptions(s, 4)
		o.RequestCount = 37
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(s.all()); n != 37 {
			t.Errorf("server saw %d requests; want 37", n)
		}
		l := run.Levels[0]
		// Quotas 10, 9, 9, 9: the last request ends at 30 ms.
		if l.Client.Requests != 37 || l.Windows != 1 || !l.Stable || l.Client.Duration != 30*time.Millisecond {
			t.Errorf("%d requests in %d windows over %v, stable %v; want 37 in 1 over 30ms, stable", l.Client.Requests, l.Windows, l.Client.Duration, l.Stable)
		}
	})
}

func TestWarmupDiscarded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(3 * time.Millisecond)}
		o := baseOptions(s, 4)
		o.RequestCount = 20
		o.WarmupRequestCount = 3
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		calls := s.all()
		if len(calls) != 23 {
			t.Fatalf("server saw %d requests; want 3 warm-up + 20", len(calls))
		}
		// Warm-up runs at concurrency min(4, 3): workers 0-2 once, at t0.
		t0 := calls[0].start
		var warm []int
		for _, c := range calls {
			if c.start.Equal(t0) {
				warm = append(warm, c.worker)
			}
		}
		slices.Sort(warm)
		if !slices.Equal(warm, []int{0, 1, 2}) {
			t.Errorf("warm-up workers %v; want [0 1 2]", warm)
		}
		if got := run.Levels[0].Client.Requests; got != 20 {
			t.Errorf("level counted %d requests; want 20 (warm-up discarded)", got)
		}
		if run.Settings.WarmupRequests != 3 {
			t.Errorf("settings warm-up %d; want 3", run.Settings.WarmupRequests)
		}
	})
}

// slowingServer never stabilises: every call is 100 µs slower than the last.
func slowingServer() *fakeServer {
	return &fakeServer{service: func(_, n int) time.Duration {
		return 5*time.Millisecond + time.Duration(n)*100*time.Microsecond
	}}
}

func TestCancelReturnsPartialLevel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := slowingServer()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		o := baseOptions(s, 2)
		o.StabilityPercentage = 0
		cancelAt := time.Now().Add(250 * time.Millisecond)
		time.AfterFunc(250*time.Millisecond, cancel)
		run, err := Run(ctx, o)
		if !errors.Is(err, context.Canceled) || stopReason(t, err) != result.StopCancelled {
			t.Fatalf("error %v; want a cancelled StopError wrapping context.Canceled", err)
		}
		if run.Stop != result.StopCancelled || len(run.Levels) != 1 {
			t.Fatalf("stop %v with %d levels; want cancelled with the partial level", run.Stop, len(run.Levels))
		}
		l := run.Levels[0]
		if l.Stable || l.Windows != 2 || l.Client.Duration != 200*time.Millisecond {
			t.Errorf("partial level stable %v, %d windows, %v; want unstable, 2 windows, 200ms", l.Stable, l.Windows, l.Client.Duration)
		}
		// Nothing was sent after the cancel; requests in flight finished normally.
		for _, c := range s.all() {
			if c.start.After(cancelAt) {
				t.Errorf("a request was sent %v after the cancel", c.start.Sub(cancelAt))
			}
			if c.ctxErr != nil {
				t.Errorf("a request saw its context end: %v", c.ctxErr)
			}
			if c.end.Before(c.start.Add(5 * time.Millisecond)) {
				t.Errorf("a request was cut short: %v", c.end.Sub(c.start))
			}
		}
	})
}

func TestCancelBeforeFirstWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		time.AfterFunc(50*time.Millisecond, cancel)
		run, err := Run(ctx, baseOptions(slowingServer(), 1))
		if stopReason(t, err) != result.StopCancelled || len(run.Levels) != 0 {
			t.Errorf("error %v, %d levels; want cancelled with none", err, len(run.Levels))
		}
	})
}

func TestLevelChangeKeepsInFlightRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 45 ms requests: 2 per 100 ms window, stable at 300 ms, when worker
		// 0 is 30 ms into the request it started at 270 ms.
		const service = 45 * time.Millisecond
		s := &fakeServer{service: constService(service)}
		obs := &events{}
		o := baseOptions(s, 1)
		o.End = 2
		// Level 2 completes 4, 5, 4 requests per window: stable at 30%.
		o.StabilityPercentage = 30
		o.Observer = obs
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		calls := s.all()
		t0 := calls[0].start
		for _, c := range calls {
			if c.end.Sub(c.start) != service || c.ctxErr != nil {
				t.Errorf("request %v..%v of worker %d was disturbed", c.start.Sub(t0), c.end.Sub(t0), c.worker)
			}
		}
		// Worker 0 carried on across the change: its requests are back to back.
		var w0 []time.Duration
		for _, c := range calls {
			if c.worker == 0 {
				w0 = append(w0, c.start.Sub(t0))
			}
		}
		for i, st := range w0 {
			if st != time.Duration(i)*service {
				t.Fatalf("worker 0 request %d started at %v; want %v (no drain at the level change)", i, st, time.Duration(i)*service)
			}
		}
		// Its request started at 270 ms completes at 315 ms, in level 2's
		// first window [300, 400): 2 from worker 0 (315, 360) and 2 from
		// worker 1 (345, 390).
		if got := obs.windows[1][0].Requests; got != 4 {
			t.Errorf("level 2 first window has %d requests; want 4", got)
		}
		if got := values(run.Levels); !slices.Equal(got, []float64{1, 2}) {
			t.Errorf("levels %v; want [1 2]", got)
		}
	})
}

func TestRemovedWorkersFinishTheirRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Binary search probes 16 then 8: workers 8-15 leave after their
		// current request, which they complete.
		s := queueServer()
		var changed time.Time
		obs := &events{}
		obs.onStart = func(v float64) {
			if v == 8 {
				changed = time.Now()
			}
		}
		o := baseOptions(s, 1)
		o.End, o.BinarySearch, o.LatencyThreshold = 16, true, 5500*time.Microsecond
		o.Observer = obs
		if _, err := Run(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		if changed.IsZero() {
			t.Fatal("level 8 never started")
		}
		for _, c := range s.all() {
			if c.worker >= 8 && c.start.After(changed) && c.start.Before(changed.Add(time.Second)) {
				t.Errorf("removed worker %d started a request %v after the change", c.worker, c.start.Sub(changed))
			}
			if c.ctxErr != nil {
				t.Errorf("worker %d's request saw its context end", c.worker)
			}
		}
	})
}

func TestLittlesLaw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Service times spread over 1-10 ms by a fixed sequence.
		s := &fakeServer{service: func(w, n int) time.Duration {
			return time.Millisecond + time.Duration((w*7919+n*104729)%9000)*time.Microsecond
		}}
		o := baseOptions(s, 5)
		o.MeasurementInterval = time.Second
		o.StabilityPercentage = 50
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		c := run.Levels[0].Client
		n := c.Throughput * c.Latency.Mean.Seconds()
		if math.Abs(n-5)/5 > 0.01 {
			t.Errorf("throughput %v/s x mean latency %v = %v; want 5 within 1%%", c.Throughput, c.Latency.Mean, n)
		}
	})
}

func classErr(class, msg string) error {
	return &client.Error{Op: `infer "m"`, Kind: client.ErrServer, Class: class, Message: msg}
}

func TestFailuresCountedByClass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(7 * time.Millisecond), fail: func(n int) error {
			switch {
			case n%4 == 0:
				return classErr("grpc:UNAVAILABLE", "busy")
			case n%7 == 0:
				return classErr("http:503", "overloaded")
			}
			return nil
		}}
		o := baseOptions(s, 2)
		o.StabilityPercentage = 30
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		l := run.Levels[0]
		if len(l.Failures) != 2 || l.Failures[0].Class != "grpc:UNAVAILABLE" || l.Failures[1].Class != "http:503" {
			t.Fatalf("failures %+v; want grpc:UNAVAILABLE then http:503", l.Failures)
		}
		total := l.Failures[0].Count + l.Failures[1].Count
		if total != l.Client.Failed || l.Client.Requests+l.Client.Failed != 84 {
			t.Errorf("%d ok + %d failed (classes sum %d); want 84 completions, classes summing to failed", l.Client.Requests, l.Client.Failed, total)
		}
		// 1 in 4 fail as UNAVAILABLE; of the rest, 1 in 7 as 503.
		if f := l.Failures[0].Count; f < 19 || f > 23 {
			t.Errorf("%d UNAVAILABLE of 84; want about 21", f)
		}
	})
}

func TestAllFailedLevelIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(7 * time.Millisecond), fail: func(int) error {
			return classErr("http:503", "model is overloaded")
		}}
		run, err := Run(t.Context(), baseOptions(s, 2))
		if stopReason(t, err) != result.StopError || run.Stop != result.StopError {
			t.Fatalf("error %v, stop %v; want StopError", err, run.Stop)
		}
		if !strings.Contains(run.StopMessage, "model is overloaded") || !strings.Contains(run.StopMessage, "http:503") {
			t.Errorf("message %q does not carry the server's message and class", run.StopMessage)
		}
		var ce *client.Error
		if !errors.As(err, &ce) {
			t.Errorf("error %v does not wrap the client error", err)
		}
		if len(run.Levels) != 0 {
			t.Errorf("%d levels reported; want none", len(run.Levels))
		}
	})
}

func TestNoValidRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := baseOptions(&fakeServer{service: constService(time.Second + time.Millisecond)}, 1)
		o.MaxTrials = 3
		run, err := Run(t.Context(), o)
		if stopReason(t, err) != result.StopNoValidRequests {
			t.Fatalf("error %v; want no valid requests", err)
		}
		// The request of the last window is still in flight: the message
		// says so, and still suggests perf_analyzer's larger window.
		if want := "No valid requests recorded within time interval: 1 requests were in flight and none completed. Please use a larger time window"; !strings.HasPrefix(run.StopMessage, want) {
			t.Errorf("message %q; want it to start %q", run.StopMessage, want)
		}
	})
}

func TestUnstableFirstLevel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := baseOptions(slowingServer(), 1)
		o.End = 4
		o.StabilityPercentage = 0
		o.MaxTrials = 4
		run, err := Run(t.Context(), o)
		if stopReason(t, err) != result.StopUnstable || len(run.Levels) != 0 {
			t.Fatalf("error %v with %d levels; want unstable with none", err, len(run.Levels))
		}
		want := "Failed to obtain stable measurement within 4 measurement windows for concurrency 1. Please try to increase the --measurement-interval."
		if run.StopMessage != want {
			t.Errorf("message %q; want %q", run.StopMessage, want)
		}
	})
}

func TestFewTrialsReportUnstable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := baseOptions(slowingServer(), 1)
		o.End = 2
		o.MaxTrials = 1
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if len(run.Levels) != 2 || run.Levels[0].Stable || run.Levels[0].Windows != 1 {
			t.Errorf("levels %+v; want 2 unstable levels of 1 window", run.Levels)
		}
	})
}

func TestPercentileStabilises(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &events{}
		o := baseOptions(&fakeServer{service: constService(7 * time.Millisecond)}, 1)
		o.Percentile = 99.9
		o.Observer = obs
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if w := obs.windows[0][0]; w.Latency < 7*time.Millisecond || w.Latency > 7007*time.Microsecond {
			t.Errorf("window p99.9 %v; want 7ms", w.Latency)
		}
		var ps []float64
		for _, q := range run.Levels[0].Client.Latency.Quantiles {
			ps = append(ps, q.Percentile)
		}
		if !slices.Equal(ps, []float64{50, 90, 95, 99, 99.9}) {
			t.Errorf("quantiles %v; want 50 90 95 99 99.9", ps)
		}
	})
}

func TestNewCallerErrorStopsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(7 * time.Millisecond)}
		o := baseOptions(s, 1)
		o.End = 3
		o.NewCaller = func(w int) (Caller, error) {
			if w == 2 {
				return nil, errors.New("no input data")
			}
			return s.newCaller(w)
		}
		run, err := Run(t.Context(), o)
		if stopReason(t, err) != result.StopError || !strings.Contains(run.StopMessage, "no input data") {
			t.Fatalf("error %v; want StopError naming the cause", err)
		}
		if got := values(run.Levels); !slices.Equal(got, []float64{1, 2}) {
			t.Errorf("levels %v; want [1 2]", got)
		}
	})
}

func TestLevelDecreaseDrainsRemovedWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// One server slot of 7 ms: at concurrency c latency is c × 7 ms.
		// Going from 16 to 8, the requests still queued by the 16 workers
		// must not land in level 8's first window. (7 ms does not divide
		// the 100 ms window, so no completion ties with a window's end.)
		s := &fakeServer{service: constService(7 * time.Millisecond), sem: make(chan struct{}, 1)}
		obs := &events{}
		o := baseOptions(s, 1)
		o.StabilityPercentage = 20
		o.End, o.BinarySearch, o.LatencyThreshold = 16, true, 100*time.Millisecond
		o.Observer = obs
		if _, err := Run(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		if len(obs.starts) < 3 || obs.starts[1] != 16 || obs.starts[2] != 8 {
			t.Fatalf("probes %v; want 1, 16, 8, ...", obs.starts)
		}
		first := obs.windows[2][0]
		if first.AvgLatency > 57*time.Millisecond {
			t.Errorf("level 8's first window averages %v; want at most 8 × 7 ms: level 16's queue leaked in", first.AvgLatency)
		}
	})
}

// TestHistogramsHoldEveryValue runs windows long enough for each worker
// to fill its sample buffer several times: the reported histograms must
// hold exactly the reported requests (a value recorded into the wrong
// window, or lost at a swap, changes the count) and give the percentiles
// of the values measured.
func TestHistogramsHoldEveryValue(t *testing.T) {
	// 3 of every 4 requests take 300 µs, the 4th 900 µs: p50 300 µs, p90 900 µs.
	service := func(_, n int) time.Duration {
		if n%4 == 3 {
			return 900 * time.Microsecond
		}
		return 300 * time.Microsecond
	}
	for _, tt := range []struct {
		name string
		opts func(*fakeServer) Options
	}{
		{"closed", func(s *fakeServer) Options { return baseOptions(s, 2) }},
		{"open", func(s *fakeServer) Options { return rateOptions(s, 5000) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeServer{service: service}
				o := tt.opts(s)
				o.MeasurementInterval = 250 * time.Millisecond
				o.StabilityPercentage = 100 // the tail window's mix varies
				run, err := Run(t.Context(), o)
				if err != nil {
					t.Fatal(err)
				}
				c := run.Levels[0].Client
				if c.Requests < 3*sampleBuffer*3 {
					t.Fatalf("%d requests: too few to fill the sample buffers", c.Requests)
				}
				// Latency and service time belong to the window a request
				// completed in, schedule lag to the window it was sent in.
				type want struct {
					d    result.Distribution
					n    uint64
					what string
				}
				dists := map[string]want{"latency": {c.Latency, c.Requests, "completed"}}
				if c.ServiceTime != nil {
					dists["service time"] = want{*c.ServiceTime, c.Requests, "completed"}
					dists["schedule lag"] = want{*c.ScheduleLag, c.Issued, "sent"}
				}
				for name, w := range dists {
					if n := hdrhistogram.Import(w.d.Hist).TotalCount(); n != int64(w.n) || w.d.Count != int64(w.n) {
						t.Errorf("%s: histogram holds %d values, count %d; want the %d requests %s", name, n, w.d.Count, w.n, w.what)
					}
				}
				for _, q := range []struct {
					p    float64
					want time.Duration
				}{{50, 300 * time.Microsecond}, {90, 900 * time.Microsecond}} {
					if got := c.Latency.Percentile(q.p); got < q.want || got > q.want+q.want/1000 {
						t.Errorf("p%v %v; want %v within 0.1%%", q.p, got, q.want)
					}
				}
			})
		})
	}
}
