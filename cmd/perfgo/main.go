// Command perfgo measures inference servers that speak the KServe v2 /
// Open Inference Protocol, with perf_analyzer's flags, report and CSV.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
)

// gcPercent is perfgo's GOGC unless the environment sets one. grpc-go
// allocates about 80 objects per call; at the default of 100 the
// collector ran about 16 times a second at 10,000 gRPC requests/s and its
// pauses and assists showed up as schedule lag (p99 median of 5 runs:
// 1,058 µs at 100, 557 µs at 400). The heap is small (a few MB), so the
// cost is about 11 MB more peak RSS at gRPC concurrency 64, none over HTTP.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	// The first Ctrl-C cancels ctx: the run stops issuing and reports what it
	// measured. stop() restores default handling, so a second Ctrl-C kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
