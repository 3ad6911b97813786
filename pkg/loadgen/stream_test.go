package loadgen

import (
	"cmp"
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/result"
)

// streamCaller answers each request with n responses on the fake clock:
// the first after first, the others gap apart, elements text elements each.
type streamCaller struct {
	first, gap time.Duration
	n          int
	elements   int64
	gaps       []time.Duration
}

func (c *streamCaller) Do(ctx context.Context) (client.Timing, error) {
	start := time.Now()
	c.gaps = c.gaps[:0]
	time.Sleep(c.first)
	t := client.Timing{First: time.Since(start), Responses: 1, Elements: c.elements}
	prev := time.Now()
	for range c.n - 1 {
		time.Sleep(c.gap)
		c.gaps = append(c.gaps, time.Since(prev))
		prev = time.Now()
		t.Responses++
		t.Elements += c.elements
	}
	t.Total, t.Gaps = time.Since(start), c.gaps
	return t, ctx.Err()
}

func TestStreamTimesEveryResponse(t *testing.T) {
	const first, gap, n = 20 * time.Millisecond, 5 * time.Millisecond, 4
	final := first + (n-1)*gap
	for _, tt := range []struct {
		name    string
		mode    result.Mode
		latency string
		want    time.Duration // the reported latency
	}{
		{"closed first", result.Concurrency, "", first},
		{"closed final", result.Concurrency, StreamFinal, final},
		{"open first", result.RequestRate, StreamFirst, first},
		{"open final", result.RequestRate, StreamFinal, final},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				level := 2.0
				if tt.mode == result.RequestRate {
					level = 50 // a request every 20 ms, each 35 ms long
				}
				o := Options{
					Mode: tt.mode, Start: level, End: level,
					MeasurementInterval: 1003 * time.Millisecond, StabilityPercentage: 10, MaxTrials: 5,
					Streaming: true, StreamLatency: tt.latency,
					NewCaller: func(int) (Caller, error) {
						return &streamCaller{first: first, gap: gap, n: n, elements: 2}, nil
					},
					coarseTimers: true,
				}
				run, err := Run(t.Context(), o)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if !run.Settings.Streaming || run.Settings.StreamLatency != cmp.Or(tt.latency, StreamFirst) {
					t.Errorf("settings streaming %v, latency %q", run.Settings.Streaming, run.Settings.StreamLatency)
				}
				c := run.Levels[0].Client
				st := c.Stream
				if st == nil {
					t.Fatal("no stream statistics")
				}
				exact := func(what string, d result.Distribution, want time.Duration) {
					t.Helper()
					if d.Count == 0 || d.Min != want || d.Max != want || d.Percentile(50) < want || d.Percentile(50) > want+want/1000 {
						t.Errorf("%s: %d values, min %v max %v p50 %v; want all %v", what, d.Count, d.Min, d.Max, d.Percentile(50), want)
					}
				}
				exact("latency", c.Latency, tt.want)
				exact("first", st.First, first)
				exact("between", st.Between, gap)
				exact("final", st.Final, final)
				if st.Between.Count != int64(c.Requests)*(n-1) || st.First.Count != int64(c.Requests) {
					t.Errorf("%d gaps and %d firsts for %d requests; want %d and %d", st.Between.Count, st.First.Count, c.Requests, int64(c.Requests)*(n-1), c.Requests)
				}
				if c.Responses != c.Requests*n || st.PerRequest != n || st.Elements != 2*c.Responses {
					t.Errorf("%d responses, %v per request, %d elements for %d requests; want %d, %d, %d", c.Responses, st.PerRequest, st.Elements, c.Requests, c.Requests*n, n, 2*c.Requests*n)
				}
				secs := c.Duration.Seconds()
				if want := float64(c.Responses) / secs; c.ResponseThroughput != want {
					t.Errorf("response throughput %v; want %v", c.ResponseThroughput, want)
				}
				if want := float64(st.Elements) / secs; st.ElementThroughput != want {
					t.Errorf("element throughput %v; want %v", st.ElementThroughput, want)
				}
			})
		})
	}
}

// A late open-loop request's time to first response runs from its
// intended send, as its latency does: the lag is in it.
func TestStreamFirstResponseFromIntendedSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const first, gap = 20 * time.Millisecond, 5 * time.Millisecond
		run, err := Run(t.Context(), Options{
			Mode: result.RequestRate, Start: 50, End: 50, // due every 20 ms, each 35 ms long
			RequestCount: 10, MaxInFlight: 1, Streaming: true, coarseTimers: true,
			NewCaller: func(int) (Caller, error) { return &streamCaller{first: first, gap: gap, n: 4}, nil },
		})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		c := run.Levels[0].Client
		lag := c.ScheduleLag.Max
		if lag < 100*time.Millisecond || c.Latency.Max != first+lag || c.Stream.First.Max != first+lag || c.Stream.Final.Max != first+3*gap+lag {
			t.Errorf("lag max %v: latency max %v, first %v, final %v; want %v, %v, %v", lag, c.Latency.Max, c.Stream.First.Max, c.Stream.Final.Max, first+lag, first+lag, first+3*gap+lag)
		}
	})
}

func TestStreamLatencyNeedsStreaming(t *testing.T) {
	s := &fakeServer{service: constService(time.Millisecond)}
	for _, o := range []Options{
		{StreamLatency: StreamFirst},
		{Streaming: true, StreamLatency: "last"},
	} {
		base := baseOptions(s, 1)
		base.Streaming, base.StreamLatency = o.Streaming, o.StreamLatency
		if _, err := Run(t.Context(), base); err == nil {
			t.Errorf("streaming %v, latency %q: no error", o.Streaming, o.StreamLatency)
		}
	}
}
