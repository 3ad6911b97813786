package loadgen

import (
	"os"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/result"
)

// A wait may end late (the machine is busy) but never early: a request
// sent before its due time would shift the schedule.
func TestPreciseTimerNeverEarly(t *testing.T) {
	pt := newPreciseTimer()
	defer pt.close()
	for _, d := range []time.Duration{1, time.Microsecond, 50 * time.Microsecond, 300 * time.Microsecond, 2 * time.Millisecond} {
		for range 20 {
			start := time.Now()
			pt.sleep(d)
			if got := time.Since(start); got < d {
				t.Fatalf("sleep(%v) returned after %v", d, got)
			}
		}
	}
}

// Each open-loop worker opens a timer descriptor for its level: a sweep
// of several levels must close every one of them.
func TestOpenLoopClosesItsTimers(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("cannot count descriptors: %v", err)
		}
		return len(ents)
	}
	newPreciseTimer().close() // the netpoller's own descriptors are opened once, on first use
	before := fds()
	run, err := Run(t.Context(), Options{
		Mode: result.RequestRate, Start: 2000, End: 6000, Step: 2000,
		// Two windows: levels are reported without a stability test, which
		// 20 ms windows under -race on a loaded machine can fail.
		MeasurementInterval: 20 * time.Millisecond, StabilityPercentage: 1000, MaxTrials: 2,
		MaxInFlight: 8,
		NewCaller:   func(int) (Caller, error) { return nopCaller{}, nil },
	})
	if err != nil || len(run.Levels) != 3 {
		t.Fatalf("%d levels, %v; want 3", len(run.Levels), err)
	}
	if after := fds(); after != before {
		t.Errorf("%d descriptors open after the run, %d before", after, before)
	}
}
