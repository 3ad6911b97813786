package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfgo/perfgo/pkg/htmlreport"
	"github.com/perfgo/perfgo/pkg/report"
	"github.com/perfgo/perfgo/pkg/result"
)

// reportOptions are the flags of `perfgo report`.
type reportOptions struct {
	path       string
	format     string
	output     string
	verboseCSV bool
	verbose    bool
}

// renderer writes one view of a saved run.
type renderer func(w io.Writer, run result.Run, o *reportOptions) error

// reportFormats are the views `perfgo report --format` offers, by name.
func reportFormats() map[string]renderer {
	return map[string]renderer{
		"pa": func(w io.Writer, run result.Run, o *reportOptions) error { return report.Text(w, run, o.verbose) },
		"csv": func(w io.Writer, run result.Run, o *reportOptions) error {
			return report.CSV(w, run, report.CSVOptions{Verbose: o.verboseCSV})
		},
		"json": func(w io.Writer, run result.Run, _ *reportOptions) error { return report.JSON(w, run) },
		report.FormatTable: func(w io.Writer, run result.Run, _ *reportOptions) error {
			return report.Table(w, run, report.TableOptions{Format: report.FormatTable})
		},
		report.FormatMarkdown: func(w io.Writer, run result.Run, _ *reportOptions) error {
			return report.Table(w, run, report.TableOptions{Format: report.FormatMarkdown})
		},
		"html": func(w io.Writer, run result.Run, _ *reportOptions) error { return htmlreport.Write(w, run) },
	}
}

func formatNames() string {
	return strings.Join(slices.Sorted(maps.Keys(reportFormats())), ", ")
}

func newReportCmd() *cobra.Command {
	return newReportCmdWith(runReport)
}

// newReportCmdWith lets a test check the parsed options without I/O.
func newReportCmdWith(runF func(o *reportOptions, stdout io.Writer) error) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report RUN.json",
		Short: "Render a run saved with --json again: perf_analyzer's text, CSV, JSON, tables, HTML",
		Long: `perfgo report reads a run saved with --json and writes one of its reports, as the
run itself would have: pa (perf_analyzer's stdout report), csv (the -f file;
--verbose-csv as in the run), json, table or markdown (the summary table after
perf_analyzer's report, with the SLO verdict when the run had --slo), or html
(the --html page). The saved JSON keeps everything measured, so a report can be
made later, from another machine, without measuring again.`,
		Example: `  perfgo -m simple --concurrency-range 1:4 --json run.json
  perfgo report run.json --format csv -o run.csv
  perfgo report run.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  perfgo report run.json --format html -o run.html`,
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			if _, ok := reportFormats()[o.format]; !ok {
				return usagef("--format %q is unknown; use one of %s", o.format, formatNames())
			}
			return runF(&o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "pa", "report to write: "+formatNames())
	f.StringVarP(&o.output, "output", "o", "", "write the report to this file instead of stdout")
	f.BoolVar(&o.verboseCSV, "verbose-csv", false, "csv: add perf_analyzer's verbose CSV columns")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "pa: perf_analyzer's verbose client lines")
	return cmd
}

func runReport(o *reportOptions, stdout io.Writer) error {
	run, err := readRun(o.path)
	if err != nil {
		return err
	}
	// Rendered in memory first: a run that cannot be rendered leaves an
	// existing -o file as it was.
	var b bytes.Buffer
	if err := reportFormats()[o.format](&b, run, o); err != nil {
		return fmt.Errorf("%s: %w", o.path, err)
	}
	if o.output == "" {
		_, err := stdout.Write(b.Bytes())
		return err
	}
	if err := os.WriteFile(o.output, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("-o %s: cannot write the report there (%v); give a path in a writable directory", o.output, unwrapPath(err))
	}
	return nil
}

// readRun reads a run saved with --json.
func readRun(path string) (result.Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return result.Run{}, fmt.Errorf("%s: cannot read it (%v); give the file a run wrote with --json", path, unwrapPath(err))
	}
	defer f.Close()
	run, err := report.ReadJSON(f)
	if err != nil {
		return result.Run{}, fmt.Errorf("%s: %w", path, err)
	}
	return run, nil
}
