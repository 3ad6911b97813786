package htmlreport_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"go.uber.org/goleak"

	"github.com/perfgo/perfgo/pkg/htmlreport"
	"github.com/perfgo/perfgo/pkg/htmlreport/htmlcheck"
	"github.com/perfgo/perfgo/pkg/result"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// expDist is a distribution of n latencies at the quantiles of an
// exponential distribution with the given mean, shifted by base: the same
// values every run, shaped like a real service's latencies.
func expDist(t testing.TB, n int, base, mean time.Duration) result.Distribution {
	t.Helper()
	h := hdrhistogram.New(1000, int64(60*time.Second), 3)
	var sum float64
	for i := range n {
		u := (float64(i) + 0.5) / float64(n)
		v := base + time.Duration(-math.Log(1-u)*float64(mean))
		if err := h.RecordValue(int64(v)); err != nil {
			t.Fatal(err)
		}
		sum += float64(v)
	}
	return result.Distribution{
		Count: h.TotalCount(), Mean: time.Duration(sum / float64(n)), StdDev: time.Duration(h.StdDev()),
		Min: time.Duration(h.Min()), Max: time.Duration(h.Max()), Hist: h.Export(),
	}
}

// quantileDist is a hand-built distribution: cached percentiles, no histogram.
func quantileDist(p50, p90, p95, p99 time.Duration) result.Distribution {
	return result.Distribution{Count: 100, Mean: p50, Quantiles: []result.Quantile{
		{Percentile: 50, Value: p50}, {Percentile: 90, Value: p90}, {Percentile: 95, Value: p95}, {Percentile: 99, Value: p99}}}
}

func stat(count uint64, avg time.Duration) result.Stat {
	return result.Stat{Count: count, Ns: count * uint64(avg)}
}

// closedRun is a concurrency sweep of a server with 4 instances of 4 ms:
// throughput flattens from concurrency 4 on while latency climbs.
func closedRun(t testing.TB) result.Run {
	r := result.Run{Settings: result.Settings{
		Model: "delay", Version: "1", Protocol: "grpc", URL: "127.0.0.1:8001", BatchSize: 1,
		Mode: result.Concurrency, MeasurementMode: "time_windows", MeasurementInterval: 500 * time.Millisecond,
		StabilityPercentage: 10, MaxTrials: 10, RangeStart: 1, RangeEnd: 6, RangeStep: 1,
		LatencyOrigin: "send", ServerStats: true,
	}}
	for c := 1; c <= 6; c++ {
		queue := time.Duration(max(0, c-4)) * 4 * time.Millisecond
		lat := expDist(t, 2000*min(c, 4), 4*time.Millisecond+queue, time.Duration(c)*300*time.Microsecond)
		n := uint64(lat.Count)
		r.Levels = append(r.Levels, result.Level{
			Mode: result.Concurrency, Value: float64(c), Windows: 3, Stable: true,
			Client: result.ClientStats{Requests: n, Inferences: n, Duration: 1500 * time.Millisecond,
				Throughput: float64(n) / 1.5, Latency: lat},
			Server: &result.ServerStats{Model: "delay", Version: "1", InferenceCount: n, ExecutionCount: n,
				Success: stat(n, lat.Mean), Queue: stat(n, queue),
				ComputeInput: stat(n, 10*time.Microsecond), ComputeInfer: stat(n, 4*time.Millisecond), ComputeOutput: stat(n, 5*time.Microsecond)},
			Total: result.Counts{Requests: n},
		})
	}
	return r
}

