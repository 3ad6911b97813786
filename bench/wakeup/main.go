// Command wakeup measures the machine's floor for open-loop schedule lag:
// one goroutine sleeps to a due time every interval, on the same exact
// wait perfgo's open loop uses (pkg/precise), and records how late it
// woke. No request is sent, so whatever lag it shows is the OS and the Go
// runtime waking a thread, not perfgo's engine or client: run beside
// `perfgo serve` under load, its p99 is the least schedule lag perfgo
// can report on this machine.
//
//	wakeup -interval 100us -d 5s
//
// It prints one line of key=value pairs (wakeups, p50_us, p99_us,
// p999_us, max_us, late_pct: the share over 1 ms) for bench/rate.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/precise"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wakeup:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wakeup", flag.ContinueOnError)
	interval := fs.Duration("interval", 100*time.Microsecond, "time between due times")
	duration := fs.Duration("d", 5*time.Second, "how long to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *interval <= 0 || *duration <= 0 {
		return errors.New("-interval and -d must be above 0 (e.g. -interval 100us -d 5s)")
	}
	lags := measure(ctx, *interval, *duration)
	q := func(p float64) float64 { return float64(lags.ValueAtQuantile(p)) / 1e3 }
	late := 0.0
	if n := lags.TotalCount(); n > 0 {
		late = float64(n-countBelow(lags, time.Millisecond)) / float64(n) * 100
	}
	_, err := fmt.Fprintf(stdout, "wakeups=%d p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f late_pct=%.2f\n",
		lags.TotalCount(), q(50), q(99), q(99.9), float64(lags.Max())/1e3, late)
	return err
}

// measure wakes at every interval until duration has passed or ctx ends
// and returns the histogram of how late each wake was, in nanoseconds.
// A wake later than the next due time skips nothing: every due time is
// waited for, as the open loop sends every scheduled request.
func measure(ctx context.Context, interval, duration time.Duration) *hdrhistogram.Histogram {
	lags := hdrhistogram.New(1, int64(10*time.Second), 3)
	pt := precise.New()
	defer pt.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	start := time.Now()
	for due := start; due.Sub(start) < duration; due = due.Add(interval) {
		if pt.Until(ctx, timer, due) != nil {
			break
		}
		_ = lags.RecordValue(max(int64(time.Since(due)), 1)) // at most 10 s: clamped below
	}
	return lags
}

// countBelow is how many recorded values are under limit.
func countBelow(h *hdrhistogram.Histogram, limit time.Duration) int64 {
	var n int64
	for _, b := range h.Distribution() {
		if b.To < int64(limit) {
			n += b.Count
		}
	}
	return n
}
