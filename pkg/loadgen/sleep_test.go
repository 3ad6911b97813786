package loadgen

import (
	"testing"
	"time"
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