// openRun is a request-rate sweep whose last level falls behind its schedule.
func openRun(t testing.TB) result.Run {
	r := result.Run{Settings: result.Settings{
		Model: "simple", Protocol: "http", URL: "127.0.0.1:8000", BatchSize: 1, Mode: result.RequestRate,
		MeasurementMode: "time_windows", MeasurementInterval: time.Second, StabilityPercentage: 10,
		RangeStart: 100, RangeEnd: 300, RangeStep: 100, Distribution: "poisson", LatencyOrigin: "intended",
	}}
	for i, rate := range []float64{100, 200, 300} {
		lat := expDist(t, int(rate)*3, time.Millisecond, time.Duration(i+1)*time.Millisecond)
		svc := expDist(t, int(rate)*3, time.Millisecond, 500*time.Microsecond)
		lag := expDist(t, int(rate)*3, 20*time.Microsecond, time.Duration(i*i)*time.Millisecond+time.Microsecond)
		n := uint64(lat.Count)
		r.Levels = append(r.Levels, result.Level{
			Mode: result.RequestRate, Value: rate, Windows: 3, Stable: true,
			Client: result.ClientStats{Requests: n, Inferences: n, Duration: 3 * time.Second, Throughput: float64(n) / 3,
				Latency: lat, ServiceTime: &svc, ScheduleLag: &lag, SendRate: rate, Issued: n},
			Failures: []result.ClassCount{{Class: "http:503", Count: uint64(i)}},
			Total:    result.Counts{Requests: n, Failed: uint64(i)},
		})
	}
	return r
}

func render(t *testing.T, r result.Run) (string, *htmlcheck.Page) {
	t.Helper()
	var buf bytes.Buffer
	if err := htmlreport.Write(&buf, r); err != nil {
		t.Fatal(err)
	}
	pg, err := htmlcheck.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.External) > 0 || pg.Scripts > 0 {
		t.Errorf("the page fetches from the network %q or has %d scripts", pg.External, pg.Scripts)
	}
	return buf.String(), pg
}

// TestGolden pins the page of a fixed run: gonum's SVG output is
// deterministic, so the bytes are too. Look at a change in a browser
// (make html-screenshot) before running with -update.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(testing.TB) result.Run
	}{{"closed", closedRun}, {"open", openRun}} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := render(t, tc.run(t))
			path := filepath.Join("testdata", tc.name+".html")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("the page differs from %s (run with -update after checking it in a browser)", path)
			}
			if again, _ := render(t, tc.run(t)); again != got {
				t.Error("two renders of the same run differ")
			}
		})
	}
}

