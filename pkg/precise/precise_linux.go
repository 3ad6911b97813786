// Package precise waits short durations exactly, where Go's timers wake
// up to a millisecond late.
package precise

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Timer waits short durations exactly: Go's timers on Linux wait
// in epoll with whole milliseconds, so they wake up to 1 ms late, which
// would make ~10% of open-loop requests count as late at any rate. It
// arms a timerfd that Go's netpoller watches, so the waiting goroutine
// parks and its thread and P stay free for the rest of the process. (A
// nanosleep keeps its P until the runtime's monitor takes it back, up to
// 10 ms later: with two Ps and a few workers sleeping, responses then
// wait for a P, requests pile up, the pool grows and more workers sleep;
// at 5,000/s over HTTP service time climbed to 100 ms while the server
// reported 13 µs.) The read also gets a deadline at the same instant:
// while every P is busy the netpoller is polled only when one runs out
// of work, but timers are checked at every scheduling round, so whichever
// notices first wakes the worker (gRPC at 10,000/s: schedule lag p99
// median of 5 runs 1,058 µs with the deadline, 1,331 µs without).
//
// The wait reads nothing: the netpoller's edge for the expiry is the
// signal, and the next arming resets the expiry count, so each wait costs
// one timerfd_settime and no read (a read of the count would be two: one
// that finds nothing yet, one after the wake).
type Timer struct {
	fd    int
	f     *os.File
	raw   syscall.RawConn
	spec  unix.ItimerSpec
	armed bool               // the next wake call is the one before parking
	wake  func(uintptr) bool // raw.Read's callback, made once: no allocation per wait
}

// New returns a Timer, or nil when no timerfd can be had: Sleep then
// falls back to Go's timer. Close it when done.
func New() *Timer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	// A non-blocking descriptor makes a pollable File: a wait parks the
	// goroutine on the netpoller instead of blocking the thread.
	f := os.NewFile(uintptr(fd), "timerfd")
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil
	}
	t := &Timer{fd: fd, f: f, raw: raw}
	t.wake = func(uintptr) bool {
		// Called once before parking (not yet: park) and once per
		// readiness edge after (expired: done).
		if t.armed {
			t.armed = false
			return false
		}
		return true
	}
	return t
}

// Sleep waits d. It returns early only when the timer fails; callers
// check the clock again. One goroutine at a time may use a Timer.
func (t *Timer) Sleep(d time.Duration) {
	if t == nil || d <= 0 {
		time.Sleep(d)
		return
	}
	due := time.Now().Add(d)
	t.spec.Value = unix.NsecToTimespec(int64(d)) // d > 0: a zero value would disarm it
	if t.arm() != nil {
		time.Sleep(d)
		return
	}
	if t.f.SetReadDeadline(due) != nil {
		time.Sleep(d)
		return
	}
	// Either the expiry's edge or the deadline's error: both mean d has
	// passed, except an early error, which the caller's clock check absorbs.
	// An edge left from an earlier wait (its deadline came first) can end
	// the wait early: then it waits again, still without a syscall. An
	// edge that comes between arming and parking is dropped by the poller
	// (it resets readiness before it parks); the deadline, at the same
	// instant, then wakes the goroutine at the next scheduling round.
	for {
		t.armed = true
		if t.raw.Read(t.wake) != nil || !time.Now().Before(due) {
			return
		}
	}
}

// arm sets the timer to t.spec with a raw syscall: it never blocks, and
// made through unix.TimerfdSettime it would enter the scheduler's syscall
// state, which wakes the runtime's monitor thread whenever every P was
// idle, as they are between an open loop's requests at low rates.
func (t *Timer) arm() error {
	_, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(t.fd), 0, uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// Close releases the timer's descriptor.
func (t *Timer) Close() {
	if t != nil {
		_ = t.f.Close()
	}
}
