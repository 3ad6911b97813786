//go:build !linux

package loadgen

import "time"

// sleepPrecise falls back to Go's timer where no nanosleep is wired up.
func sleepPrecise(d time.Duration) { time.Sleep(d) }
