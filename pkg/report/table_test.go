package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestTableGolden(t *testing.T) {
	cases := map[string]goldenCase{}
	for _, tc := range goldenCases(t) {
		cases[tc.name] = tc
	}
	withSLOs := func(name, mode string, slos ...string) goldenCase {
		tc := cases[name]
		tc.run.Settings.SLOs, tc.run.Settings.SLOMode = slos, mode
		return tc
	}
	withoutLevels := func(tc goldenCase) goldenCase {
		tc.run.Levels = nil
		return tc
	}
	noLevels := withoutLevels(cases["grpc"])
	for _, tc := range []struct {
		golden string
		tc     goldenCase
		format string
	}{
		{"table_grpc.txt", cases["grpc"], FormatTable},
		{"table_grpc.md", cases["grpc"], FormatMarkdown},
		{"table_p99.9_async.txt", cases["p99.9_async"], FormatTable},
		{"table_rate_open_loop.txt", cases["rate_open_loop"], FormatTable},
		{"table_failures.txt", cases["failures"], FormatTable},
		{"table_ensemble.txt", cases["ensemble"], FormatTable},
		{"table_no_server_stats.txt", cases["no_server_stats"], FormatTable},
		{"table_stream_final_p99.9.txt", cases["stream_final_p99.9"], FormatTable},
		{"table_slo_all.txt", withSLOs("grpc", "all", "p99<=1ms", "throughput>=1000"), FormatTable},
		{"table_slo_all.md", withSLOs("grpc", "all", "p99<=1ms", "throughput>=1000"), FormatMarkdown},
		{"table_slo_any_none.txt", withSLOs("grpc", "any", "p50<100us"), FormatTable},
		{"table_slo_open_loop.txt", withSLOs("rate_open_loop", "all", "lag.p99<=1ms", "service.p99<2ms", "errors<=0.1%"), FormatTable},
		{"table_slo_stream_missing.txt", withSLOs("grpc", "all", "first.p99<=1s"), FormatTable},
		{"table_slo_no_levels.txt", withoutLevels(withSLOs("grpc", "all", "p99<=1ms")), FormatTable},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			run := tc.tc.run
			var b bytes.Buffer
			if err := Table(&b, run, TableOptions{Format: tc.format}); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
	t.Run("nothing without levels or SLOs", func(t *testing.T) {
		var b bytes.Buffer
		if err := Table(&b, noLevels.run, TableOptions{Format: FormatTable}); err != nil || b.Len() != 0 {
			t.Errorf("wrote %q, err %v; want nothing", b.String(), err)
		}
	})
}

func TestTableRefuses(t *testing.T) {
	run := paExampleRun()
	for _, tc := range []struct {
		name   string
		edit   func()
		format string
		want   string
	}{
		{"format", func() {}, "html", `table format "html" is unknown`},
		{"SLO", func() { run.Settings.SLOs = []string{"p99<<1ms"} }, FormatTable, "settings SLOs"},
		{"SLO mode", func() { run.Settings.SLOs, run.Settings.SLOMode = []string{"p99<1ms"}, "most" }, FormatTable, `SLO mode "most"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run = paExampleRun()
			tc.edit()
			err := Table(&bytes.Buffer{}, run, TableOptions{Format: tc.format})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if err := Table(errWriter{}, paExampleRun(), TableOptions{Format: FormatTable}); err == nil {
		t.Error("a failing writer gave no error")
	}
}

// TestJSONSLO checks the JSON report's "slo" object and settings: the
// open-loop run's third level misses the lag and service-time objectives,
// and an objective the run cannot measure fails every level with its reason.
func TestJSONSLO(t *testing.T) {
	run := openLoopRun(t)
	run.Settings.SLOs = []string{"lag.p99<=1ms", "service.p99<2ms", "errors<=0.1%", "throughput>=150", "first.p99<1s"}
	run.Settings.SLOMode = "any"
	var b bytes.Buffer
	if err := JSON(&b, run); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "slo_open_loop.json", b.Bytes())

	run.Settings.SLOs = run.Settings.SLOs[:4]
	b.Reset()
	if err := JSON(&b, run); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SLO struct {
			Pass               bool
			MaxThroughput      float64                 `json:"max_throughput"`
			MaxThroughputLevel struct{ Value float64 } `json:"max_throughput_level"`
		}
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.SLO.Pass || doc.SLO.MaxThroughputLevel.Value != 200 || doc.SLO.MaxThroughput != run.Levels[1].Client.Throughput {
		t.Errorf("slo %+v: want a pass with max throughput %v at request rate 200", doc.SLO, run.Levels[1].Client.Throughput)
	}

	run.Settings.SLOs = []string{"p99<<1ms"}
	if err := JSON(&bytes.Buffer{}, run); err == nil || !strings.Contains(err.Error(), "settings slos") {
		t.Errorf("a bad SLO in the settings: err = %v", err)
	}
}
