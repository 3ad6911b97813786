package report

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"go.uber.org/goleak"

	"github.com/perfgo/perfgo/pkg/result"
)

var update = flag.Bool("update", false, "rewrite the generated golden files in testdata/ (never those in testdata/reference/)")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// micro is n µs plus extra ns; the extra stays below 1 µs so that outputs
// prove truncation rather than rounding.
func micro(n int64, extraNs ...int64) time.Duration {
	d := time.Duration(n) * time.Microsecond
	for _, e := range extraNs {
		d += time.Duration(e)
	}
	return d
}

// stat builds a cumulative stat whose average is exactly avgUs µs.
func stat(count uint64, avgUs uint64) result.Stat {
	return result.Stat{Count: count, Ns: count * avgUs * 1000}
}

// server builds non-ensemble server stats from per-request averages in µs.
func server(count uint64, request, queue, in, infer, out uint64) *result.ServerStats {
	return &result.ServerStats{
		Model: "simple", Version: "1",
		InferenceCount: count, ExecutionCount: count,
		Success:      stat(count, request),
		Queue:        stat(count, queue),
		ComputeInput: stat(count, in), ComputeInfer: stat(count, infer), ComputeOutput: stat(count, out),
	}
}

// dist builds a latency distribution with cached p50/p90/p95/p99.
func dist(mean, sd time.Duration, p50, p90, p95, p99 time.Duration) result.Distribution {
	return result.Distribution{
		Count: 1000, Mean: mean, StdDev: sd, Min: p50 / 2, Max: p99 * 2,
		Quantiles: []result.Quantile{{Percentile: 50, Value: p50}, {Percentile: 90, Value: p90}, {Percentile: 95, Value: p95}, {Percentile: 99, Value: p99}},
	}
}

// histDist builds a distribution backed by a real HDR histogram of the
// given values (ns), as the load engine produces it.
func histDist(t testing.TB, values ...time.Duration) result.Distribution {
	t.Helper()
	h := hdrhistogram.New(1000, int64(60*time.Second), 3)
	var sum time.Duration
	for _, v := range values {
		if err := h.RecordValue(int64(v)); err != nil {
			t.Fatalf("record %v: %v", v, err)
		}
		sum += v
	}
	return result.Distribution{
		Count: int64(len(values)), Mean: sum / time.Duration(len(values)),
		StdDev: time.Duration(h.StdDev()), Min: time.Duration(h.Min()), Max: time.Duration(h.Max()),
		Hist: h.Export(),
	}
}

// paExampleSettings are the settings of the reference's §2.4 run:
// HTTP, sync, --concurrency-range 1:3, 5000 ms windows, average latency.
func paExampleSettings() result.Settings {
	return result.Settings{
		Model: "simple", Protocol: "http", URL: "localhost:8000", ServiceKind: "TRITON",
		BatchSize: 1, Mode: result.Concurrency,
		MeasurementMode: "time_windows", MeasurementInterval: 5 * time.Second,
		StabilityPercentage: 10, MaxTrials: 10,
		RangeStart: 1, RangeEnd: 3, RangeStep: 1,
		LatencyOrigin: "send", ServerStats: true,
		FailureLimit: 1, DrainTimeout: 2 * time.Second,
	}
}

// mergedWindows is how many windows a fixture level's Client merges.
const mergedWindows = 3

// setPasses fills a level's Passes, Windows and Total as the engine does:
// the earlier (unmerged) windows given, then the merged windows, which
// split the level's Client figures evenly (remainders in the last one).
// Failures by class are left to the caller.
func setPasses(l *result.Level, earlier ...result.Pass) {
	c := l.Client
	l.Passes = append([]result.Pass(nil), earlier...)
	per := c.Duration / mergedWindows
	for i := range mergedWindows {
		p := result.Pass{
			Duration: per,
			Requests: c.Requests / mergedWindows, Failed: c.Failed / mergedWindows,
			Issued: c.Issued / mergedWindows, Late: c.Late / mergedWindows,
			Latency: c.Latency.Mean, ServerStats: l.Server != nil,
		}
		if i == mergedWindows-1 {
			p.Requests += c.Requests % mergedWindows
			p.Failed += c.Failed % mergedWindows
			p.Issued += c.Issued % mergedWindows
			p.Late += c.Late % mergedWindows
		}
		p.Throughput = float64(p.Requests) / per.Seconds()
		l.Passes = append(l.Passes, p)
	}
	l.Windows = len(l.Passes)
	l.Total = result.Counts{}
	for _, p := range l.Passes {
		l.Total.Requests += p.Requests
		l.Total.Failed += p.Failed
	}
}

