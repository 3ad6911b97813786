// Command perfgo measures inference servers that speak the KServe v2 /
// Open Inference Protocol, with perf_analyzer's flags, report and CSV.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	// The first Ctrl-C cancels ctx: the run stops issuing and reports what it
	// measured. stop() restores default handling, so a second Ctrl-C kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
