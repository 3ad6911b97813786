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

// A wait within preciseSpan is one sleep on the precise timer: the Go
// timer (nil here) is not touched, and the wait never ends early. A longer
// wait sleeps on the Go timer and ends when stop is closed.
func TestWaitUntilOneWakeWithinPreciseSpan(t *testing.T) {
	pt := precise.New()
	if pt == nil {
		t.Skip("no timerfd here")
	}
	defer pt.Close()
	l := &openLevel{}
	for _, d := range []time.Duration{time.Millisecond, timerSlack + time.Millisecond, preciseSpan} {
		due := time.Now().Add(d)
		_, sent, ok := l.waitUntil(nil, pt, due, make(chan struct{}))
		if !ok || sent.Before(due) {
			t.Errorf("wait of %v: sent %v before due, ok %v; want at or after due, ok", d, due.Sub(sent), ok)
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	stop := make(chan struct{})
	closer := time.AfterFunc(5*time.Millisecond, func() { close(stop) })
	defer closer.Stop()
	if _, _, ok := l.waitUntil(timer, pt, time.Now().Add(time.Minute), stop); ok {
		t.Error("a wait of a minute ended ok; want it stopped")
	}
}
