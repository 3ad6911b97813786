package loadgen

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/result"
)

// stallAfter is a server that answers n requests, then none.
func stallAfter(n int) *fakeServer {
	return &fakeServer{
		service: constService(5 * time.Millisecond),
		stall:   func(i int) bool { return i >= n },
	}
}

func TestStalledServerIsDrainedAndCancelled(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(s *fakeServer) Options
	}{
		{"closed loop", func(s *fakeServer) Options { return baseOptions(s, 3) }},
		{"open loop", func(s *fakeServer) Options {
			o := baseOptions(s, 100)
			o.Mode = result.RequestRate
			o.coarseTimers = true
			return o
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := stallAfter(15)
				o := tc.opts(s)
				o.MaxTrials = 4
				o.DrainTimeout = 2 * time.Second
				run, err := Run(t.Context(), o)
				if stopReason(t, err) != result.StopNoValidRequests {
					t.Fatalf("error %v; want no valid requests", err)
				}
				if !strings.Contains(run.StopMessage, "in flight and none completed") {
					t.Errorf("message %q does not say requests are stuck in flight", run.StopMessage)
				}
				stuck := 0
				for _, c := range s.all() {
					if c.ctxErr != nil {
						stuck++
					}
				}
				if stuck == 0 || run.Drained.Failed != uint64(stuck) {
					t.Errorf("%d requests were cancelled; Drained = %+v", stuck, run.Drained)
				}
				if want := []result.ClassCount{{Class: "cancelled", Count: uint64(stuck), First: "infer: context canceled: context canceled"}}; !slices.Equal(run.DrainedFailures, want) {
					t.Errorf("drained failures %v; want %v", run.DrainedFailures, want)
				}
				if n := s.inflight.Load(); n != 0 {
					t.Errorf("%d requests still in flight after Run", n)
				}
			})
		})
	}
}

func TestAbandonCancelsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := stallAfter(20)
		o := baseOptions(s, 2)
		o.MaxTrials = 3
		o.DrainTimeout = time.Hour
		abandon := make(chan struct{})
		close(abandon)
		o.Abandon = abandon
		start := time.Now()
		if _, err := Run(t.Context(), o); err == nil {
			t.Fatal("a stalled server gave no error")
		}
		// The fake clock makes this exact: 3 windows, no drain wait.
		if d := time.Since(start); d >= time.Hour {
			t.Errorf("Run took %v: it waited for the drain timeout despite Abandon", d)
		}
	})
}

func TestLevelTotalsCountEveryWindow(t *testing.T) {
	for _, tc := range []struct {
		limit float64
		over  bool
	}{{0, true}, {50, false}} {
		synctest.Test(t, func(t *testing.T) {
			boom := errors.New("boom")
			// The first 3 requests fail: all in the first of 5+ windows,
			// which the stability test leaves out of the merged windows.
			// They are slow too, so that the first window's throughput
			// fails the stability test and the level takes more windows.
			slow := func(_, n int) time.Duration {
				if n < 3 {
					return 25 * time.Millisecond
				}
				return 10 * time.Millisecond
			}
			s := &fakeServer{service: slow, fail: func(n int) error {
				if n < 3 {
					return boom
				}
				return nil
			}}
			o := baseOptions(s, 1)
			o.FailureLimit = tc.limit
			run, err := Run(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			l := run.Levels[0]
			if l.Windows <= stabilityWindows {
				t.Fatalf("the level took %d windows; the failing one was merged", l.Windows)
			}
			if l.Client.Failed != 0 {
				t.Fatalf("merged windows have %d failures; the test wants them all in the first window", l.Client.Failed)
			}
			if l.Total.Failed != 3 || l.Total.Requests != l.Client.Requests+sumRequests(l.Passes[:len(l.Passes)-stabilityWindows]) {
				t.Errorf("total %+v; want 3 failures and every window's requests", l.Total)
			}
			if want := []result.ClassCount{{Class: "error", Count: 3, First: "boom"}}; !slices.Equal(l.Failures, want) {
				t.Errorf("failures %v; want %v", l.Failures, want)
			}
			if len(l.Passes) != l.Windows || l.Passes[0].Failed != 3 {
				t.Errorf("passes %+v; want %d with 3 failures in the first", l.Passes, l.Windows)
			}
			if l.OverFailureLimit != tc.over {
				t.Errorf("limit %v%%: over = %v; want %v (%.2f%% failed)", tc.limit, l.OverFailureLimit, tc.over, l.Total.FailedPercent())
			}
		})
	}
}

func sumRequests(ps []result.Pass) uint64 {
	var n uint64
	for _, p := range ps {
		n += p.Requests
	}
	return n
}

func TestServerStatsComeBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(serviceOffEdges)}
		obs := &events{}
		o := baseOptions(s, 1)
		o.End = 3
		o.Observer = obs
		calls := new(atomic.Int32)
		o.Model, o.Stats = "m", flakyStats{fakeStats{s: s}, calls, 2, 4}
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if len(obs.warns) != 2 || !strings.Contains(obs.warns[0], "unavailable") || !strings.Contains(obs.warns[1], "available again") {
			t.Errorf("warnings %q; want one when statistics fail and one when they return", obs.warns)
		}
		last := run.Levels[len(run.Levels)-1]
		if last.Server == nil || last.Server.Success.Count != last.Client.Requests {
			t.Errorf("the last level's server block %+v; want it back, matching the client's %d requests", last.Server, last.Client.Requests)
		}
	})
}

// A server that refuses every connection is not hammered: each worker
// backs off, and every attempt is still counted.
func TestUnreachableBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := &client.Error{Op: "infer", Kind: client.ErrUnreachable, Class: "unreachable"}
		s := &fakeServer{service: constService(10 * time.Microsecond), fail: func(int) error { return refused }}
		o := baseOptions(s, 2)
		o.MeasurementInterval = time.Second
		o.MaxTrials = 1
		run, err := Run(t.Context(), o)
		if err == nil {
			t.Fatal("no error from a server that refuses everything")
		}
		// Each refusal takes 10 µs: without the backoff a worker would make
		// ~100,000 attempts in the 1 s window; with it, ~16 (1, 2, 4 ... 100 ms).
		n := len(s.all())
		t.Logf("%d attempts", n)
		if n < 2 || n > 2*20 {
			t.Errorf("%d attempts by 2 workers in 1 s; want the backoff's 20 or so each", n)
		}
		if got := run.Unreported; len(got) != 1 || got[0].Total.Failed == 0 || got[0].Failures[0].Class != "unreachable" {
			t.Errorf("levels %+v: the attempts are not counted as unreachable failures", got)
		}
	})
}
