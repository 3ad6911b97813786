//go:build !linux

// Package precise waits short durations exactly, where Go's timers wake
// up to a millisecond late.
package precise

import "time"

// Timer falls back to Go's timer where no timerfd is wired up.
type Timer struct{}

// New returns nil: Sleep then uses Go's timer.
func New() *Timer { return nil }

// Sleep waits d.
func (*Timer) Sleep(d time.Duration) { time.Sleep(d) }

// Close does nothing.
func (*Timer) Close() {}
