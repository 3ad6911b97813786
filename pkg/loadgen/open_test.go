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

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/loadgen/schedule"
	"github.com/perfgo/perfgo/pkg/result"
)

func rateOptions(s *fakeServer, rate float64) Options {
	o := baseOptions(s, rate)
	o.Mode = result.RequestRate
	o.coarseTimers = true
	return o
}

// starts returns the calls' send offsets from the first, in send order.
func starts(calls []call) []time.Duration {
	var out []time.Duration
	for _, c := range calls {
		out = append(out, c.start.Sub(calls[0].start))
	}
	slices.Sort(out)
	return out
}

func TestOpenLoopDueTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 100/s, 3 ms service, 1004 ms windows: due times (multiples of
		// 10 ms) and completions never fall on a window boundary.
		s := &fakeServer{service: constService(3 * time.Millisecond)}
		obs := &events{}
		o := rateOptions(s, 100)
		o.MeasurementInterval = 1004 * time.Millisecond
		o.Observer = obs
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		var issued, done []uint64
		for _, w := range obs.windows[0] {
			issued = append(issued, w.Issued)
			done = append(done, w.Requests)
		}
		if !slices.Equal(issued, []uint64{101, 100, 101}) || !slices.Equal(done, []uint64{101, 100, 100}) {
			t.Errorf("issued %v, completed %v per window; want [101 100 101], [101 100 100]", issued, done)
		}
		for i, st := range starts(s.all()) {
			if want := time.Duration(i) * 10 * time.Millisecond; st != want {
				t.Fatalf("request %d sent at %v; want %v", i, st, want)
			}
		}
		c := run.Levels[0].Client
		if c.Latency.Mean != 3*time.Millisecond || c.ServiceTime.Mean != 3*time.Millisecond || c.ScheduleLag.Max != 0 || c.Late != 0 {
			t.Errorf("latency %v, service %v, lag max %v, %d late; want 3ms, 3ms, 0, 0", c.Latency.Mean, c.ServiceTime.Mean, c.ScheduleLag.Max, c.Late)
		}
		if c.Issued != 302 || math.Abs(c.SendRate-302/3.012) > 1e-9 {
			t.Errorf("issued %d at %v/s; want 302 at %v/s", c.Issued, c.SendRate, 302/3.012)
		}
		if run.Settings.LatencyOrigin != "intended" {
			t.Errorf("latency origin %q; want intended", run.Settings.LatencyOrigin)
		}
	})
}

func TestOpenLoopLatencyFromIntendedTime(t *testing.T) {
	// 100/s (a request due every 10 ms) into a server taking 15 ms with one
	// request in flight: request i is sent at 15i ms, 5i ms late, and its
	// latency from the intended time is 5i + 15 ms. The queue grows with the
	// run, and so does the latency; the service time does not.
	for _, tt := range []struct {
		n                   int
		wantMax, wantMean   time.Duration
		wantLagMax, wantDur time.Duration
	}{
		{20, 110 * time.Millisecond, 62500 * time.Microsecond, 95 * time.Millisecond, 300 * time.Millisecond},
		{40, 210 * time.Millisecond, 112500 * time.Microsecond, 195 * time.Millisecond, 600 * time.Millisecond},
	} {
		synctest.Test(t, func(t *testing.T) {
			s := &fakeServer{service: constService(15 * time.Millisecond)}
			o := rateOptions(s, 100)
			o.MaxInFlight = 1
			o.RequestCount = tt.n
			run, err := Run(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			c := run.Levels[0].Client
			if c.Latency.Min != 15*time.Millisecond || c.Latency.Max != tt.wantMax || c.Latency.Mean != tt.wantMean {
				t.Errorf("n=%d: latency min %v max %v mean %v; want 15ms, %v, %v", tt.n, c.Latency.Min, c.Latency.Max, c.Latency.Mean, tt.wantMax, tt.wantMean)
			}
			if c.ServiceTime.Min != 15*time.Millisecond || c.ServiceTime.Max != 15*time.Millisecond {
				t.Errorf("n=%d: service time %v..%v; want 15ms", tt.n, c.ServiceTime.Min, c.ServiceTime.Max)
			}
			if c.ScheduleLag.Max != tt.wantLagMax || c.Late != uint64(tt.n-1) || c.Issued != uint64(tt.n) {
				t.Errorf("n=%d: lag max %v, %d late of %d; want %v, %d of %d", tt.n, c.ScheduleLag.Max, c.Late, c.Issued, tt.wantLagMax, tt.n-1, tt.n)
			}
			if c.Duration != tt.wantDur || len(s.all()) != tt.n {
				t.Errorf("n=%d: %d requests over %v; want %d over %v", tt.n, len(s.all()), c.Duration, tt.n, tt.wantDur)
			}
		})
	}
}

func TestOpenLoopElasticPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 1000/s of 10 ms requests needs about 10 in flight.
		s := &fakeServer{service: constService(10 * time.Millisecond)}
		o := rateOptions(s, 1000)
		o.RequestCount = 500
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		c := run.Levels[0].Client
		if c.Late != 0 || c.Latency.Max != 10*time.Millisecond {
			t.Errorf("%d late, latency max %v; want none late and 10ms", c.Late, c.Latency.Max)
		}
		// Workers wait for their due times, which is not client overhead;
		// on the fake clock nothing else takes time.
		if c.Overhead != 0 {
			t.Errorf("client overhead %v; want 0", c.Overhead)
		}
		workers := map[int]bool{}
		for _, cl := range s.all() {
			workers[cl.worker] = true
		}
		if n := len(workers); n < 10 || n > 12 {
			t.Errorf("pool grew to %d workers; want 10-12", n)
		}
	})
}

