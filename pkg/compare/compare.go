// Package compare judges a new run against a baseline, level by level,
// against the noise each run shows in its own data.
//
// The rule (also in README.md, "Comparing runs: perfgo compare"):
//
//   - Levels are matched by mode and value (concurrency 4 with concurrency
//     4). A level reported by one run only is listed as such and judged no
//     further.
//   - Per matched level, six metrics: throughput and the latency p50, p90,
//     p95, p99 and average (Client.Latency: from the intended send in open
//     loop). Change = (new − base) / base, in percent.
//   - Each run's noise for a metric is an interval around its value (never
//     below 0), the widest of:
//     the window spread: its last (up to three) windows, the ones its
//     figures merge, and how far the farthest lies from their mean, in
//     percent (perf_analyzer's stability measure); each window's
//     throughput for throughput, each window's stabilising latency (the
//     only latency kept per window) for every latency metric;
//     for a percentile p of n samples, the 99% interval of its rank,
//     p ± 2.576·√(p(1−p)/n), read from the run's HDR histogram (a p99 of
//     50 samples is little more than their maximum); when that interval
//     reaches past the largest sample (a p99 of fewer than about 660
//     samples), the percentile has no upper bound and its band is
//     unbounded: within noise, shown as "too few samples";
//     for the average, ± 2.576 standard deviations / √n.
//   - Band: how far apart the values may be while the two runs' intervals
//     still overlap (the base's upper side plus the new run's lower side
//     when the value rose, the other two when it fell), in percent of the
//     base value.
//   - |change| ≤ band: "within noise", never a regression, whatever the
//     limit. Beyond it: "better" when throughput rose or latency fell;
//     otherwise "regression" when |change| is over the limit
//     (--max-regression), else "worse" (beyond noise, within the limit).
//   - A metric whose base is 0 or not a number cannot be judged: "n/a".
//   - A level the base reported and the new run did not, when the new run
//     stopped early (unstable, over its latency threshold, failed,
//     interrupted), is "lost": the new run could not measure what the
//     base could, which is a regression whatever the limit. When the new
//     run completed its sweep, its range simply left the level out.
package compare

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/perfgo/perfgo/pkg/result"
)

// Verdict is how one metric of one level changed.
type Verdict string

const (
	WithinNoise Verdict = "within noise"
	Better      Verdict = "better"
	Worse       Verdict = "worse"
	Regression  Verdict = "regression"
	// NotJudged: the base value is 0 or not a number, so no change in percent.
	NotJudged Verdict = "n/a"
)

// Presence says which runs reported a level.
type Presence string

const (
	Both     Presence = "both"
	BaseOnly Presence = "base only"
	NewOnly  Presence = "new only"
	// Lost: the base reported the level, the new run stopped before it
	// did (see the package rule): a regression.
	Lost Presence = "lost: the new run stopped before it"
)

// Options say what counts as a regression.
type Options struct {
	// MaxRegression is the largest change, in percent, a metric may get
	// worse beyond the noise band without being a regression.
	MaxRegression float64
}

// Metric is one metric of one level in both runs.
type Metric struct {
	Name string // "throughput", "p50", ..., "avg"
	Unit string // "infer/sec" or "usec"
	Base float64
	New  float64
	// Change is (New − Base) / Base in percent; NaN when not judged.
	Change float64
	// Band is the noise band in percent: base noise + new noise.
	Band    float64
	Verdict Verdict
}

// Level is one load level matched across the runs.
type Level struct {
	Mode     result.Mode
	Value    float64
	Presence Presence
	// Metrics are set when Presence is Both, in the order of metricNames.
	Metrics []Metric
}

// Report is the comparison of two runs.
type Report struct {
	MaxRegression float64
	// Warnings name settings that differ between the runs (model, mode,
	// batch size): the comparison is made anyway.
	Warnings []string
	// Levels are sorted by mode, then value.
	Levels []Level
}

// Regressions lists the regressed metrics as "concurrency 4 p99 +23.1%",
// and the lost levels as "concurrency 8 lost".
func (r Report) Regressions() []string {
	var out []string
	for _, l := range r.Levels {
		if l.Presence == Lost {
			out = append(out, result.LevelName(l.Mode, l.Value)+" lost")
		}
		for _, m := range l.Metrics {
			if m.Verdict == Regression {
				out = append(out, fmt.Sprintf("%s %s %+.1f%%", result.LevelName(l.Mode, l.Value), m.Name, m.Change))
			}
		}
	}
	return out
}

// mergedWindows is how many of a level's last windows its figures merge.
const mergedWindows = 3

// metricNames are the metrics compared, in report order.
var metricNames = [...]string{"throughput", "p50", "p90", "p95", "p99", "avg"}

// Runs compares newRun with base.
func Runs(base, newRun result.Run, o Options) Report {
	rep := Report{MaxRegression: o.MaxRegression, Warnings: settingsWarnings(base.Settings, newRun.Settings)}
	type key struct {
		mode  result.Mode
		value float64
	}
	baseLevels := map[key]result.Level{}
	for _, l := range base.Levels {
		baseLevels[key{l.Mode, l.Value}] = l
	}
	seen := map[key]bool{}
	for _, nl := range newRun.Levels {
		k := key{nl.Mode, nl.Value}
		if seen[k] {
			continue // a binary search may report a value twice; the first counts
		}
		seen[k] = true
		bl, ok := baseLevels[k]
		if !ok {
			rep.Levels = append(rep.Levels, Level{Mode: nl.Mode, Value: nl.Value, Presence: NewOnly})
			continue
		}
		rep.Levels = append(rep.Levels, Level{Mode: nl.Mode, Value: nl.Value, Presence: Both, Metrics: compareLevel(bl, nl, o)})
	}
	only := BaseOnly
	if newRun.Stop != result.StopCompleted {
		only = Lost
	}
	for _, bl := range base.Levels {
		k := key{bl.Mode, bl.Value}
		if !seen[k] {
			seen[k] = true
			rep.Levels = append(rep.Levels, Level{Mode: bl.Mode, Value: bl.Value, Presence: only})
		}
	}
	slices.SortStableFunc(rep.Levels, func(a, b Level) int {
		if c := cmp.Compare(a.Mode, b.Mode); c != 0 {
			return c
		}
		return cmp.Compare(a.Value, b.Value)
	})
	return rep
}

