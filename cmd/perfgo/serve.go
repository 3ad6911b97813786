package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgo/perfgo/pkg/server"
)

// serveOptions are the flags of `perfgo serve`.
type serveOptions struct {
	httpAddr, grpcAddr, metricsAddr string
	delayMs                         float64
	delayDistribution               string
	delayInstances                  int
	delayMaxBatch                   int
	delayDynamicBatching            bool
	delayMaxQueueDelayUs            int64
	noModelConfig                   bool
	responseCache                   bool
	generateFirstMs, generateGapMs  float64
	generateDistribution            string
	generateTokens                  int
	sequenceHoldMs                  float64
	gpus                            []string
}

func newServeCmd() *cobra.Command {
	return newServeCmdWith(runServe)
}

// newServeCmdWith lets a test check the parsed options without serving.
func newServeCmdWith(runF func(ctx context.Context, opts server.Options, out io.Writer) error) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference v2 inference server (HTTP, gRPC, metrics)",
		Long: `perfgo serve runs perfgo's reference KServe v2 / Open Inference Protocol server
until interrupted. An empty address disables that listener. Models:
  identity, identity_<type>  echo INPUT0 as OUTPUT0 (FP32, and every datatype)
  simple                     Triton's example: sum and difference of two INT32 [16]
  delay                      a service time on a fixed number of instances behind a
                             queue, optionally with dynamic batching (--delay-*)
  ensemble                   Triton ensemble: identity, then delay; each step keeps
                             its own statistics (perfgo shows them as composing models)
  sequence, sequence_string  stateful running sum per sequence_id (uint64 or string
                             correlation id); Triton's START/END rules, idle expiry
  repeat                     decoupled: one response per INT32 value (gRPC streaming)
  generate                   decoupled LLM stand-in: text_input in, one text_output
                             token per response ("tok1 ", "tok2 ", ...) after
                             --generate-first-ms, then every --generate-gap-ms;
                             request parameter max_tokens; over gRPC
                             ModelStreamInfer or HTTP .../generate_stream
                             (.../generate with parameter "stream": false)`,
		Example: `  perfgo serve
  perfgo serve --delay-ms 5 --delay-instances 2 --delay-dynamic-batching --delay-max-queue-delay-us 500
  perfgo serve --generate-first-ms 50 --generate-gap-ms 10 --generate-distribution exponential
  perfgo serve --gpu GPU-0:0.2/0.6:120:1000000/3000000:16000000000`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := o.serverOptions()
			if err != nil {
				return err
			}
			return runF(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.httpAddr, "http-addr", server.DefaultHTTPAddr, "HTTP/REST listen address (\"\" disables)")
	f.StringVar(&o.grpcAddr, "grpc-addr", server.DefaultGRPCAddr, "gRPC listen address (\"\" disables)")
	f.StringVar(&o.metricsAddr, "metrics-addr", server.DefaultMetricsAddr, "Prometheus /metrics listen address (\"\" disables)")
	f.Float64Var(&o.delayMs, "delay-ms", 2, "delay model: mean service time per execution, in milliseconds")
	f.StringVar(&o.delayDistribution, "delay-distribution", "fixed", "delay model: service time distribution: fixed, exponential, uniform (±50%) or lognormal")
	f.IntVar(&o.delayInstances, "delay-instances", 1, "delay model: instances executing in parallel")
	f.IntVar(&o.delayMaxBatch, "delay-max-batch", 8, "delay model: max_batch_size")
	f.BoolVar(&o.delayDynamicBatching, "delay-dynamic-batching", false, "delay model: batch queued requests into one execution")
	f.Int64Var(&o.delayMaxQueueDelayUs, "delay-max-queue-delay-us", 0, "delay model: with dynamic batching, wait up to this many microseconds to fill a batch")
	f.Float64Var(&o.generateFirstMs, "generate-first-ms", 20, "generate model: mean time from a request's arrival to its first token, in milliseconds")
	f.Float64Var(&o.generateGapMs, "generate-gap-ms", 5, "generate model: mean time between tokens, in milliseconds")
	f.StringVar(&o.generateDistribution, "generate-distribution", "fixed", "generate model: distribution of both times: fixed, exponential, uniform (±50%) or lognormal")
	f.IntVar(&o.generateTokens, "generate-tokens", 16, fmt.Sprintf("generate model: tokens per request without max_tokens (1 to %d)", server.MaxTokens))
	f.Float64Var(&o.sequenceHoldMs, "sequence-hold-ms", 0, "sequence models: how long each request keeps its sequence busy, in milliseconds (overlapping requests count as serial violations)")
	f.BoolVar(&o.responseCache, "response-cache", false, "answer repeated identity requests from a response cache, as Triton's does (cache hit and miss statistics)")
	f.StringArrayVar(&o.gpus, "gpu", nil, "export a synthetic GPU's Triton gauges on /metrics (repeatable): "+server.GPUFormat)
	f.BoolVar(&o.noModelConfig, "no-model-config", false, "act as a server without the model configuration extension (as KServe's and MLServer's): .../config answers 404 (HTTP) or Unimplemented (gRPC)")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v (see perfgo serve --help)", err) })
	return cmd
}