// Against a server that falls behind, the requests sent late are mostly
// still queued when the windows end: their lateness must be reported in
// the windows they were sent in, not wait for (or miss) their completion.
func TestOpenLoopLatenessCountedWhenSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A single-server queue of 9 ms at 1000/s, capped at 50 in flight:
		// the pool fills within ~60 ms; after that each completion releases
		// one send, due long before.
		s := &fakeServer{service: constService(9 * time.Millisecond), sem: make(chan struct{}, 1)}
		o := rateOptions(s, 1000)
		o.MaxInFlight = 50
		o.MaxTrials = 3
		o.StabilityPercentage = 1000
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		c := (append(run.Levels, run.Unreported...))[0].Client
		// The 33 completions of the three 100 ms windows were all sent on
		// time; request i completes at 9(i+1) ms.
		if c.Requests != 33 || c.Latency.Max != 265*time.Millisecond {
			t.Errorf("%d requests, latency max %v; want the first 33, up to 265ms", c.Requests, c.Latency.Max)
		}
		// From the server's side: the k-th request sent was due at k ms.
		sends := starts(s.all())
		var issued, late uint64
		for k, at := range sends {
			if at < 300*time.Millisecond {
				issued++
				if at-time.Duration(k)*time.Millisecond > lateAfter {
					late++
				}
			}
		}
		if late < 20 || c.Issued != issued || c.Late != late || c.ScheduleLag.Count != int64(issued) || c.ScheduleLag.Max < 200*time.Millisecond {
			t.Errorf("%d of %d sent late, lag count %d, max %v; want %d of %d (server's view), every send, over 200ms",
				c.Late, c.Issued, c.ScheduleLag.Count, c.ScheduleLag.Max, late, issued)
		}
	})
}

func TestOpenLoopCapMakesRequestsLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(10 * time.Millisecond)}
		o := rateOptions(s, 1000)
		o.RequestCount = 500
		o.MaxInFlight = 5
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		c := run.Levels[0].Client
		if c.Late == 0 || c.Latency.Mean <= c.ServiceTime.Mean || c.ServiceTime.Max != 10*time.Millisecond {
			t.Errorf("%d late, latency %v, service %v; want late requests whose latency exceeds the 10ms service", c.Late, c.Latency.Mean, c.ServiceTime.Mean)
		}
		workers := map[int]bool{}
		for _, cl := range s.all() {
			workers[cl.worker] = true
		}
		if len(workers) != 5 {
			t.Errorf("%d workers; want the cap of 5", len(workers))
		}
	})
}

