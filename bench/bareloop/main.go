// Command bareloop is the ceiling perfgo is measured against: the same
// client (pkg/client, same pool sizing) and the same request (pkg/inputs)
// as perfgo, sent by N goroutines in a closed loop for a fixed time, with
// no measurement at all beyond counting completed requests.
//
//	bareloop -i grpc -u 127.0.0.1:8001 -m simple -c 8 -d 10s
//
// It prints one line of key=value pairs (requests, failed, seconds,
// throughput) for bench/run.sh to parse. Any failed request makes the exit
// status 1: a ceiling measured on errors is no ceiling.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/inputs"
)

type options struct {
	protocol    string
	url         string
	model       string
	shape       string
	concurrency int
	connections int
	duration    time.Duration
	cpuProfile  string
}

// gcPercent is cmd/perfgo's: the ceiling runs with perfgo's collector
// setting, so the comparison measures perfgo's measurement, not GOGC.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bareloop:", err)
		stop()
		os.Exit(1)
	}
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bareloop", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.protocol, "i", "grpc", "protocol: grpc or http")
	fs.StringVar(&o.url, "u", "", "server host:port")
	fs.StringVar(&o.model, "m", "simple", "model")
	fs.StringVar(&o.shape, "shape", "", "name:d1,d2,... for an input with variable dims, as perfgo's --shape")
	fs.IntVar(&o.concurrency, "c", 1, "goroutines, each with one request outstanding")
	fs.IntVar(&o.connections, "connections", 0, "connections (0: the client's default for -c workers)")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "how long to send")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the loop to this file")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w; usage: bareloop -i grpc|http -u host:port [-m model] [-shape name:dims] [-c N] [-d 10s] [-connections N] [-cpuprofile file]", err)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q: all settings are flags", fs.Args())
	case o.url == "":
		return o, errors.New("no server: give -u host:port")
	case o.concurrency < 1:
		return o, fmt.Errorf("-c %d: use 1 or more", o.concurrency)
	case o.duration <= 0:
		return o, fmt.Errorf("-d %v: use a positive duration such as 10s", o.duration)
	}
	if o.shape != "" {
		if _, _, err := inputs.ParseShape(o.shape); err != nil {
			return o, err
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	cl, err := client.New(ctx, client.Options{
		Protocol: client.Protocol(o.protocol), URL: o.url,
		Workers: o.concurrency, Connections: o.connections,
	})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", o.url, err)
	}
	defer cl.Close()
	req, err := request(ctx, cl, o.model, o.shape)
	if err != nil {
		return err
	}
	calls := make([]client.Call, o.concurrency)
	for i := range calls {
		if calls[i], err = cl.NewCall(req); err != nil {
			return fmt.Errorf("prepare the request: %w", err)
		}
		// Connect outside the timed loop, as perfgo's workers are warm
		// after their first request too.
		if _, err := calls[i].Do(ctx); err != nil {
			return fmt.Errorf("first request: %w", err)
		}
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	counts, elapsed, err := loop(ctx, calls, o.duration)
	var done, failed uint64
	for _, c := range counts {
		done += c.done
		failed += c.failed
	}
	fmt.Fprintf(stdout, "requests=%d failed=%d seconds=%.3f throughput=%.1f\n",
		done, failed, elapsed.Seconds(), float64(done)/elapsed.Seconds())
	if err != nil {
		return fmt.Errorf("%d of %d requests failed, the first: %w", failed, done+failed, err)
	}
	return nil
}

// request builds what perfgo would send: the model's required inputs,
// random data, all outputs requested; shape, when given, is one --shape.
func request(ctx context.Context, cl client.Client, model, shape string) (*client.InferRequest, error) {
	md, err := cl.ModelMetadata(ctx, model, "")
	if err != nil {
		return nil, fmt.Errorf("model %q metadata: %w", model, err)
	}
	cfg, err := cl.ModelConfig(ctx, model, "")
	if err != nil && !errors.Is(err, client.ErrUnsupported) {
		return nil, fmt.Errorf("model %q configuration: %w", model, err)
	}
	opts := inputs.Options{Data: inputs.Random, Seed: 1}
	if shape != "" {
		name, dims, err := inputs.ParseShape(shape)
		if err != nil {
			return nil, err
		}
		opts.Shapes = map[string][]int64{name: dims}
	}
	tensors, outputs, err := inputs.Build(inputs.Model{Metadata: md, Config: cfg}, opts)
	if err != nil {
		return nil, err
	}
	return &client.InferRequest{Model: model, Inputs: tensors, Outputs: outputs}, nil
}

// count is one worker's tally, padded so that workers never share a cache line.
type count struct {
	done, failed uint64
	_            [48]byte
}

// loop runs one goroutine per call until d has passed. Each goroutine
// counts into its own slot; the only shared state is a flag read per request.
func loop(ctx context.Context, calls []client.Call, d time.Duration) ([]count, time.Duration, error) {
	var stop atomic.Bool
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	counts := make([]count, len(calls))
	// As perfgo's engine: requests in flight finish even when the run is
	// cancelled, so the transport never sees a cancellable context.
	reqCtx := context.WithoutCancel(ctx)
	var g errgroup.Group
	start := time.Now()
	for i, call := range calls {
		c := &counts[i]
		g.Go(func() error {
			var first error
			for !stop.Load() && ctx.Err() == nil {
				if _, err := call.Do(reqCtx); err != nil {
					c.failed++
					if first == nil {
						first = err
					}
					continue
				}
				c.done++
			}
			return first
		})
	}
	err := g.Wait()
	return counts, time.Since(start), err
}
