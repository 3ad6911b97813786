package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes, compatible with perf_analyzer's so that scripts and CI gates
// written for it keep working.
const (
	exitOK              = 0
	exitUnstable        = 2   // the first (or only) level never stabilised
	exitNoValidRequests = 3   // a window saw no completed request
	exitFailures        = 4   // a reported level had more than --failure-limit % failed requests
	exitGate            = 5   // an SLO was missed or compare found a regression
	exitError           = 99  // everything else, including bad flags
	exitInterrupted     = 130 // Ctrl-C: what was measured is still reported
)

// exitErr carries the exit code chosen by a command.
type exitErr struct {
	code int
	err  error
	// shown: the message was already printed (perf_analyzer's stderr line).
	shown bool
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// usageErr marks a bad flag or flag combination: the message names the flag
// and the fix.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageErr{fmt.Sprintf(format, args...)} }

// run executes perfgo with args and returns the process exit code.
// Cancelling ctx is the first Ctrl-C (stop issuing, drain, report);
// closing abandon the second (cancel what is in flight, still report).
func run(ctx context.Context, abandon <-chan struct{}, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(abandon)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	ee := (*exitErr)(nil)
	if !errors.As(err, &ee) {
		ee = &exitErr{code: exitError, err: err}
	}
	if !ee.shown {
		fmt.Fprintf(stderr, "Error: %v\n", err)
	}
	return ee.code
}

func newRootCmd(abandon <-chan struct{}) *cobra.Command {
	opts := defaultProfileOptions()
	root := &cobra.Command{
		Use:   "perfgo -m MODEL [flags]",
		Short: "Measure a KServe v2 / Triton inference server, perf_analyzer-compatible",
		Long: `perfgo sweeps concurrency or request rate against a server that speaks the
KServe v2 / Open Inference Protocol (Triton, KServe, MLServer, ...) over gRPC or
HTTP, and prints perf_analyzer's report and CSV, measured with HDR histograms.

After perf_analyzer's report comes a summary table per level (--summary table,
markdown or none). --slo judges every reported level on objectives such as
p99<=20ms or throughput>=1000; the table gets a verdict column and the highest
throughput that met them all (max throughput under SLO).

Exit codes: 0 ok, 2 the first level never stabilised, 3 no valid requests in a
window, 4 a reported level had more than --failure-limit percent of failed
requests, 5 an SLO was missed (--slo) or perfgo compare found a regression (the
codes 2, 3, 4, 99 and 130 take precedence), 99 any other error (bad flags
included), 130 interrupted (what was measured is still printed and written: the
first Ctrl-C stops issuing and lets requests in flight finish for at most
--drain-timeout, the second cancels them at once, a third exits without
writing).`,
		Example: `  perfgo -m simple --concurrency-range 1:8:2
  perfgo -m resnet -i grpc -u localhost:8001 -b 4 --percentile 99 -l 50 --concurrency-range 1:0 -f out.csv
  perfgo demo`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.printVersion {
				return printVersion(cmd.OutOrStdout())
			}
			if err := opts.finish(cmd.Flags()); err != nil {
				return err
			}
			opts.abandon = abandon
			return profile(cmd.Context(), opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageErr{err.Error() + " (see perfgo --help)"} })
	opts.bind(root.Flags())
	completeFlagValues(root)
	root.AddCommand(newServeCmd(), newDemoCmd(abandon), newVersionCmd(), newReportCmd(), newCompareCmd(), newExportCmd())
	return root
}

// flagChoices are the values of the flags that have a few, offered by
// the shell completion scripts of cobra's "perfgo completion bash|zsh|fish".
func flagChoices() map[string][]string {
	return map[string][]string{
		"protocol":             {"http", "grpc"},
		"measurement-mode":     {"time_windows", "count_windows"},
		"request-distribution": {"constant", "poisson"},
		"stream-latency":       {"first", "final"},
		"shared-memory":        {"none", "system"},
	}
}

func completeFlagValues(root *cobra.Command) {
	for flag, values := range flagChoices() {
		// It fails only for a flag that does not exist: TestCompletion
		// completes every one of them.
		_ = root.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
}
