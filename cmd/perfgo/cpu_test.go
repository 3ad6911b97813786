package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// TestClientCPUWarning: perfgo reports its own CPU per level (-v) and warns
// when it used more than 80% of the CPUs it may use. Starved: the process
// may use one CPU (GOMAXPROCS=1) and a goroutine keeps it busy, as a
// client at its limit would; normal: the same run without the spinner.
func TestClientCPUWarning(t *testing.T) {
	srv := servertest.Start(t, withDelay(1, 1))
	for _, starved := range []bool{false, true} {
		name := map[bool]string{false: "normal", true: "starved"}[starved]
		t.Run(name, func(t *testing.T) {
			var stop atomic.Bool
			var wg sync.WaitGroup
			if starved {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				wg.Go(func() {
					spins := 0
					for !stop.Load() {
						spins++ // busy: keep the one CPU
					}
					_ = spins
				})
			}
			args := append([]string{"-m", "delay", "-i", "grpc", "-u", srv.GRPCAddr, "--shape", "INPUT0:4", "--concurrency-range", "1", "-v"}, anyWindows...)
			// run, not perfgo(): that helper leaves this warning out.
			var out, errOut bytes.Buffer
			code := run(context.Background(), nil, args, &out, &errOut)
			stdout, stderr := out.String(), errOut.String()
			stop.Store(true)
			wg.Wait()
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "    perfgo CPU: ") {
				t.Errorf("-v shows no perfgo CPU line:\n%s", stdout)
			}
			warned := strings.Contains(stderr, "may measure the client, not the server")
			if warned != starved {
				t.Errorf("CPU warning %v, want %v; stdout:\n%s\nstderr:\n%s", warned, starved, stdout, stderr)
			}
		})
	}
}
