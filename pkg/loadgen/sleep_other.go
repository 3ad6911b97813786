//go:build !linux

package loadgen

import "time"

// preciseTimer falls back to Go's timer where no timerfd is wired up.
type preciseTimer struct{}

func newPreciseTimer() *preciseTimer { return nil }

func (*preciseTimer) sleep(d time.Duration) { time.Sleep(d) }

func (*preciseTimer) close() {}
