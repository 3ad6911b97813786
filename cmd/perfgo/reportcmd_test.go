package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/htmlreport/htmlcheck"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReportRerendersRun: a saved run renders the run's own -f CSV (plain
// and verbose), its stdout report and its JSON again, byte for byte, for
// runs of every kind: closed and open loop, HTTP and gRPC, streams,
// sequences.
func TestReportRerendersRun(t *testing.T) {
	srv := servertest.Start(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		args    []string
		verbose bool
	}{
		{"grpc p95", []string{"-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--concurrency-range", "1:2", "--percentile", "95"}, false},
		{"grpc verbose csv", []string{"-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--concurrency-range", "1:2"}, true},
		{"http open loop", []string{"-m", "simple", "-i", "http", "-u", srv.HTTPAddr, "--request-rate-range", "100:200:100"}, true},
		{"stream", []string{"-m", "generate", "-i", "grpc", "-u", srv.GRPCAddr, "--concurrency-range", "2", "--string-data", "a prompt", "--percentile", "99.9"}, true},
		{"sequence", []string{"-m", "sequence", "-i", "grpc", "-u", srv.GRPCAddr, "--concurrency-range", "2", "--sequence-id-range", "100:110"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "_")
			csvPath := filepath.Join(dir, name+".csv")
			jsonPath := filepath.Join(dir, name+".json")
			args := append(append(tc.args, "-f", csvPath, "--json", jsonPath), anyWindows...)
			reportArgs := []string{"report", jsonPath, "--format", "csv"}
			if tc.verbose {
				args = append(args, "--verbose-csv")
				reportArgs = append(reportArgs, "--verbose-csv")
			}
			code, runStdout, stderr := perfgo(t, context.Background(), args...)
			if code != 0 {
				t.Fatalf("run: exit %d\n%s\n%s", code, runStdout, stderr)
			}

			code, stdout, stderr := perfgo(t, context.Background(), reportArgs...)
			if code != 0 || stderr != "" {
				t.Fatalf("report: exit %d, stderr %q", code, stderr)
			}
			if want := readFile(t, csvPath); stdout != want {
				t.Errorf("report --format csv\n%s\nwant the run's -f file\n%s", stdout, want)
			}

			out := filepath.Join(dir, name+".again.json")
			if code, _, stderr := perfgo(t, context.Background(), "report", jsonPath, "--format", "json", "-o", out); code != 0 {
				t.Fatalf("report json: exit %d: %s", code, stderr)
			}
			if got, want := readFile(t, out), readFile(t, jsonPath); got != want {
				t.Errorf("report --format json -o differs from the run's --json file")
			}

			// The live report adds nothing to the finished run's text:
			// perf_analyzer's part, a blank line, the summary table.
			code, pa, stderr := perfgo(t, context.Background(), "report", jsonPath)
			if code != 0 {
				t.Fatalf("report pa: exit %d: %s", code, stderr)
			}
			code, table, stderr := perfgo(t, context.Background(), "report", jsonPath, "--format", "table")
			if code != 0 {
				t.Fatalf("report table: exit %d: %s", code, stderr)
			}
			if got := pa + "\n" + table; got != runStdout {
				t.Errorf("report --format pa, then table\n%s\nwant the run's stdout\n%s", got, runStdout)
			}
			code, md, _ := perfgo(t, context.Background(), "report", jsonPath, "--format", "markdown")
			if code != 0 || !strings.HasPrefix(md, "| ") {
				t.Errorf("report --format markdown: exit %d\n%s", code, md)
			}
			page := filepath.Join(dir, name+".html")
			if code, _, stderr := perfgo(t, context.Background(), "report", jsonPath, "--format", "html", "-o", page); code != 0 {
				t.Fatalf("report html: exit %d: %s", code, stderr)
			}
			pg, err := htmlcheck.Parse(strings.NewReader(readFile(t, page)))
			if err != nil || len(pg.Charts) != 2 || len(pg.External) != 0 {
				t.Errorf("report --format html: %v, %d charts, external references %v; want 2 and none", err, len(pg.Charts), pg.External)
			}
		})
	}
}

func TestReportErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notJSON := write("run.csv", "Concurrency,Inferences/Second\n1,100\n")
	otherSchema := write("other.json", `{"schema": "perfgo.report/v9"}`)
	valid := write("valid.json", `{"schema": "perfgo.report/v1", "stop": {"reason": "completed"}}`)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"report", filepath.Join(dir, "nope.json")}, "nope.json: cannot read it (no such file or directory); give the file a run wrote with --json"},
		{"not json", []string{"report", notJSON}, "run.csv: report: read json: not valid JSON"},
		{"wrong schema", []string{"report", otherSchema}, `schema is "perfgo.report/v9"; this perfgo reads "perfgo.report/v1"`},
		{"unknown format", []string{"report", valid, "--format", "xml"}, `--format "xml" is unknown; use one of csv, html, json, markdown, pa, table`},
		{"no file", []string{"report"}, "accepts 1 arg(s), received 0"},
		{"bad output", []string{"report", valid, "--format", "json", "-o", filepath.Join(dir, "no", "such", "dir.csv")}, "cannot write the report there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := perfgo(t, context.Background(), tc.args...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want none", stdout)
			}
			if !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line with %q", stderr, tc.want)
			}
		})
	}
}

func TestReportOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want reportOptions
	}{
		{[]string{"run.json"}, reportOptions{path: "run.json", format: "pa"}},
		{[]string{"run.json", "--format", "csv", "--verbose-csv", "-o", "out.csv"}, reportOptions{path: "run.json", format: "csv", output: "out.csv", verboseCSV: true}},
		{[]string{"--format", "pa", "-v", "run.json"}, reportOptions{path: "run.json", format: "pa", verbose: true}},
	} {
		var got reportOptions
		cmd := newReportCmdWith(func(o *reportOptions, _ io.Writer) error { got = *o; return nil })
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if got != tc.want {
			t.Errorf("%q: options %+v, want %+v", tc.args, got, tc.want)
		}
	}
}
