package loadgen

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/perfgo/perfgo/pkg/result"
)

// clientCPUWarnAbove is the share of its CPUs above which perfgo warns
// that a level's figures measure the client rather than the server.
const clientCPUWarnAbove = 0.8

// CPUTime is what a process's CPU clock reads: the CPU time its threads
// used (user and system), and the time they were ready to run but waited
// for a CPU (taken by other processes, or by other threads when the
// process may use fewer CPUs than it has threads ready).
type CPUTime struct {
	Used, Waited time.Duration
}

// processCPU reads this process's CPU clock: used from getrusage, waited
// from the kernel's per-thread scheduler statistics (0 where the kernel
// keeps none).
func processCPU() CPUTime {
	var t CPUTime
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.Used = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	files, _ := filepath.Glob("/proc/self/task/*/schedstat")
	for _, f := range files {
		// "<on-CPU ns> <run-queue wait ns> <timeslices>"
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if fields := strings.Fields(string(b)); len(fields) >= 2 {
			if ns, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				t.Waited += time.Duration(ns)
			}
		}
	}
	return t
}

// cpuClock returns the run's CPU clock and the number of CPUs perfgo may
// use (GOMAXPROCS: the CPUs of its affinity mask and cgroup limit), from
// the options or the process.
func (o *Options) cpuClock() (func() CPUTime, int) {
	clock, cpus := o.ProcessCPU, o.CPUs
	if clock == nil {
		clock = processCPU
	}
	if cpus <= 0 {
		cpus = runtime.GOMAXPROCS(0)
	}
	return clock, cpus
}

// since is the CPU clock's advance from mark; a thread that exited takes
// its wait with it, so a difference is never below 0.
func (t CPUTime) since(mark CPUTime) CPUTime {
	return CPUTime{Used: max(t.Used-mark.Used, 0), Waited: max(t.Waited-mark.Waited, 0)}
}

// clientCPU sets the level's shares of perfgo's CPUs and says when perfgo
// needed more than clientCPUWarnAbove of them, using them or waiting for
// them (whether or not the level is reported: a starved client is a
// reason not to stabilise): then the level's figures describe the client
// at its limit, not the server.
func (e *engine) clientCPU(lvl *result.Level) {
	c := &lvl.Client
	if c.Duration <= 0 || e.cpus <= 0 {
		return
	}
	capacity := float64(c.Duration) * float64(e.cpus)
	c.CPUShare = float64(c.CPU) / capacity
	c.CPUWaitShare = float64(c.CPUWait) / capacity
	if c.CPUShare+c.CPUWaitShare > clientCPUWarnAbove {
		e.obs.Warn(fmt.Sprintf("%s %v: perfgo used %.0f%% of the %d CPUs it may use and waited %.0f%% more for one: these figures may measure the client, not the server (give perfgo more CPUs or a quieter machine)",
			lvl.Mode, lvl.Value, 100*c.CPUShare, e.cpus, 100*c.CPUWaitShare))
	}
}
