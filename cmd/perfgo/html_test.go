package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/htmlreport"
	"github.com/perfgo/perfgo/pkg/htmlreport/htmlcheck"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// readHTML parses an --html report, failing the test on a page that would
// fetch anything from the network.
func readHTML(t *testing.T, path string) *htmlcheck.Page {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pg, err := htmlcheck.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	// htmlcheck leaves out xmlns attributes (the inline SVG's
	// xmlns="http://www.w3.org/2000/svg"): a namespace's name, never fetched.
	if len(pg.External) > 0 || pg.Scripts > 0 {
		t.Errorf("the report fetches %q and has %d scripts; it must work offline", pg.External, pg.Scripts)
	}
	return pg
}

// A real sweep's HTML report has both charts, drawn from the run's
// histograms, and one table row per reported level.
func TestHTMLReport(t *testing.T) {
	srv := servertest.Start(t)
	for _, tc := range []struct {
		name  string
		args  []string
		level string // the levels table's first column
		want  []string
	}{
		{"concurrency", []string{"--concurrency-range", "1:3"}, "Concurrency", []string{"1", "2", "3"}},
		{"request rate", []string{"--request-rate-range", "200:400:200"}, "Rate (req/s)", []string{"200", "400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "report.html")
			args := append([]string{"-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--html", path}, tc.args...)
			code, stdout, stderr := perfgo(t, t.Context(), append(args, anyWindows...)...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			pg := readHTML(t, path)
			for id, title := range map[string]string{"latency-throughput": htmlreport.CurveTitle, "latency-percentiles": htmlreport.DistributionTitle} {
				if c := pg.Charts[id]; !c.SVG || c.Heading != title {
					t.Errorf("chart %s: heading %q, SVG %v; want %q with an SVG", id, c.Heading, c.SVG, title)
				}
			}
			levels := pg.Tables[htmlreport.LevelsTableID]
			if got := levels.Column(tc.level); !slices.Equal(got, tc.want) {
				t.Errorf("levels table column %q = %q, want %q", tc.level, got, tc.want)
			}
			// Every level was drawn from its histogram: no note says otherwise.
			if len(pg.Notes) > 0 {
				t.Errorf("notes %q: a level of a real run was left out of a chart", pg.Notes)
			}
			if !strings.Contains(pg.Stop, "completed") {
				t.Errorf("stop line %q", pg.Stop)
			}
		})
	}
}

// --html is checked before the run like -f; a run that fails before its
// first level still writes a page saying nothing was measured, and why.
func TestHTMLReportPathAndEmptyRun(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "missing", "report.html")
	code, _, stderr := perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "--html", bad)
	if code != exitError || !strings.Contains(stderr, "--html "+bad+": cannot write the report there") {
		t.Errorf("exit %d, stderr %q; want %d naming --html and its path", code, stderr, exitError)
	}
	path := filepath.Join(dir, "report.html")
	if code, _, _ = perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "--html", path); code != exitError {
		t.Fatalf("exit %d against a dead server; want %d", code, exitError)
	}
	pg := readHTML(t, path)
	if pg.Nothing == "" || len(pg.Charts) != 0 || !strings.HasPrefix(pg.Stop, "Stop: error: ") {
		t.Errorf("page: nothing measured %q, %d charts, stop %q; want the empty page with the error", pg.Nothing, len(pg.Charts), pg.Stop)
	}
}
