package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/perfgo/perfgo/pkg/server"
)

// demoOptions shape the demo: a model whose throughput saturates, swept
// far enough past saturation that latency visibly climbs.
type demoOptions struct {
	Protocol    string
	Concurrency string
	IntervalMs  int
	ServiceMs   float64
	Instances   int
	CSVFile     string
	// GenerateConcurrency is the streaming run's range over the generate
	// model ("" skips it).
	GenerateConcurrency string
}

// demoGenerate is the generate model the demo streams from.
var demoGenerate = server.GenerateOptions{FirstResponse: 20 * time.Millisecond, Gap: 5 * time.Millisecond, Tokens: 16}

func newDemoCmd(abandon <-chan struct{}) *cobra.Command {
	d := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Sweep the built-in server's delay model (throughput rises, then flattens while latency climbs), then stream from its generate model",
		Long: `demo starts perfgo's reference v2 server in this process on a free loopback
port and profiles its "delay" model (fixed service time, a few instances), so
that the report shows a real saturation curve without any setup. Then it
streams from the "generate" model (a decoupled text model: 16 tokens, the
first 20 ms after the request, then one every 5 ms) and reports time to
first response, time between responses and responses per second.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), d, abandon, cmd)
		},
	}
	bindDemo(cmd.Flags(), d)
	return cmd
}

func bindDemo(fs *pflag.FlagSet, d *demoOptions) {
	fs.StringVarP(&d.Protocol, "protocol", "i", "grpc", "protocol: http or grpc")
	fs.StringVar(&d.Concurrency, "concurrency-range", "1:8:1", "levels to sweep")
	fs.IntVarP(&d.IntervalMs, "measurement-interval", "p", 500, "window length in milliseconds")
	fs.Float64Var(&d.ServiceMs, "delay-ms", 4, "the delay model's service time in milliseconds")
	fs.IntVar(&d.Instances, "delay-instances", 4, "the delay model's instances (throughput saturates at instances/service time)")
	fs.StringVarP(&d.CSVFile, "latency-report-file", "f", "", "also write the CSV report of the delay sweep here")
	fs.StringVar(&d.GenerateConcurrency, "generate-concurrency-range", "1:4:3", "levels of the streaming run over the generate model (\"\" skips it)")
}

func runDemo(ctx context.Context, d *demoOptions, abandon <-chan struct{}, cmd *cobra.Command) error {
	if d.ServiceMs <= 0 || d.Instances <= 0 {
		return usagef("--delay-ms and --delay-instances must be more than 0")
	}
	srv, err := server.New(server.Options{
		HTTPAddr:    "127.0.0.1:0",
		GRPCAddr:    "127.0.0.1:0",
		MetricsAddr: "",
		Delay: server.DelayOptions{
			ServiceTime: time.Duration(d.ServiceMs * float64(time.Millisecond)),
			Instances:   d.Instances,
		},
		Generate: demoGenerate,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("start the demo server: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	url := srv.GRPCAddr()
	if d.Protocol == "http" {
		url = srv.HTTPAddr()
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "perfgo demo: model \"delay\" (%.3g ms service time, %d instances: at most %.0f infer/sec; timer wake-ups add a little to each execution) on %s (%s)\n\n",
		d.ServiceMs, d.Instances, float64(d.Instances)*1000/d.ServiceMs, url, d.Protocol)

	args := []string{"-m", "delay", "-i", d.Protocol, "-u", url,
		"--concurrency-range", d.Concurrency, "-p", fmt.Sprint(d.IntervalMs), "--shape", "INPUT0:16"}
	if d.CSVFile != "" {
		args = append(args, "-f", d.CSVFile)
	}
	if err := demoRun(ctx, args, abandon, cmd); err != nil || d.GenerateConcurrency == "" {
		return err
	}
	g := demoGenerate
	fmt.Fprintf(cmd.ErrOrStderr(), "\nperfgo demo: model \"generate\" (decoupled: %d tokens per request, the first %v after the request, then one every %v), on streams\n\n",
		g.Tokens, g.FirstResponse, g.Gap)
	// 2 s windows at least: a window counts whole requests, and at
	// concurrency 4 a 1 s window holds 40 to 44 of these 95 ms streams,
	// too coarse for the 10% stability test.
	return demoRun(ctx, []string{"-m", "generate", "-i", d.Protocol, "-u", url, "--string-data", "Tell me a story",
		"--concurrency-range", d.GenerateConcurrency, "-p", fmt.Sprint(max(d.IntervalMs, 2000))}, abandon, cmd)
}

// demoRun profiles the demo server as `perfgo args` would.
func demoRun(ctx context.Context, args []string, abandon <-chan struct{}, cmd *cobra.Command) error {
	o := defaultProfileOptions()
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	o.bind(fs)
	if err := fs.Parse(args); err != nil {
		return &usageErr{err.Error()}
	}
	if err := o.finish(fs); err != nil {
		return err
	}
	o.abandon = abandon
	return profile(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
}