// paExampleRun is the reference's §2.4 example as result data. Sub-µs
// extras on client times check truncation; each level is 3 × 6 s windows.
func paExampleRun() result.Run {
	type spec struct {
		conc                       float64
		reqs                       uint64
		mean, sd                   int64
		p50, p90, p95, p99         int64
		reqTime, send, recv        int64
		srvCount                   uint64
		srvReq, queue, in, inf, ou uint64
	}
	specs := []spec{
		{1, 21600, 829, 112, 812, 951, 1004, 1187, 821, 70, 25, 21598, 512, 30, 22, 405, 17},
		{2, 38889, 925, 140, 903, 1071, 1133, 1342, 917, 71, 26, 38886, 611, 104, 23, 426, 17},
		{3, 41422, 1303, 201, 1276, 1524, 1610, 1893, 1295, 72, 27, 41420, 980, 470, 23, 428, 17},
	}
	run := result.Run{Settings: paExampleSettings(), Stop: result.StopCompleted}
	for _, s := range specs {
		dur := 18 * time.Second
		run.Levels = append(run.Levels, result.Level{
			Mode: result.Concurrency, Value: s.conc, Windows: 3, Stable: true,
			Client: result.ClientStats{
				Requests: s.reqs, Inferences: s.reqs, Duration: dur,
				Throughput: float64(s.reqs) / dur.Seconds(),
				Latency: dist(micro(s.mean, 500), micro(s.sd, 900),
					micro(s.p50, 700), micro(s.p90, 700), micro(s.p95, 700), micro(s.p99, 700)),
				RequestTime: micro(s.reqTime, 500), Send: micro(s.send, 100), Recv: micro(s.recv, 100),
			},
			Server: server(s.srvCount, s.srvReq, s.queue, s.in, s.inf, s.ou),
		})
		setPasses(&run.Levels[len(run.Levels)-1])
	}
	return run
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	compareText(t, path, got, want)
}

// compareText reports the first differing line, with trailing spaces made
// visible, since they are part of perf_analyzer's format.
func compareText(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s: line %d differs\n got: %q\nwant: %q\n(got %d lines, want %d)", what, i+1, g, w, len(gl), len(wl))
		}
	}
	t.Fatalf("%s: output differs", what)
}

// errWriter fails every write.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

// metricsRun is the reference run with --collect-metrics and two --metric
// families: two GPUs (one with a label value needing escapes in CSV), a
// counter, a gauge, a histogram, an absent family and a summary.
func metricsRun() result.Run {
	run := paExampleRun()
	run.Levels = run.Levels[:2]
	run.Settings.RangeEnd = 2
	run.Settings.Metrics = &result.MetricsSettings{URL: "http://localhost:8002/metrics", Interval: time.Second,
		Families: []string{"nv_inference_request_success", "nv_inference_pending_request_count", "lat", "absent", "sum"}}
	nan := math.NaN()
	for i := range run.Levels {
		f := float64(i + 1)
		run.Levels[i].Metrics = &result.Metrics{
			Scrapes: 15, Span: 14 * time.Second,
			GPUs: []result.GPUMetrics{
				{UUID: "GPU-0a1b", Utilization: 0.4 * f, PowerWatts: 150.25, MemoryUsedBytes: 3000000 * uint64(i+1), MemoryTotalBytes: 16000000000},
				{UUID: "GPU-ff", Utilization: 0.0123456789, PowerWatts: 60, MemoryUsedBytes: 1, MemoryTotalBytes: 2},
			},
			Families: []result.MetricFamily{
				{Name: "nv_inference_request_success", Type: result.MetricCounter, Series: []result.MetricSeries{
					{Labels: `{model="simple",version="1"}`, Rate: 1200 * f, Mean: nan, Max: nan, P50: nan, P90: nan, P99: nan},
					{Labels: `{model="a,b;\"c\"",version="1"}`, Rate: 0, Mean: nan, Max: nan, P50: nan, P90: nan, P99: nan},
				}},
				{Name: "nv_inference_pending_request_count", Type: result.MetricGauge, Series: []result.MetricSeries{
					{Labels: "", Rate: nan, Mean: 0.5 * f, Max: 3, P50: nan, P90: nan, P99: nan},
				}},
				{Name: "lat", Type: result.MetricHistogram, Series: []result.MetricSeries{
					{Labels: `{le_group="x"}`, Rate: nan, Mean: nan, Max: nan, P50: 0.001, P90: 0.0025, P99: nan},
				}},
				{Name: "absent"},
				{Name: "sum", Type: "summary"},
			},
		}
	}
	return run
}
