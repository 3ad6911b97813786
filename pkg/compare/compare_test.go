package compare

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/result"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// level builds a concurrency level whose throughput is thr and whose
// latency percentiles are lat, 1.2 lat, 1.4 lat, 2 lat (average lat),
// with three windows spread ±spreadPct around them (one window low, one
// at the mean, one high).
func level(value, thr float64, lat time.Duration, spreadPct float64) result.Level {
	q := func(p float64, f float64) result.Quantile {
		return result.Quantile{Percentile: p, Value: time.Duration(float64(lat) * f)}
	}
	l := result.Level{
		Mode: result.Concurrency, Value: value, Windows: 3, Stable: true,
		Client: result.ClientStats{
			Throughput: thr,
			Latency: result.Distribution{
				Count: 1000, Mean: lat,
				Quantiles: []result.Quantile{q(50, 1), q(90, 1.2), q(95, 1.4), q(99, 2)},
			},
		},
	}
	for _, f := range []float64{1 - spreadPct/100, 1, 1 + spreadPct/100} {
		l.Passes = append(l.Passes, result.Pass{Throughput: thr * f, Latency: time.Duration(float64(lat) * f)})
	}
	return l
}

func runOf(levels ...result.Level) result.Run {
	return result.Run{Settings: result.Settings{Model: "delay", Mode: result.Concurrency, BatchSize: 1}, Levels: levels}
}

// verdicts are a compared level's verdicts in metric order.
func verdicts(l Level) []Verdict {
	var v []Verdict
	for _, m := range l.Metrics {
		v = append(v, m.Verdict)
	}
	return v
}

func all(v Verdict) []Verdict {
	return []Verdict{v, v, v, v, v, v}
}

func TestRule(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name      string
		base, new result.Level
		want      []Verdict
	}{
		// Each run ±2%: band 4%. A 3% change is noise however bad.
		{"within noise", level(1, 1000, 10*ms, 2), level(1, 970, 10300*time.Microsecond, 2), all(WithinNoise)},
		{"better", level(1, 1000, 10*ms, 2), level(1, 1200, 8*ms, 2), all(Better)},
		// 4% band, 5% limit: 4.5% worse is beyond noise, within the limit.
		{"worse within limit", level(1, 1000, 10*ms, 2), level(1, 955, 10450*time.Microsecond, 2), all(Worse)},
		{"regression", level(1, 1000, 10*ms, 2), level(1, 800, 13*ms, 2), all(Regression)},
		// A noisy baseline (±10%) hides a 15% slowdown: within noise.
		{"noisy runs are not regressions", level(1, 1000, 10*ms, 10), level(1, 870, 11500*time.Microsecond, 6), all(WithinNoise)},
		// No window spread at all: every change beyond 0 is judged by the limit.
		{"single window", func() result.Level { l := level(1, 1000, 10*ms, 0); l.Passes = l.Passes[:1]; return l }(),
			level(1, 1000, 10600*time.Microsecond, 0), append([]Verdict{WithinNoise}, Regression, Regression, Regression, Regression, Regression)},
		{"base of zero", level(1, 0, 0, 0), level(1, 1000, 10*ms, 0), all(NotJudged)},
		// Throughput and latency are judged apart: more throughput at a
		// worse p99 is both.
		{"mixed", level(1, 1000, 10*ms, 1), func() result.Level {
			l := level(1, 1100, 10*ms, 1)
			l.Client.Latency.Quantiles[3].Value = 30 * ms
			return l
		}(), []Verdict{Better, WithinNoise, WithinNoise, WithinNoise, Regression, WithinNoise}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := Runs(runOf(tc.base), runOf(tc.new), Options{MaxRegression: 5})
			if len(rep.Levels) != 1 || rep.Levels[0].Presence != Both {
				t.Fatalf("levels %+v, want one in both runs", rep.Levels)
			}
			if got := verdicts(rep.Levels[0]); !slices.Equal(got, tc.want) {
				t.Errorf("verdicts %v, want %v\n%+v", got, tc.want, rep.Levels[0].Metrics)
			}
			wantRegressed := slices.Contains(tc.want, Regression)
			if got := len(rep.Regressions()) > 0; got != wantRegressed {
				t.Errorf("regressions %v, want any: %v", rep.Regressions(), wantRegressed)
			}
		})
	}
}

// histLevel is a level whose latency histogram holds the n quantiles of
// lat plus an exponential of mean lat: a tail whose top samples lie far
// apart, as real latency tails do.
func histLevel(t *testing.T, n int, lat time.Duration) result.Level {
	t.Helper()
	h := hdrhistogram.New(1000, int64(time.Minute), 3)
	for i := range n {
		u := (float64(i) + 0.5) / float64(n)
		v := lat + time.Duration(-math.Log(1-u)*float64(lat))
		if err := h.RecordValue(int64(v)); err != nil {
			t.Fatal(err)
		}
	}
	l := level(1, 1000, lat, 1)
	l.Client.Latency = result.Distribution{Count: int64(n), Mean: time.Duration(h.Mean()), StdDev: time.Duration(h.StdDev()), Hist: h.Export()}
	return l
}

// TestPercentileSampleSize: the same 30% rise of the p99 is noise with
// 60 samples (their p99 is their maximum: no upper bound, an unbounded
// band) and a regression with 100,000.
func TestPercentileSampleSize(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want Verdict
	}{{60, WithinNoise}, {100_000, Regression}} {
		base := histLevel(t, tc.n, 10*time.Millisecond)
		slower := histLevel(t, tc.n, 13*time.Millisecond)
		p99 := Runs(runOf(base), runOf(slower), Options{MaxRegression: 5}).Levels[0].Metrics[4]
		if p99.Name != "p99" || p99.Verdict != tc.want || math.IsInf(p99.Band, 1) != (tc.n == 60) {
			t.Errorf("%d samples: p99 %+v, want %s", tc.n, p99, tc.want)
		}
	}
}

func TestBandAndChange(t *testing.T) {
	rep := Runs(runOf(level(1, 1000, 10*time.Millisecond, 2)), runOf(level(1, 900, 10*time.Millisecond, 3)), Options{MaxRegression: 5})
	thr := rep.Levels[0].Metrics[0]
	// Throughput fell: the base's lower side (2% of 1000) and the new
	// run's upper side (3% of 900) face each other: 47 of 1000.
	if thr.Name != "throughput" || math.Abs(thr.Change-(-10)) > 1e-9 || math.Abs(thr.Band-4.7) > 1e-9 {
		t.Errorf("throughput %+v, want change -10%% in a band of 4.7%%", thr)
	}
	p99 := rep.Levels[0].Metrics[4]
	if p99.Name != "p99" || p99.Base != 20000 || p99.Unit != "usec" {
		t.Errorf("p99 %+v, want 20000 usec", p99)
	}
}

// TestBandStopsAtZero: a base whose windows spread over 100% (one stalled
// window) has an interval down to 0, not below: the band of a fall is
// 100% plus the new run's upper side, and any fall is within that noise.
func TestBandStopsAtZero(t *testing.T) {
	base := level(1, 100, 50*time.Millisecond, 0)
	base.Passes[2].Latency = 500 * time.Millisecond // windows 50, 50, 500 ms: 200% from their mean
	rep := Runs(runOf(base), runOf(level(1, 100, 5*time.Millisecond, 0)), Options{MaxRegression: 5})
	if avg := rep.Levels[0].Metrics[5]; avg.Verdict != WithinNoise || avg.Band != 100 {
		t.Errorf("avg %+v, want within noise, band 100%%", avg)
	}
}

func TestLevelsMatchedByModeAndValue(t *testing.T) {
	ms := time.Millisecond
	base := runOf(level(1, 1000, ms, 1), level(2, 1900, ms, 1), level(4, 3000, ms, 1))
	newRun := runOf(level(4, 3000, ms, 1), level(1, 1000, ms, 1), level(8, 3100, ms, 1))
	rate := level(4, 3000, ms, 1)
	rate.Mode = result.RequestRate
	newRun.Levels = append(newRun.Levels, rate)
	rep := Runs(base, newRun, Options{MaxRegression: 5})
	type got struct {
		mode     result.Mode
		value    float64
		presence Presence
	}
	var levels []got
	for _, l := range rep.Levels {
		levels = append(levels, got{l.Mode, l.Value, l.Presence})
	}
	want := []got{
		{result.Concurrency, 1, Both}, {result.Concurrency, 2, BaseOnly}, {result.Concurrency, 4, Both},
		{result.Concurrency, 8, NewOnly}, {result.RequestRate, 4, NewOnly},
	}
	if !slices.Equal(levels, want) {
		t.Errorf("levels %v\nwant %v", levels, want)
	}
	if len(rep.Regressions()) != 0 {
		t.Errorf("a level missing from one run is no regression: %v", rep.Regressions())
	}

	// The same levels, but the new run stopped early: concurrency 2, which
	// the base measured, is lost, and that is a regression.
	for _, stop := range []result.StopReason{result.StopUnstable, result.StopLatencyThreshold, result.StopError, result.StopCancelled} {
		newRun.Stop = stop
		rep := Runs(base, newRun, Options{MaxRegression: 5})
		if r := rep.Regressions(); !slices.Equal(r, []string{"concurrency 2 lost"}) {
			t.Errorf("new run stopped %v: regressions %v, want concurrency 2 lost", stop, r)
		}
	}
}

func TestSettingsWarnings(t *testing.T) {
	base := runOf(level(1, 1000, time.Millisecond, 1))
	other := runOf(level(1, 1000, time.Millisecond, 1))
	other.Settings.Model, other.Settings.BatchSize, other.Settings.Mode = "simple", 4, result.RequestRate
	rep := Runs(base, other, Options{MaxRegression: 5})
	want := []string{
		`the runs measured different models ("delay", "simple")`,
		"the runs used different modes (concurrency, request_rate)",
		"the runs used different batch sizes (1, 4)",
	}
	if !slices.Equal(rep.Warnings, want) {
		t.Errorf("warnings %q\nwant %q", rep.Warnings, want)
	}
	if len(rep.Levels) != 1 || rep.Levels[0].Presence != Both {
		t.Errorf("still compared: %+v", rep.Levels)
	}
	if w := Runs(base, base, Options{}).Warnings; len(w) != 0 {
		t.Errorf("same settings: warnings %q", w)
	}
}

func TestRenderGolden(t *testing.T) {
	ms := time.Millisecond
	base := runOf(level(1, 1000, 10*ms, 2), level(2, 1900, 11*ms, 2), level(4, 3000, 14*ms, 1))
	newRun := runOf(level(1, 990, 10100*time.Microsecond, 2), level(2, 1500, 15*ms, 2), level(8, 3100, 25*ms, 1))
	rep := Runs(base, newRun, Options{MaxRegression: 5})
	rep.Levels[0].Metrics[0].Base = 0 // a base of zero: n/a, null in JSON
	rep.Levels[0].Metrics[0].Change, rep.Levels[0].Metrics[0].Band, rep.Levels[0].Metrics[0].Verdict = math.NaN(), math.NaN(), NotJudged
	for _, tc := range []struct {
		file   string
		render func(*bytes.Buffer) error
	}{
		{"report.table", func(b *bytes.Buffer) error { return Table(b, rep) }},
		{"report.md", func(b *bytes.Buffer) error { return Markdown(b, rep) }},
		{"report.json", func(b *bytes.Buffer) error { return JSON(b, rep) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.render(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs:\n%s\nwant:\n%s", path, b.Bytes(), want)
			}
		})
	}
}
