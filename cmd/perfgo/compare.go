package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfgo/perfgo/pkg/compare"
)

// compareOptions are the flags of `perfgo compare`.
type compareOptions struct {
	basePath, newPath string
	maxRegression     string
	format            string
}

// compareFormatNames are the outputs `perfgo compare --format` offers.
func compareFormatNames() []string { return []string{"table", "markdown", "json"} }

func compareFormat(name string) func(io.Writer, compare.Report) error {
	switch name {
	case "table":
		return compare.Table
	case "markdown":
		return compare.Markdown
	case "json":
		return compare.JSON
	}
	return nil
}

func newCompareCmd() *cobra.Command {
	var o compareOptions
	cmd := &cobra.Command{
		Use:   "compare BASE.json NEW.json",
		Short: "Compare a run with a baseline, level by level, judged against each run's noise",
		Long: `perfgo compare reads two runs saved with --json and, for each load level both
reported (matched by mode and value), the change of throughput and of latency
p50, p90, p95, p99 and average, in percent.

Each change is judged against noise. A run's noise for a metric is the widest
of: how far its farthest merged window (the last three) lies from their mean;
for a percentile, the 99% interval of its rank in the run's HDR histogram
("too few samples" when that reaches past the largest sample); for the
average, 2.576 standard errors. The band is how far apart the values may be
while the two runs' intervals still overlap. Within the band: "within noise",
never a regression. Beyond it: "better", or "worse" when within
--max-regression, or "regression" when over it. A level in one run only is
listed as such, except one the base reported and a new run that stopped early
did not: that level is lost, a regression.

Any regression: a one-line verdict on stderr and exit code 5. Runs of
different models, modes or batch sizes are compared with a warning.`,
		Example: `  perfgo compare base.json new.json
  perfgo compare base.json new.json --max-regression 10% --format markdown >> "$GITHUB_STEP_SUMMARY"`,
		Args:          cobra.ExactArgs(2),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.basePath, o.newPath = args[0], args[1]
			return runCompare(&o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.maxRegression, "max-regression", "5%", "largest change beyond noise, in percent, that is not a regression")
	f.StringVar(&o.format, "format", "table", "output: "+strings.Join(compareFormatNames(), ", "))
	return cmd
}

// parsePercent reads "5%" or "5" as 5.
func parsePercent(flag, v string) (float64, error) {
	p, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), "%"), 64)
	if err != nil || math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
		return 0, usagef("%s %q is not a percentage; give one such as 5%% or 2.5", flag, v)
	}
	return p, nil
}

// maxListed is how many regressed metrics the verdict line names.
const maxListed = 4

func runCompare(o *compareOptions, stdout, stderr io.Writer) error {
	limit, err := parsePercent("--max-regression", o.maxRegression)
	if err != nil {
		return err
	}
	render := compareFormat(o.format)
	if render == nil {
		return usagef("--format %q is unknown; use one of %s", o.format, strings.Join(compareFormatNames(), ", "))
	}
	base, err := readRun(o.basePath)
	if err != nil {
		return err
	}
	newRun, err := readRun(o.newPath)
	if err != nil {
		return err
	}
	if len(base.Levels) == 0 && len(newRun.Levels) == 0 {
		return fmt.Errorf("neither %s nor %s has a reported level (runs stopped: %s, %s): nothing to compare; measure again", o.basePath, o.newPath, base.Stop, newRun.Stop)
	}
	rep := compare.Runs(base, newRun, compare.Options{MaxRegression: limit})
	for _, w := range rep.Warnings {
		fmt.Fprintf(stderr, "warning: %s: compared anyway\n", w)
	}
	if err := render(stdout, rep); err != nil {
		return err
	}
	regressed := rep.Regressions()
	if len(regressed) == 0 {
		fmt.Fprintf(stderr, "perfgo compare: no regression beyond the runs' noise and %s%%\n", formatLimit(limit))
		return nil
	}
	listed := strings.Join(regressed[:min(len(regressed), maxListed)], ", ")
	if n := len(regressed) - maxListed; n > 0 {
		listed += fmt.Sprintf(" and %d more", n)
	}
	line := fmt.Sprintf("perfgo compare: REGRESSION: %d finding(s) worse by more than %s%% beyond the runs' noise, or levels lost: %s", len(regressed), formatLimit(limit), listed)
	fmt.Fprintln(stderr, line)
	return &exitErr{code: exitGate, err: errors.New(line), shown: true}
}

func formatLimit(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }
