package loadgen

import (
	"syscall"
	"time"
)

// sleepPrecise sleeps d with nanosleep, which wakes within tens of
// microseconds: Go's timers on Linux wait in epoll with whole milliseconds,
// so they wake up to 1 ms late, which would make ~10% of open-loop
// requests count as late at any rate.
func sleepPrecise(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
