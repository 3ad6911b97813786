package loadgen

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

func clientTiming() client.Timing { return client.Timing{Total: time.Millisecond} }

// fakeStats reports the fake server's successful calls as version 2 of
// model "m" (version 1 stays idle); it fails after failAfter calls when set.
type fakeStats struct {
	s         *fakeServer
	calls     *atomic.Int32
	failAfter int32
}

func (f fakeStats) ModelStatistics(_ context.Context, model, version string) (*inferencepb.ModelStatisticsResponse, error) {
	if f.calls != nil && f.calls.Add(1) > f.failAfter && f.failAfter > 0 {
		return nil, errors.New("statistics extension unavailable")
	}
	var ok uint64
	if f.s != nil {
		f.s.mu.Lock()
		ok = f.s.ok
		f.s.mu.Unlock()
	}
	return stats(stat("m", "1", 3, 3), stat("m", "2", ok, ok)), nil
}

// flakyStats fails calls from..to (1-based) and answers the others.
type flakyStats struct {
	fakeStats
	calls    *atomic.Int32
	from, to int32
}

func (f flakyStats) ModelStatistics(ctx context.Context, model, version string) (*inferencepb.ModelStatisticsResponse, error) {
	if n := f.calls.Add(1); n >= f.from && n <= f.to {
		return nil, errors.New("statistics extension unavailable")
	}
	return f.fakeStats.ModelStatistics(ctx, model, version)
}

// serviceOffEdges is a service time whose multiples never land on a
// window edge (a multiple of 100 ms): on the fake clock a request that
// completes at the very instant a window ends may be counted by the
// server's snapshot and not by the client's window, or the other way
// round, which is an artefact of the fake clock (about 1 run in 70 failed
// with 7 ms). 7.003 ms: 7003 and 100000 have no common factor.
const serviceOffEdges = 7*time.Millisecond + 3*time.Microsecond

func TestServerStatsMatchClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(serviceOffEdges)}
		o := baseOptions(s, 1)
		o.End = 2
		o.Model, o.Stats = "m", fakeStats{s: s}
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range run.Levels {
			if l.Server == nil {
				t.Fatalf("level %v has no server statistics", l.Value)
			}
			if l.Server.Version != "2" || l.Server.Success.Count != l.Client.Requests || l.Server.InferenceCount != 2*l.Client.Requests {
				t.Errorf("level %v: server version %s saw %d requests; want version 2 and the client's %d", l.Value, l.Server.Version, l.Server.Success.Count, l.Client.Requests)
			}
		}
		if !run.Settings.ServerStats {
			t.Error("settings do not say server statistics were collected")
		}
	})
}

func TestServerStatsFailureWarnsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(7 * time.Millisecond)}
		obs := &events{}
		o := baseOptions(s, 1)
		o.End = 2
		o.Observer = obs
		o.Model, o.Stats = "m", fakeStats{s: s, calls: new(atomic.Int32), failAfter: 2}
		run, err := Run(t.Context(), o)
		if err != nil {
			t.Fatalf("Run: %v; a statistics failure must not stop the run", err)
		}
		if len(run.Levels) != 2 {
			t.Fatalf("%d levels; want 2", len(run.Levels))
		}
		for _, l := range run.Levels {
			if l.Server != nil {
				t.Errorf("level %v has partial server statistics %+v; want none", l.Value, l.Server)
			}
		}
		if len(obs.warns) != 1 || !strings.Contains(obs.warns[0], "statistics extension unavailable") {
			t.Errorf("warnings %q; want one naming the failure", obs.warns)
		}
	})
}
