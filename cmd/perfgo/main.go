// Command perfgo measures inference servers that speak the KServe v2 /
// Open Inference Protocol, with perf_analyzer's flags, report and CSV.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/term"
)

// gcPercent is perfgo's GOGC during the load unless the environment sets
// one (profile applies it once the requests are prepared: data files are
// loaded at Go's default, so their garbage does not pile up). grpc-go
// allocates about 80 objects per call; at the default of 100 the
// collector ran about 16 times a second at 10,000 gRPC requests/s and its
// pauses and assists showed up as schedule lag (p99 median of 5 runs:
// 1,058 µs at 100, 557 µs at 400). The heap is small (a few MB), so the
// cost is about 11 MB more peak RSS at gRPC concurrency 64, none over HTTP.
const gcPercent = 400

// gcHeadroom is the garbage the load may make between collections before
// gcPercent is lowered (see loadGCPercent).
const gcHeadroom = 64 << 20

// setupGCPercent is perfgo's GOGC before the load: discovery, loading data
// files and encoding the requests (a 92 MB data file: peak RSS 258 MB at
// 100 over HTTP, see README).
const setupGCPercent = 25

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	abandon := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		watchInterrupts(sigs, done, interruptActions{
			stop:    cancel,
			abandon: func() { close(abandon) },
			exit:    func() { os.Exit(exitInterrupted) },
			stderr:  os.Stderr,
			erase:   eraseLine(os.Stderr),
		})
	})
	code := run(ctx, abandon, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	close(done)
	wg.Wait()
	cancel()
	os.Exit(code)
}

// interruptActions are what successive Ctrl-Cs do.
type interruptActions struct {
	stop    func() // first: stop issuing, drain, report everything measured
	abandon func() // second: cancel the requests in flight, still report
	exit    func() // third: leave at once, writing nothing more
	stderr  io.Writer
	// erase starts each message: on a terminal it clears the line, where
	// the progress line may be (each message is one write, so it cannot
	// land inside the line's own writes).
	erase string
}

// eraseLine is what clears the current line of f: "\r\x1b[K" on a
// terminal, nothing elsewhere.
func eraseLine(f *os.File) string {
	if term.IsTerminal(int(f.Fd())) {
		return "\r\x1b[K"
	}
	return ""
}

// watchInterrupts turns each signal from sigs into the next action until
// done is closed. A measuring run must not lose its results to an
// impatient Ctrl-C, nor trap a user whose reports cannot be written.
func watchInterrupts(sigs <-chan os.Signal, done <-chan struct{}, a interruptActions) {
	for n := 1; ; n++ {
		select {
		case <-done:
			return
		case <-sigs:
		}
		switch n {
		case 1:
			fmt.Fprintln(a.stderr, a.erase+"perfgo: interrupted: finishing the requests in flight, then reporting (Ctrl-C again to cancel them now)")
			a.stop()
		case 2:
			fmt.Fprintln(a.stderr, a.erase+"perfgo: cancelling the requests in flight; reporting what was measured (Ctrl-C again to exit without reports)")
			a.abandon()
		default:
			a.exit()
			return
		}
	}
}