func settingsWarnings(b, n result.Settings) []string {
	var w []string
	if b.Model != n.Model {
		w = append(w, fmt.Sprintf("the runs measured different models (%q, %q)", b.Model, n.Model))
	}
	if b.Mode != n.Mode {
		w = append(w, fmt.Sprintf("the runs used different modes (%s, %s)", b.Mode, n.Mode))
	}
	if b.BatchSize != n.BatchSize {
		w = append(w, fmt.Sprintf("the runs used different batch sizes (%d, %d)", b.BatchSize, n.BatchSize))
	}
	return w
}

// figure is one metric of one run at one level, with how far below (lo)
// and above (hi) its value the run's noise reaches, in the metric's unit.
type figure struct {
	value, lo, hi float64
}

// z is the normal quantile of the 99% intervals for percentiles and the
// average: two such intervals of a metric that did not change overlap
// far more often than 99 times in 100.
const z = 2.576

// levelFigures are a level's metrics in metricNames order.
func levelFigures(l result.Level) [len(metricNames)]figure {
	var thr, lat []float64
	for _, p := range l.Passes[max(0, len(l.Passes)-mergedWindows):] {
		thr = append(thr, p.Throughput)
		lat = append(lat, float64(p.Latency))
	}
	thrSpread, latSpread := spread(thr)/100, spread(lat)/100
	d := &l.Client.Latency
	us := func(v time.Duration) float64 { return float64(v) / float64(time.Microsecond) }
	// One import of the histogram for the level's 13 percentiles; runs come
	// from report.ReadJSON, which decodes every histogram, so none is corrupt.
	qs := result.Quantiles{D: d}
	at := func(p float64) float64 {
		v, _, _ := qs.At(p)
		return us(v)
	}
	out := [len(metricNames)]figure{{l.Client.Throughput, thrSpread * l.Client.Throughput, thrSpread * l.Client.Throughput}}
	for i, p := range []float64{50, 90, 95, 99} {
		v := at(p)
		f := figure{v, latSpread * v, latSpread * v}
		if d.Hist != nil && d.Count > 0 {
			// The order statistics around p: with n samples, the rank of
			// the true p-th percentile is known to ±z·√(n·q·(1−q)).
			q := p / 100
			half := z * math.Sqrt(q*(1-q)/float64(d.Count))
			f.lo = max(f.lo, v-at(100*max(0, q-half)))
			if q+half > 1 {
				// The interval reaches past the largest sample: too few
				// samples to bound this percentile from above.
				f.hi = math.Inf(1)
			} else {
				f.hi = max(f.hi, at(100*(q+half))-v)
			}
		}
		out[1+i] = f
	}
	mean := us(d.Mean)
	avg := figure{mean, latSpread * mean, latSpread * mean}
	if d.Count > 0 {
		se := z * us(d.StdDev) / math.Sqrt(float64(d.Count))
		avg.lo, avg.hi = max(avg.lo, se), max(avg.hi, se)
	}
	out[5] = avg
	// Neither throughput nor latency goes below 0, however wide the spread.
	for i := range out {
		out[i].lo = min(out[i].lo, max(out[i].value, 0))
	}
	return out
}

// spread is how far the farthest value lies from the mean, in percent of
// the mean; 0 with fewer than two values or a mean that is not positive.
func spread(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	if !(mean > 0) || math.IsInf(mean, 0) {
		return 0
	}
	var far float64
	for _, x := range xs {
		far = max(far, math.Abs(x-mean))
	}
	return 100 * far / mean
}

func compareLevel(base, newLevel result.Level, o Options) []Metric {
	bf, nf := levelFigures(base), levelFigures(newLevel)
	out := make([]Metric, 0, len(metricNames))
	for i, name := range metricNames {
		m := Metric{Name: name, Unit: "usec", Base: bf[i].value, New: nf[i].value}
		higherIsBetter := name == "throughput"
		if higherIsBetter {
			m.Unit = "infer/sec"
		}
		m.Change, m.Band, m.Verdict = judge(bf[i], nf[i], higherIsBetter, o.MaxRegression)
		out = append(out, m)
	}
	return out
}

// judge applies the package's rule to one metric: change and band in
// percent of the base value, and the verdict.
func judge(base, newFig figure, higherIsBetter bool, limit float64) (change, band float64, v Verdict) {
	b, n := base.value, newFig.value
	if b == 0 || math.IsNaN(b) || math.IsInf(b, 0) || math.IsNaN(n) || math.IsInf(n, 0) {
		return math.NaN(), math.NaN(), NotJudged
	}
	change = 100 * (n - b) / b
	// The sides of the two runs' noise that face each other: the band is
	// where their intervals still overlap.
	if n >= b {
		band = 100 * (base.hi + newFig.lo) / math.Abs(b)
	} else {
		band = 100 * (base.lo + newFig.hi) / math.Abs(b)
	}
	switch {
	case math.Abs(change) <= band:
		return change, band, WithinNoise
	case (change > 0) == higherIsBetter:
		return change, band, Better
	case math.Abs(change) > limit:
		return change, band, Regression
	}
	return change, band, Worse
}
