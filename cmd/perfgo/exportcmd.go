package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/perfgo/perfgo/pkg/export"
)

// exportCheckOptions are `perfgo export check`'s.
type exportCheckOptions struct {
	path    string
	runJSON string // --json: the run's own report to check the counts against
}

func newExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Read a profile export (--profile-export-file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("perfgo export: give a subcommand: check FILE (see perfgo export --help)")
		},
	}
	cmd.AddCommand(newExportCheckCmd(func(o *exportCheckOptions, stdout io.Writer) error { return exportCheck(o, stdout) }))
	return cmd
}

func newExportCheckCmd(runF func(*exportCheckOptions, io.Writer) error) *cobra.Command {
	o := &exportCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a profile export's structure and print its counts per experiment",
		Long: `perfgo export check reads a profile export as it streams by (bounded memory,
whatever its size) and checks its structure: perf_analyzer's keys in their
order, every request sent before its responses, responses in order, one output
object per response, window boundaries ascending, nothing after the document.
It prints each experiment's requests and responses. With --json RUN.json (the
same run's --json report) it also checks that each level's windowed requests
are in its experiment and that the export holds exactly the run's successful
requests: its windows', those outside windows (drained) and up to
--warmup-request-count warm-up ones.

Exit codes: 0 the export is sound, 99 with one line naming the first problem.`,
		Example: `  perfgo export check export.json
  perfgo export check export.json --json run.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			return runF(o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.runJSON, "json", "", "the run's own --json report: check the export's counts against it")
	return cmd
}

func exportCheck(o *exportCheckOptions, stdout io.Writer) error {
	f, err := os.Open(o.path)
	if err != nil {
		return fmt.Errorf("export %s: %v", o.path, unwrapPath(err))
	}
	defer f.Close()
	sum, err := export.Check(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return fmt.Errorf("export %s: %w", o.path, err)
	}
	if o.runJSON != "" {
		rc, err := readRunCounts(o.runJSON)
		if err != nil {
			return err
		}
		if err := sum.Against(rc); err != nil {
			return fmt.Errorf("export %s against %s: %w", o.path, o.runJSON, err)
		}
	}
	fmt.Fprintf(stdout, "%s: %s, %d experiments, %d requests\n", o.path, sum.Version, len(sum.Experiments), sum.Requests())
	for i, e := range sum.Experiments {
		fmt.Fprintf(stdout, "experiment %d: %s %v: %d requests, %d responses, %d windows\n", i+1, e.Mode, e.Value, e.Requests, e.Responses, e.Windows)
	}
	return nil
}

// readRunCounts reads the run's --json report (report.ReadJSON) for the
// counts an export is checked against.
func readRunCounts(path string) (export.RunCounts, error) {
	run, err := readRun(path)
	if err != nil {
		return export.RunCounts{}, fmt.Errorf("--json %w", err)
	}
	rc := export.RunCounts{Outside: run.Drained.Requests, Warmup: uint64(max(run.Settings.WarmupRequests, 0))}
	for _, l := range append(run.Levels, run.Unreported...) {
		rc.Levels = append(rc.Levels, export.LevelCount{Mode: export.Mode(l.Mode), Value: l.Value, Requests: l.Total.Requests})
	}
	return rc, nil
}
