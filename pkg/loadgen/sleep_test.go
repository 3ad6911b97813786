package loadgen

import (
	"os"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/precise"
	"github.com/perfgo/perfgo/pkg/result"
)

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
	precise.New().Close() // the netpoller's own descriptors are opened once, on first use
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