func TestStructure(t *testing.T) {
	oneLevel := closedRun(t)
	oneLevel.Levels = oneLevel.Levels[:1]

	nothing := closedRun(t)
	nothing.Levels = nil
	nothing.Stop, nothing.StopMessage = result.StopError, "server 127.0.0.1:8001: connection refused"

	noHist := closedRun(t)
	noHist.Levels = noHist.Levels[:2]
	for i := range noHist.Levels {
		d := time.Duration(i+1) * time.Millisecond
		noHist.Levels[i].Client.Latency = quantileDist(d, 2*d, 3*d, 4*d)
		noHist.Levels[i].Server = nil
	}

	mixed := closedRun(t)
	mixed.Levels = mixed.Levels[:3]
	mixed.Levels[1].Client.Latency = quantileDist(time.Millisecond, 2*time.Millisecond, 3*time.Millisecond, 4*time.Millisecond)
	mixed.Levels[2].Client.Latency = result.Distribution{} // nothing to draw at all

	stream := closedRun(t)
	stream.Levels = stream.Levels[:2]
	stream.Settings.Streaming, stream.Settings.StreamLatency = true, "first"
	for i := range stream.Levels {
		c := &stream.Levels[i].Client
		c.Stream = &result.StreamStats{First: c.Latency, Between: quantileDist(time.Millisecond, 2*time.Millisecond, 3*time.Millisecond, 5*time.Millisecond), Final: c.Latency, PerRequest: 16}
	}

	unreported := closedRun(t)
	unreported.Unreported = unreported.Levels[4:]
	unreported.Levels = unreported.Levels[:4]
	unreported.Stop, unreported.StopMessage = result.StopUnstable, "Failed to obtain stable measurement."

	onlyUnreported := unreported
	onlyUnreported.Levels = nil

	open := openRun(t)

	percentile := closedRun(t)
	percentile.Settings.Percentile = 99.9

	allCharts := []string{"latency-throughput", "latency-percentiles"}
	for _, tc := range []struct {
		name       string
		run        result.Run
		rows       int // rows of the reported levels' table (0: no table)
		unreported int
		charts     []string
		nothing    string
		stop       string
		head       []string // columns that must be there
		noHead     []string // columns that must not
		notes      []string // substrings of the notes
		cell       map[string]string
	}{
		{name: "six levels", run: closedRun(t), rows: 6, charts: allCharts, stop: "completed",
			head:   []string{"Concurrency", "Throughput (infer/s)", "p50 (ms)", "p90 (ms)", "p95 (ms)", "p99 (ms)", "Failed", "Server queue (ms)", "Server compute (ms)"},
			noHead: []string{"Send rate (req/s)", "First response p50 (ms)"},
			cell:   map[string]string{"Concurrency": "1"}},
		{name: "one level", run: oneLevel, rows: 1, charts: allCharts, stop: "completed"},
		{name: "zero levels", run: nothing, nothing: "Nothing was measured: the run reported no level.", stop: "error: server 127.0.0.1:8001: connection refused"},
		{name: "no histograms", run: noHist, rows: 2, charts: allCharts[:1], stop: "completed",
			noHead: []string{"Server queue (ms)"},
			notes:  []string{"Not in the percentile chart (no histogram): concurrency 1, concurrency 2."},
			cell:   map[string]string{"p99 (ms)": "4.000"}},
		{name: "some without histograms", run: mixed, rows: 3, charts: allCharts, stop: "completed",
			notes: []string{"Not in the throughput chart (no latency percentiles): concurrency 3.",
				"Not in the percentile chart (no histogram): concurrency 2, concurrency 3."}},
		{name: "open loop", run: open, rows: 3, charts: allCharts, stop: "completed",
			head:   []string{"Rate (req/s)", "Send rate (req/s)", "Service p99 (ms)", "Schedule lag p99 (ms)", "Failed"},
			noHead: []string{"Concurrency", "Server queue (ms)"},
			cell:   map[string]string{"Rate (req/s)": "100", "Failed": "0"}},
		{name: "streaming", run: stream, rows: 2, charts: allCharts, stop: "completed",
			head: []string{"First response p50 (ms)", "First response p99 (ms)", "Between responses p50 (ms)", "Between responses p99 (ms)"},
			cell: map[string]string{"Between responses p99 (ms)": "5.000"}},
		{name: "unreported levels", run: unreported, rows: 4, unreported: 2, charts: allCharts,
			stop: "unstable: Failed to obtain stable measurement."},
		{name: "only unreported levels", run: onlyUnreported, unreported: 2, nothing: "No level was reported: the levels measured are listed below.",
			stop: "unstable: Failed to obtain stable measurement."},
		{name: "stabilising percentile", run: percentile, rows: 6, charts: allCharts, stop: "completed",
			head: []string{"p99 (ms)", "p99.9 (ms)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, pg := render(t, tc.run)
			if pg.Nothing != tc.nothing {
				t.Errorf("page says %q of no level, want %q", pg.Nothing, tc.nothing)
			}
			if want := "Stop: " + tc.stop; pg.Stop != want {
				t.Errorf("stop line %q, want %q", pg.Stop, want)
			}
			var charts []string
			for id, c := range pg.Charts {
				if !c.SVG || c.Heading == "" {
					t.Errorf("chart %s: heading %q, SVG %v", id, c.Heading, c.SVG)
				}
				charts = append(charts, id)
			}
			slices.Sort(charts)
			want := slices.Sorted(slices.Values(tc.charts))
			if !slices.Equal(charts, want) {
				t.Errorf("charts %v, want %v", charts, want)
			}
			levels, ok := pg.Tables[htmlreport.LevelsTableID]
			if ok != (tc.rows > 0) || len(levels.Rows) != tc.rows {
				t.Errorf("levels table present %v with %d rows, want %d rows", ok, len(levels.Rows), tc.rows)
			}
			if got := len(pg.Tables[htmlreport.UnreportedTableID].Rows); got != tc.unreported {
				t.Errorf("unreported table has %d rows, want %d", got, tc.unreported)
			}
			for _, h := range tc.head {
				if levels.Column(h) == nil {
					t.Errorf("no column %q in %q", h, levels.Head)
				}
			}
			for _, h := range tc.noHead {
				if levels.Column(h) != nil {
					t.Errorf("column %q should not be in %q", h, levels.Head)
				}
			}
			for h, v := range tc.cell {
				if col := levels.Column(h); len(col) == 0 || col[0] != v {
					t.Errorf("column %q starts %q, want %q", h, col, v)
				}
			}
			for _, n := range tc.notes {
				if !slices.Contains(pg.Notes, n) {
					t.Errorf("no note %q in %q", n, pg.Notes)
				}
			}
		})
	}
}

