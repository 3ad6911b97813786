package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/result"
)

// latencies is a spread of values like a real run's: 50 µs to 20 ms.
func latencies() []time.Duration {
	ls := make([]time.Duration, 1024)
	x := uint64(1)
	for i := range ls {
		x = x*6364136223846793005 + 1442695040888963407
		ls[i] = 50*time.Microsecond + time.Duration(x>>40)%(20*time.Millisecond)
	}
	return ls
}

// BenchmarkRecord is the per-request recording path: the worker's record
// marks, one tally update and, every sampleBuffer requests, the buffered
// values recorded into the window under its lock. It must not allocate.
func BenchmarkRecord(b *testing.B) {
	failure := &client.Error{Op: "infer", Kind: client.ErrServer, Class: "grpc:UNAVAILABLE"}
	gaps := make([]time.Duration, 15) // a 16-response stream
	for i := range gaps {
		gaps[i] = time.Duration(i+1) * 100 * time.Microsecond
	}
	for _, tt := range []struct {
		name string
		m    measures
		err  error
	}{
		{"closed", measures{}, nil},
		{"open", measures{open: true}, nil},
		{"failed", measures{}, failure},
		{"stream16", measures{stream: true, firstIsLatency: true}, nil},
	} {
		m, err := tt.m, tt.err
		open := m.open
		b.Run(tt.name, func(b *testing.B) {
			w := newWorker(0, nopCaller{}, m)
			w.tallies[0].into = newWindow(m)
			ls := latencies()
			timing := client.Timing{Send: time.Microsecond, Recv: time.Microsecond, Total: time.Millisecond}
			if m.stream {
				timing.First, timing.Responses, timing.Elements, timing.Gaps = 20*time.Microsecond, 16, 16, gaps
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				l := ls[i&1023]
				if open { // the send records its lag
					w.recording().sent(l / 8)
					w.recorded()
				}
				w.recording().add(l, l, 0, time.Microsecond, timing, err, now)
				w.done.Add(1)
				w.recorded()
			}
		})
	}
}

type nopCaller struct{}

func (nopCaller) Do(context.Context) (client.Timing, error) { return client.Timing{}, nil }

// BenchmarkWorkerLoop is a whole run of b.N requests to a Caller that does
// nothing: the engine's own cost per request (two clock reads, the lock,
// the record, the control checks), amortising the run's setup.
func BenchmarkWorkerLoop(b *testing.B) {
	for _, tt := range []struct {
		name string
		mode result.Mode
		n    float64
	}{
		{"closed/1", result.Concurrency, 1},
		{"closed/2", result.Concurrency, 2},
		// 1e9/s is due at once: the open loop's claim, schedule and pool cost.
		{"open/rate", result.RequestRate, 1e9},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			o := Options{
				Mode: tt.mode, Start: tt.n, End: tt.n,
				RequestCount: b.N,
				NewCaller:    func(int) (Caller, error) { return nopCaller{}, nil },
			}
			if tt.mode != result.Concurrency {
				o.MaxInFlight = 2
			}
			run, err := Run(context.Background(), o)
			if err != nil {
				b.Fatal(err)
			}
			if got := run.Levels[0].Client.Requests; got != uint64(o.RequestCount) {
				b.Fatalf("%d requests; want %d", got, o.RequestCount)
			}
		})
	}
}