func TestOpenLoopDrainsBetweenLevels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 13 ms: completions (5i+13 ms from a level start) never tie with
		// a 100 ms window boundary.
		s := &fakeServer{service: constService(13 * time.Millisecond)}
		obs := &events{}
		var levelStart []time.Time
		obs.onStart = func(float64) {
			if n := s.inflight.Load(); n != 0 {
				t.Errorf("%d requests in flight at a level start; want the previous level drained", n)
			}
			levelStart = append(levelStart, time.Now())
		}
		o := rateOptions(s, 100)
		o.End, o.Step = 200, 100
		o.Observer = obs
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if got := values(run.Levels); !slices.Equal(got, []float64{100, 200}) {
			t.Fatalf("levels %v; want [100 200]", got)
		}
		// Level 2's clock starts with its schedule: no burst, one request
		// every 5 ms from its start.
		var second []time.Duration
		for _, c := range s.all() {
			if !c.start.Before(levelStart[1]) {
				second = append(second, c.start.Sub(levelStart[1]))
			}
		}
		slices.Sort(second)
		for i, st := range second {
			if want := time.Duration(i) * 5 * time.Millisecond; st != want {
				t.Fatalf("level 2 request %d sent at +%v; want +%v", i, st, want)
			}
		}
	})
}

func TestOpenLoopPoissonDueTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(2 * time.Millisecond)}
		o := rateOptions(s, 1000)
		o.Distribution, o.Seed = Poisson, 99
		o.RequestCount = 1000
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		sched, _ := schedule.NewPoisson(1000, 99)
		want := schedule.Offsets(sched, 1000)
		if got := starts(s.all()); !slices.Equal(got, want) {
			t.Errorf("send offsets differ from the seeded schedule (first %v vs %v)", got[:5], want[:5])
		}
		if run.Settings.Seed != 99 || run.Settings.Distribution != Poisson {
			t.Errorf("settings %+v; want poisson seed 99", run.Settings)
		}
	})
}

func TestIntervalsMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(500 * time.Microsecond)}
		o := baseOptions(s, 0)
		o.Mode = result.Intervals
		// The precise wait on a fake clock: nanosleep moves no time, the
		// timer finishes each wait, and nothing is sent early.
		o.Intervals = []time.Duration{time.Millisecond, 3 * time.Millisecond}
		o.RequestCount = 6
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		ms := time.Millisecond
		if got := starts(s.all()); !slices.Equal(got, []time.Duration{0, ms, 4 * ms, 5 * ms, 8 * ms, 9 * ms}) {
			t.Errorf("send offsets %v; want 0 1 4 5 8 9 ms", got)
		}
		if len(run.Levels) != 1 || run.Levels[0].Value != 500 || run.Levels[0].Mode != result.Intervals {
			t.Errorf("levels %+v; want one intervals level of rate 500", run.Levels)
		}
	})
}

func TestOpenLoopWarmupAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(15 * time.Millisecond)}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		o := rateOptions(s, 100)
		o.WarmupRequestCount = 5
		o.StabilityPercentage = 0
		var levelAt time.Time
		obs := &events{onStart: func(float64) { levelAt = time.Now() }}
		o.Observer = obs
		s.service = func(_, n int) time.Duration { return 15*time.Millisecond + time.Duration(n)*time.Microsecond }
		// Warm-up takes 5 requests due 0-40 ms, done by 55 ms; then windows
		// end at 155 and 255 ms and the cancel comes in the third.
		time.AfterFunc(300*time.Millisecond, cancel)
		run, err := Run(ctx, o)
		if stopReason(t, err) != result.StopCancelled || len(run.Levels) != 1 || run.Levels[0].Windows != 2 {
			t.Fatalf("error %v, levels %+v; want cancelled with a 2-window partial level", err, run.Levels)
		}
		var warm int
		for _, c := range s.all() {
			if c.start.Before(levelAt) {
				warm++
			}
		}
		if warm != 5 {
			t.Errorf("%d warm-up requests; want 5", warm)
		}
		if n := s.inflight.Load(); n != 0 {
			t.Errorf("%d requests still in flight after Run returned", n)
		}
	})
}

func TestOpenLoopNewCallerErrorStopsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 100/s of 25 ms requests needs a fourth worker at 20 ms, which
		// cannot be made: the run stops with the cause.
		s := &fakeServer{service: constService(25 * time.Millisecond)}
		o := rateOptions(s, 100)
		o.NewCaller = func(w int) (Caller, error) {
			if w == 3 {
				return nil, errors.New("shared memory region full")
			}
			return s.newCaller(w)
		}
		run, err := Run(t.Context(), o)
		if stopReason(t, err) != result.StopError || !strings.Contains(run.StopMessage, "shared memory region full") {
			t.Fatalf("error %v; want a StopError naming the cause", err)
		}
		if n := s.inflight.Load(); n != 0 {
			t.Errorf("%d requests in flight after Run returned", n)
		}
	})
}

// dialingCaller takes dial to connect: in Connect when the engine calls
// it, else in its first Do, as a transport that dials lazily does.
type dialingCaller struct {
	Caller
	dial      time.Duration
	connected bool
}

func (c *dialingCaller) Do(ctx context.Context) (client.Timing, error) {
	if !c.connected {
		time.Sleep(c.dial)
		c.connected = true
	}
	return c.Caller.Do(ctx)
}

type connectingCaller struct{ dialingCaller }

func (c *connectingCaller) Connect(context.Context) error {
	time.Sleep(c.dial)
	c.connected = true
	return nil
}

// A new open-loop worker connects before it takes a request. Dialling on
// the request path, every request due during a dial starts another
// worker, which dials too: the pool grows with the dial time, not with
// the load.
func TestOpenLoopWorkersConnectFirst(t *testing.T) {
	pool := func(connect bool) int {
		var n int
		synctest.Test(t, func(t *testing.T) {
			// 1000/s of 1 ms requests needs one or two in flight; a dial takes 20 ms.
			s := &fakeServer{service: constService(time.Millisecond)}
			o := rateOptions(s, 1000)
			o.RequestCount = 300
			o.NewCaller = func(w int) (Caller, error) {
				c, _ := s.newCaller(w)
				d := dialingCaller{Caller: c, dial: 20 * time.Millisecond}
				if connect {
					return &connectingCaller{d}, nil
				}
				return &d, nil
			}
			if _, err := Run(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			workers := map[int]bool{}
			for _, cl := range s.all() {
				workers[cl.worker] = true
			}
			n = len(workers)
		})
		return n
	}
	lazy, first := pool(false), pool(true)
	if lazy < 10 {
		t.Errorf("dialling on the request path grew the pool to %d workers: the test no longer shows the cascade", lazy)
	}
	t.Logf("pool: %d workers dialling in Do, %d connecting first", lazy, first)
	if first > 5 {
		t.Errorf("connecting first grew the pool to %d workers (dialling on the request path: %d); want at most 5", first, lazy)
	}
}

// A level's first workers connect before its clock starts: the first
// requests are not late for a dial, and a dial that cannot finish holds
// the level's clock for warmWait only.
func TestOpenLoopFirstWorkersConnectBeforeClock(t *testing.T) {
	tests := []struct {
		name           string
		dial           time.Duration
		lagMin, lagMax time.Duration // of the whole level
	}{
		{"20ms dial", 20 * time.Millisecond, 0, lateAfter},
		// The clock starts at warmWait: the first requests are as late as
		// the dial outlasts it (waiting for the dials: none late; not
		// waiting: 1.05 s late).
		{"dial past warmWait", warmWait + 50*time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// 1000/s of 1 ms requests: two workers cover warmSpan.
				s := &fakeServer{service: constService(time.Millisecond)}
				o := rateOptions(s, 1000)
				o.RequestCount = 100
				o.NewCaller = func(w int) (Caller, error) {
					c, _ := s.newCaller(w)
					return &connectingCaller{dialingCaller{Caller: c, dial: tt.dial}}, nil
				}
				run, err := Run(t.Context(), o)
				if err != nil {
					t.Fatal(err)
				}
				c := run.Levels[0].Client
				if lag := c.ScheduleLag.Max; lag < tt.lagMin || lag > tt.lagMax || c.Requests != 100 {
					t.Errorf("%d requests, %d late, lag max %v; want 100, lag max %v-%v", c.Requests, c.Late, lag, tt.lagMin, tt.lagMax)
				}
			})
		})
	}
}