// serverOptions checks the flags and converts them.
func (o serveOptions) serverOptions() (server.Options, error) {
	switch {
	case math.IsNaN(o.delayMs) || o.delayMs <= 0 || o.delayMs > 3.6e6:
		return server.Options{}, usagef("--delay-ms is %v; give a service time above 0 and at most 3600000 (one hour)", o.delayMs)
	case o.delayInstances < 1 || o.delayInstances > 1024:
		return server.Options{}, usagef("--delay-instances is %d; use 1 to 1024", o.delayInstances)
	case o.delayMaxBatch < 1 || o.delayMaxBatch > 1<<16:
		return server.Options{}, usagef("--delay-max-batch is %d; use 1 to 65536", o.delayMaxBatch)
	case o.delayMaxQueueDelayUs < 0 || o.delayMaxQueueDelayUs > 3.6e9:
		return server.Options{}, usagef("--delay-max-queue-delay-us is %d; use 0 to 3600000000", o.delayMaxQueueDelayUs)
	case o.delayMaxQueueDelayUs > 0 && !o.delayDynamicBatching:
		return server.Options{}, usagef("--delay-max-queue-delay-us needs --delay-dynamic-batching")
	}
	for _, d := range []struct{ flag, v string }{{"--delay-distribution", o.delayDistribution}, {"--generate-distribution", o.generateDistribution}} {
		switch d.v {
		case "fixed", "exponential", "uniform", "lognormal":
		default:
			return server.Options{}, usagef("%s is %q; use fixed, exponential, uniform or lognormal", d.flag, d.v)
		}
	}
	// The server reads a zero time as "the default", so the generate
	// times must be above 0; the hold may be 0 (none).
	for _, ms := range []struct {
		flag     string
		v, least float64
	}{{"--generate-first-ms", o.generateFirstMs, 1e-3}, {"--generate-gap-ms", o.generateGapMs, 1e-3}, {"--sequence-hold-ms", o.sequenceHoldMs, 0}} {
		if math.IsNaN(ms.v) || ms.v < ms.least || ms.v > 3.6e6 {
			return server.Options{}, usagef("%s is %v; give %v to 3600000 milliseconds (one hour)", ms.flag, ms.v, ms.least)
		}
	}
	if o.generateTokens < 1 || o.generateTokens > server.MaxTokens {
		return server.Options{}, usagef("--generate-tokens is %d; use 1 to %d", o.generateTokens, server.MaxTokens)
	}
	var gpus []server.GPU
	for _, spec := range o.gpus {
		g, err := server.ParseGPU(spec)
		if err != nil {
			return server.Options{}, usagef("--gpu %v", err)
		}
		gpus = append(gpus, g) // a UUID given twice: server.New refuses it
	}
	version := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	return server.Options{
		HTTPAddr:        o.httpAddr,
		GRPCAddr:        o.grpcAddr,
		MetricsAddr:     o.metricsAddr,
		Version:         version,
		HideModelConfig: o.noModelConfig,
		ResponseCache:   o.responseCache,
		SequenceHold:    msDuration(o.sequenceHoldMs),
		GPUs:            gpus,
		Generate: server.GenerateOptions{
			FirstResponse: msDuration(o.generateFirstMs),
			Gap:           msDuration(o.generateGapMs),
			Distribution:  o.generateDistribution,
			Tokens:        o.generateTokens,
		},
		Delay: server.DelayOptions{
			ServiceTime:     time.Duration(o.delayMs * float64(time.Millisecond)),
			Distribution:    o.delayDistribution,
			Instances:       o.delayInstances,
			MaxBatchSize:    o.delayMaxBatch,
			DynamicBatching: o.delayDynamicBatching,
			MaxQueueDelay:   time.Duration(o.delayMaxQueueDelayUs) * time.Microsecond,
		},
	}, nil
}

// msDuration converts checked milliseconds.
func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// runServe serves until ctx is cancelled, then shuts down cleanly.
func runServe(ctx context.Context, opts server.Options, out io.Writer) error {
	if opts.HTTPAddr == "" && opts.GRPCAddr == "" && opts.MetricsAddr == "" {
		return usagef("every listener is disabled; give at least one of --http-addr, --grpc-addr, --metrics-addr")
	}
	s, err := server.New(opts)
	if err != nil {
		return usagef("%v", err)
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	for _, l := range []struct{ name, addr string }{{"HTTP", s.HTTPAddr()}, {"gRPC", s.GRPCAddr()}, {"metrics", s.MetricsAddr()}} {
		if l.addr != "" {
			fmt.Fprintf(out, "perfgo serve: %s on %s\n", l.name, l.addr)
		}
	}
	<-ctx.Done()
	// In-flight requests get a few seconds; the signal context is already
	// done, so shutdown needs a context of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	fmt.Fprintln(out, "perfgo serve: stopped")
	return nil
}
