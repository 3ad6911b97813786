package precise

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A wait may end late (the machine is busy) but never early: a request
// sent before its due time would shift the schedule.
func TestSleepNeverEarly(t *testing.T) {
	pt := New()
	defer pt.Close()
	for _, d := range []time.Duration{1, time.Microsecond, 50 * time.Microsecond, 300 * time.Microsecond, 2 * time.Millisecond} {
		for range 20 {
			start := time.Now()
			pt.Sleep(d)
			if got := time.Since(start); got < d {
				t.Fatalf("Sleep(%v) returned after %v", d, got)
			}
		}
	}
}

func TestUntil(t *testing.T) {
	pt := New()
	defer pt.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for _, d := range []time.Duration{-time.Millisecond, 0, 200 * time.Microsecond, 3 * time.Millisecond} {
		due := time.Now().Add(d)
		if err := pt.Until(context.Background(), timer, due); err != nil || time.Now().Before(due) {
			t.Errorf("Until(%v from now): %v, returned %v early", d, err, time.Until(due))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Millisecond, cancel)
	if err := pt.Until(ctx, timer, time.Now().Add(time.Hour)); err != context.Canceled {
		t.Errorf("Until cancelled: %v, want context.Canceled", err)
	}
}

// BenchmarkSleep is the exact wait for the last stretch before a due
// time: ns/op over the 100 µs asked for is how late it wakes on average.
// It must not allocate.
func BenchmarkSleep(b *testing.B) {
	pt := New()
	defer pt.Close()
	b.ReportAllocs()
	for b.Loop() {
		pt.Sleep(100 * time.Microsecond)
	}
}