// TestChartContents checks what a reader needs to read the charts: axis
// labels with units, the nines ticks, a legend entry per level and a point
// label per level.
func TestChartContents(t *testing.T) {
	_, pg := render(t, closedRun(t))
	curve := pg.Charts["latency-throughput"]
	nines := pg.Charts["latency-percentiles"]
	if curve.Heading != htmlreport.CurveTitle || nines.Heading != htmlreport.DistributionTitle {
		t.Errorf("headings %q and %q", curve.Heading, nines.Heading)
	}
	for _, w := range []string{"Throughput (inferences/s)", "Latency (ms)", "p50 latency", "p99 latency", "c=1", "c=6"} {
		if !slices.Contains(curve.Texts, w) {
			t.Errorf("throughput chart has no text %q: %q", w, curve.Texts)
		}
	}
	for _, w := range []string{"Latency (ms)", "50%", "90%", "99%", "99.9%", "99.99%", "concurrency 1", "concurrency 6"} {
		if !slices.Contains(nines.Texts, w) {
			t.Errorf("percentile chart has no text %q: %q", w, nines.Texts)
		}
	}
}

func TestSettings(t *testing.T) {
	got, pg := render(t, openRun(t))
	if pg.Title != "perfgo: simple" {
		t.Errorf("title %q", pg.Title)
	}
	for _, w := range []string{"request rate (open loop, poisson)", "100:300:100", "http 127.0.0.1:8000", "windows of 1s", "intended send time"} {
		if !strings.Contains(got, w) {
			t.Errorf("settings lack %q", w)
		}
	}
}

func TestEscapes(t *testing.T) {
	r := closedRun(t)
	r.Settings.Model = `<script>alert("x")</script>`
	r.Stop, r.StopMessage = result.StopError, `<img src="http://example.com/x.png">`
	_, pg := render(t, r) // render fails the test on a script or an external reference
	if !strings.Contains(pg.Stop, `<img src=`) {
		t.Errorf("stop message not shown as text: %q", pg.Stop)
	}
}

func TestCorruptHistogram(t *testing.T) {
	r := closedRun(t)
	r.Levels[2].Client.Latency.Hist.SignificantFigures = 9
	err := htmlreport.Write(&bytes.Buffer{}, r)
	if err == nil || !strings.Contains(err.Error(), "concurrency 3: latency: histogram snapshot is invalid") {
		t.Errorf("error %v, want one naming the level and the invalid histogram", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if err := htmlreport.Write(failingWriter{}, closedRun(t)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error %v, want the writer's", err)
	}
}

// FuzzWrite feeds odd numbers (NaN, infinities, negative or huge values)
// where a run read back from a hand-edited JSON could have them: the page
// is written or an error returned, never a panic or a hang.
func FuzzWrite(f *testing.F) {
	f.Add(1.0, 100.0, int64(time.Millisecond), int64(2*time.Millisecond), uint8(3), true)
	f.Add(math.NaN(), math.Inf(1), int64(-5), int64(math.MaxInt64), uint8(1), false)
	f.Add(1e300, -1e300, int64(0), int64(0), uint8(2), true)
	f.Fuzz(func(t *testing.T, value, throughput float64, p50, p99 int64, levels uint8, open bool) {
		r := result.Run{Settings: result.Settings{Model: "m", Protocol: "grpc", Mode: result.Concurrency}}
		if open {
			r.Settings.Mode = result.RequestRate
		}
		for i := range int(levels % 8) {
			d := quantileDist(time.Duration(p50), time.Duration(p50), time.Duration(p99), time.Duration(p99))
			lag := quantileDist(time.Duration(p99), 0, 0, time.Duration(p50))
			r.Levels = append(r.Levels, result.Level{Mode: r.Settings.Mode, Value: value * float64(i+1),
				Client: result.ClientStats{Throughput: throughput * float64(i), Latency: d, ScheduleLag: &lag}})
		}
		var buf bytes.Buffer
		if err := htmlreport.Write(&buf, r); err != nil {
			return
		}
		if _, err := htmlcheck.Parse(&buf); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLinearTickLabels(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []string
	}{
		{0, 150, []string{"0", "25", "50", "75", "100", "125", "150"}},
		{0, 14.6, []string{"0.0", "2.5", "5.0", "7.5", "10.0", "12.5", "15.0"}},
		{0, 1.2, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2"}},
		{1000, 6000, []string{"1000", "2000", "3000", "4000", "5000", "6000"}},
		{-3, 3, []string{"-3", "-2", "-1", "0", "1", "2", "3"}},
	} {
		var got []string
		for _, tick := range htmlreport.LinearTicks(tc.lo, tc.hi) {
			if tick.Label != "" {
				got = append(got, tick.Label)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ticks of [%v, %v]: %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
}

// A long sweep's legend fits: the percentile chart grows taller with it.
func TestLongSweepLegend(t *testing.T) {
	r := closedRun(t)
	base := r.Levels[0]
	r.Levels = nil
	for c := 1; c <= 40; c++ {
		l := base
		l.Value = float64(c)
		r.Levels = append(r.Levels, l)
	}
	_, pg := render(t, r)
	nines := pg.Charts["latency-percentiles"]
	if !slices.Contains(nines.Texts, "concurrency 40") {
		t.Errorf("no legend entry for the 40th level")
	}
	// Forty point labels would overlap: every fourth is drawn, and the last.
	curveTexts := pg.Charts["latency-throughput"].Texts
	for c, want := range map[int]bool{1: true, 2: false, 5: true, 37: true, 39: false, 40: true} {
		if got := slices.Contains(curveTexts, fmt.Sprintf("c=%d", c)); got != want {
			t.Errorf("point label c=%d drawn: %v, want %v", c, got, want)
		}
	}
	if curve := pg.Charts["latency-throughput"]; curve.Height != "420pt" || nines.Height == "420pt" {
		t.Errorf("chart heights %s and %s; want the percentile chart taller than 420pt for 40 legend entries", curve.Height, nines.Height)
	}
	if rows := len(pg.Tables[htmlreport.LevelsTableID].Rows); rows != 40 {
		t.Errorf("%d rows, want 40", rows)
	}
}

// TestEnsembleServerTimes: an ensemble's queue and compute are its
// composing models' sums, as perf_analyzer's server block and the summary
// table show them, not the ensemble's own (empty) counters.
func TestEnsembleServerTimes(t *testing.T) {
	r := closedRun(t)
	r.Levels = r.Levels[:1]
	l := &r.Levels[0]
	n := l.Client.Requests
	step := func(name string, queue, compute time.Duration) result.ServerStats {
		return result.ServerStats{Model: name, Version: "1", Success: stat(n, queue+compute), Queue: stat(n, queue),
			ComputeInput: stat(n, 0), ComputeInfer: stat(n, compute), ComputeOutput: stat(n, 0)}
	}
	l.Server = &result.ServerStats{Model: "ensemble", Version: "1", Success: stat(n, 5*time.Millisecond),
		Composing: []result.ServerStats{step("pre", 100*time.Microsecond, 200*time.Microsecond), step("delay", 1*time.Millisecond, 3*time.Millisecond)}}
	_, pg := render(t, r)
	tbl := pg.Tables[htmlreport.LevelsTableID]
	col := func(name string) string {
		i := slices.Index(tbl.Head, name)
		if i < 0 || len(tbl.Rows) != 1 {
			t.Fatalf("table head %v, %d rows: want %q and one row", tbl.Head, len(tbl.Rows), name)
		}
		return tbl.Rows[0][i]
	}
	if q, c := col("Server queue (ms)"), col("Server compute (ms)"); q != "1.100" || c != "3.200" {
		t.Errorf("server queue %s ms, compute %s ms; want the steps' sums 1.100 and 3.200", q, c)
	}
}
