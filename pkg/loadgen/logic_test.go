package loadgen

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/result"
)

func TestStable(t *testing.T) {
	inf := math.Inf(1)
	ms := float64(time.Millisecond)
	tests := []struct {
		name    string
		windows []sample
		pct     float64
		want    bool
	}{
		{"no windows", nil, 10, false},
		{"two windows", []sample{{100, ms, 0}, {100, ms, 0}}, 10, false},
		{"three equal", []sample{{100, ms, 0}, {100, ms, 0}, {100, ms, 0}}, 10, true},
		{"throughput within 10%", []sample{{100, ms, 0}, {110, ms, 0}, {105, ms, 0}}, 10, true},
		{"throughput just over", []sample{{100, ms, 0}, {110.1, ms, 0}, {105, ms, 0}}, 10, false},
		{"latency within", []sample{{100, ms, 0}, {100, 1.1 * ms, 0}, {100, ms, 0}}, 10, true},
		{"latency over", []sample{{100, ms, 0}, {100, 1.11 * ms, 0}, {100, ms, 0}}, 10, false},
		{"zero throughput", []sample{{100, ms, 0}, {0, inf, 0}, {100, ms, 0}}, 10, false},
		{"only last three count", []sample{{1, 9 * ms, 0}, {100, ms, 0}, {100, ms, 0}, {100, ms, 0}}, 10, true},
		{"old failure forgotten", []sample{{0, inf, 0}, {100, ms, 0}, {100, ms, 0}, {100, ms, 0}}, 10, true},
		{"zero percent needs equality", []sample{{100, ms, 0}, {100, ms, 0}, {100, ms, 0}}, 0, true},
		{"zero percent, tiny spread", []sample{{100, ms, 0}, {100.001, ms, 0}, {100, ms, 0}}, 0, false},
		{"zero latencies", []sample{{100, 0, 0}, {100, 0, 0}, {100, 0, 0}}, 10, true},
		{"zero and non-zero latency", []sample{{100, 0, 0}, {100, ms, 0}, {100, ms, 0}}, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stable(tt.windows, tt.pct); got != tt.want {
				t.Errorf("stable(%v, %v) = %v; want %v", tt.windows, tt.pct, got, tt.want)
			}
		})
	}
}

func TestThroughputStable(t *testing.T) {
	ms := float64(time.Millisecond)
	if !throughputStable([]sample{{100, ms, 0}, {105, 5 * ms, 0}, {100, 9 * ms, 0}}, 10) {
		t.Error("steady throughput with moving latency: want stable")
	}
	if throughputStable([]sample{{100, ms, 0}, {150, ms, 0}, {100, ms, 0}}, 10) {
		t.Error("moving throughput: want unstable")
	}
	if throughputStable([]sample{{100, ms, 0}, {100, ms, 0}}, 10) {
		t.Error("two windows: want unstable")
	}
}

func TestOverThreshold(t *testing.T) {
	ms := float64(time.Millisecond)
	tests := []struct {
		windows   []sample
		threshold time.Duration
		want      bool
	}{
		{[]sample{{100, 9 * ms, 0}}, 0, false},
		{[]sample{{100, ms, 0}, {100, 2 * ms, 0}}, 2 * time.Millisecond, true},
		{[]sample{{100, ms, 0}, {100, 1.9 * ms, 0}}, 2 * time.Millisecond, false},
		{[]sample{{100, 5 * ms, 0}, {100, ms, 0}, {100, ms, 0}, {100, ms, 0}}, 2 * time.Millisecond, false},
		{[]sample{{0, math.Inf(1), 0}}, 2 * time.Millisecond, true},
	}
	for _, tt := range tests {
		if got := overThreshold(tt.windows, tt.threshold); got != tt.want {
			t.Errorf("overThreshold(%v, %v) = %v; want %v", tt.windows, tt.threshold, got, tt.want)
		}
	}
}

func TestSweep(t *testing.T) {
	tests := []struct {
		name             string
		start, end, step float64
		integer, binary  bool
		pass             func(float64) bool
		want             []float64
	}{
		{"linear all pass", 1, 4, 1, true, false, nil, []float64{1, 2, 3, 4}},
		{"linear step 2", 1, 8, 2, true, false, nil, []float64{1, 3, 5, 7}},
		{"linear single", 3, 3, 1, true, false, nil, []float64{3}},
		{"linear stops at first fail", 1, 10, 1, true, false, below(3), []float64{1, 2, 3, 4}},
		{"open-ended until fail", 2, 0, 2, true, false, below(7), []float64{2, 4, 6, 8}},
		{"float steps reach the end", 0.1, 0.3, 0.1, false, false, nil, []float64{0.1, 0.2, 0.30000000000000004}},
		{"binary", 1, 16, 1, true, true, below(5), []float64{1, 16, 8, 4, 6, 5}},
		{"binary start fails", 4, 16, 1, true, true, below(2), []float64{4}},
		{"binary end passes", 1, 16, 1, true, true, below(99), []float64{1, 16}},
		{"binary coarse step", 1, 16, 4, true, true, below(5), []float64{1, 16, 8, 4}},
		{"binary float", 10, 20, 2.5, false, true, below(13), []float64{10, 20, 15, 12.5}},
		{"binary adjacent", 4, 5, 1, true, true, below(4), []float64{4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pass := tt.pass
			if pass == nil {
				pass = func(float64) bool { return true }
			}
			s := newSweep(tt.start, tt.end, tt.step, tt.integer, tt.binary)
			var got []float64
			for v, ok := s.next(); ok && len(got) < 50; v, ok = s.next() {
				got = append(got, v)
				s.report(pass(v))
			}
			if !slices.EqualFunc(got, tt.want, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
				t.Errorf("probes %v; want %v", got, tt.want)
			}
		})
	}
}

func below(limit float64) func(float64) bool { return func(v float64) bool { return v <= limit } }

func stat(model, version string, queue, success uint64) *inferencepb.ModelStatistics {
	d := func(c uint64) *inferencepb.StatisticDuration {
		return &inferencepb.StatisticDuration{Count: c, Ns: c * 1000}
	}
	return &inferencepb.ModelStatistics{
		Name: model, Version: version, InferenceCount: success * 2, ExecutionCount: success,
		InferenceStats: &inferencepb.InferStatistics{
			Success: d(success), Queue: d(queue), ComputeInput: d(success), ComputeInfer: d(success), ComputeOutput: d(success),
		},
	}
}

func stats(ms ...*inferencepb.ModelStatistics) *inferencepb.ModelStatisticsResponse {
	return &inferencepb.ModelStatisticsResponse{ModelStats: ms}
}

func TestStatsDelta(t *testing.T) {
	tests := []struct {
		name        string
		prev, cur   *inferencepb.ModelStatisticsResponse
		version     string
		wantVersion string
		wantSuccess uint64
		wantSeveral bool
	}{
		{"one version", stats(stat("m", "1", 10, 10)), stats(stat("m", "1", 25, 25)), "", "1", 15, false},
		{"the version that moved", stats(stat("m", "1", 10, 10), stat("m", "2", 5, 5)),
			stats(stat("m", "1", 17, 17), stat("m", "2", 5, 5)), "", "1", 7, false},
		{"highest of several moved", stats(stat("m", "2", 1, 1), stat("m", "10", 1, 1)),
			stats(stat("m", "2", 4, 4), stat("m", "10", 3, 3)), "", "10", 2, true},
		{"none moved: highest", stats(stat("m", "9", 1, 1), stat("m", "10", 1, 1)),
			stats(stat("m", "9", 1, 1), stat("m", "10", 1, 1)), "", "10", 0, false},
		{"version given", stats(stat("m", "1", 1, 1), stat("m", "2", 1, 1)),
			stats(stat("m", "1", 9, 9), stat("m", "2", 3, 3)), "2", "2", 2, false},
		{"other models ignored", stats(stat("x", "1", 1, 1), stat("m", "1", 1, 1)),
			stats(stat("x", "1", 99, 99), stat("m", "1", 4, 4)), "", "1", 3, false},
		{"server restarted", stats(stat("m", "1", 100, 100)), stats(stat("m", "1", 6, 6)), "", "1", 6, false},
		{"new version", stats(), stats(stat("m", "3", 4, 4)), "", "3", 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, several := statsDelta(tt.prev, tt.cur, "m", tt.version)
			if d == nil {
				t.Fatal("no delta")
			}
			if d.Version != tt.wantVersion || d.Success.Count != tt.wantSuccess || several != tt.wantSeveral {
				t.Errorf("version %s, success %d, several %v; want %s, %d, %v", d.Version, d.Success.Count, several, tt.wantVersion, tt.wantSuccess, tt.wantSeveral)
			}
			if d.Success.Ns != d.Success.Count*1000 || d.InferenceCount != 2*d.Success.Count || d.ComputeInfer != d.Success {
				t.Errorf("delta %+v is inconsistent", d)
			}
		})
	}
	if d, _ := statsDelta(stats(), stats(stat("x", "1", 1, 1)), "m", ""); d != nil {
		t.Errorf("delta for a missing model: %+v; want nil", d)
	}
}

func TestNormalize(t *testing.T) {
	ok := func(*Options) {}
	nc := func(int) (Caller, error) { return nil, nil }
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string
	}{
		{"defaults", ok, ""},
		{"no caller", func(o *Options) { o.NewCaller = nil }, "NewCaller"},
		{"bad mode", func(o *Options) { o.Mode = "burst" }, `unknown load mode "burst"`},
		{"fractional concurrency", func(o *Options) { o.Start = 1.5 }, "not a whole number"},
		{"end below start", func(o *Options) { o.Start, o.End = 4, 2 }, "below its start"},
		{"open-ended without threshold", func(o *Options) { o.End = 0 }, "needs a latency threshold"},
		{"open-ended with threshold", func(o *Options) { o.End, o.LatencyThreshold = 0, time.Second }, ""},
		{"binary without threshold", func(o *Options) { o.BinarySearch = true }, "binary search needs"},
		{"negative rate", func(o *Options) { o.Mode, o.Start = result.RequestRate, -1 }, "range start -1"},
		{"NaN stability", func(o *Options) { o.StabilityPercentage = math.NaN() }, "stability percentage"},
		{"percentile over 100", func(o *Options) { o.Percentile = 101 }, "percentile 101"},
		{"fractional percentile", func(o *Options) { o.Percentile = 99.9 }, ""},
		{"bad window mode", func(o *Options) { o.MeasurementMode = "windows" }, "unknown measurement mode"},
		{"bad distribution", func(o *Options) { o.Mode, o.Distribution = result.RequestRate, "posson" }, `unknown request distribution "posson"`},
		{"intervals without gaps", func(o *Options) { o.Mode = result.Intervals }, "no request intervals"},
		{"stats without model", func(o *Options) { o.Stats = fakeStats{} }, "model name"},
		{"negative counts", func(o *Options) { o.RequestCount = -1 }, "request counts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Start: 1, End: 1, NewCaller: nc}
			tt.edit(&o)
			n, err := o.normalize()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v; want none", err)
				}
				if n.MaxTrials != 10 || n.MeasurementInterval != 5*time.Second || n.MeasurementMode != TimeWindows || n.BatchSize != 1 {
					t.Errorf("defaults not applied: %+v", n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPoissonSeedChosenAndReported(t *testing.T) {
	o := Options{Mode: result.RequestRate, Start: 10, End: 10, Distribution: Poisson, NewCaller: func(int) (Caller, error) { return nil, nil }}
	n, err := o.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if n.Seed == 0 || n.settings().Seed != n.Seed || n.settings().LatencyOrigin != "intended" {
		t.Errorf("seed %d, settings %+v; want a non-zero seed reported, intended latency", n.Seed, n.settings())
	}
	o.Seed = 42
	if n, _ := o.normalize(); n.Seed != 42 {
		t.Errorf("seed %d; want the given 42", n.Seed)
	}
}

func TestRecordOutOfRange(t *testing.T) {
	tl := newTally(measures{open: true})
	tl.sent(-time.Microsecond)
	tl.add(time.Millisecond, time.Millisecond, 0, 0, clientTiming(), nil, time.Time{})
	tl.sent(0)
	tl.add(2*time.Hour, time.Millisecond, 0, 0, clientTiming(), nil, time.Time{})
	w := newWindow(measures{open: true})
	w.addTally(tl)
	cs := w.clientStats(1, 0, true)
	if cs.Latency.Count != 1 || cs.Requests != 2 {
		t.Errorf("latency count %d of %d requests; want 1 of 2", cs.Latency.Count, cs.Requests)
	}
	if cs.OutOfRange != 2 {
		t.Errorf("out of range %d; want 2 (a 2h latency and a negative lag)", cs.OutOfRange)
	}
}

func TestDistribution(t *testing.T) {
	tl := newTally(measures{})
	for i := 1; i <= 100; i++ {
		tl.add(time.Duration(i)*time.Millisecond, 0, 0, 0, clientTiming(), nil, time.Time{})
	}
	w := newWindow(measures{})
	w.addTally(tl)
	d := w.clientStats(1, 99.9, false).Latency
	// Mean 50.5 ms; sample standard deviation of 1..100 is 29.01 ms.
	if d.Count != 100 || d.Mean != 50500*time.Microsecond || d.Min != time.Millisecond || d.Max != 100*time.Millisecond {
		t.Errorf("distribution %+v", d)
	}
	if sd := d.StdDev.Seconds() * 1000; math.Abs(sd-29.0115) > 0.001 {
		t.Errorf("std dev %v ms; want 29.0115", sd)
	}
	for _, q := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {99.9, 100 * time.Millisecond}} {
		if got := d.Percentile(q.p); math.Abs(float64(got-q.want)) > float64(q.want)/1000 {
			t.Errorf("p%v = %v; want %v within 0.1%%", q.p, got, q.want)
		}
	}
	if d.Hist == nil || d.Hist.Validate() != nil {
		t.Errorf("histogram snapshot missing or invalid")
	}
}

func TestClientOverhead(t *testing.T) {
	// Two 100 ms windows; in the first two workers spent 10 and 30 ms in
	// perfgo between requests, in the second one worker spent 20 ms.
	at := time.Unix(0, 0)
	win := func(from time.Duration, busy ...time.Duration) *window {
		w := newWindow(measures{})
		w.start, w.end = at.Add(from), at.Add(from+100*time.Millisecond)
		for _, b := range busy {
			tl := newTally(measures{})
			tl.add(time.Millisecond, 0, 0, b, clientTiming(), nil, w.end)
			w.addTally(tl)
		}
		w.seal()
		return w
	}
	idle := newTally(measures{}) // a worker that completed nothing is not counted
	first := win(0, 10*time.Millisecond, 30*time.Millisecond)
	first.addTally(idle)
	second := win(100*time.Millisecond, 20*time.Millisecond)
	for _, tt := range []struct {
		name string
		w    *window
		want float64
	}{
		{"first", first, 0.2},   // 40 ms of 2 × 100 ms
		{"second", second, 0.2}, // 20 ms of 100 ms
	} {
		if got := tt.w.clientStats(1, 0, false).Overhead; math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s window: overhead %v; want %v", tt.name, got, tt.want)
		}
	}
	third := win(200*time.Millisecond, 90*time.Millisecond)
	m := newWindow(measures{})
	for _, w := range []*window{first, second, third} {
		m.merge(w)
	}
	// 150 ms of 400 ms worker time: weighted by worker time, not an average of ratios.
	if got := m.clientStats(1, 0, false).Overhead; math.Abs(got-0.375) > 1e-9 {
		t.Errorf("merged overhead %v; want 0.375", got)
	}
}

// TestComposingStats: composing models' deltas nest as the tree given, a
// model without statistics is left out with one warning, and summing
// windows matches composing models by name and version without changing
// either window.
func TestComposingStats(t *testing.T) {
	var warnings []string
	s := serverStats{model: "ens", warn: func(m string) { warnings = append(warnings, m) }, composing: []ComposingModel{
		{Name: "pre"},
		{Name: "inner", Composing: []ComposingModel{{Name: "leaf", Version: "2"}}},
		{Name: "gone"},
	}}
	prev := stats(stat("ens", "1", 1, 1), stat("pre", "1", 1, 1), stat("inner", "1", 1, 1), stat("leaf", "1", 50, 50), stat("leaf", "2", 1, 1))
	cur := stats(stat("ens", "1", 5, 5), stat("pre", "1", 5, 5), stat("inner", "1", 5, 5), stat("leaf", "1", 90, 90), stat("leaf", "2", 5, 5))
	d, _ := statsDelta(prev, cur, "ens", "")
	d.Composing = s.composingDeltas(prev, cur, s.composing)
	d.Composing = s.composingDeltas(prev, cur, s.composing) // the warning is said once
	if len(d.Composing) != 2 || d.Composing[0].Model != "pre" || d.Composing[1].Model != "inner" ||
		len(d.Composing[1].Composing) != 1 || d.Composing[1].Composing[0].Version != "2" || d.Composing[1].Composing[0].Success.Count != 4 {
		t.Fatalf("composing %+v; want pre and inner (leaf version 2, 4 requests)", d.Composing)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"gone"`) {
		t.Errorf("warnings %q; want one naming gone", warnings)
	}

	w1 := addServer(nil, d)
	w2 := &result.ServerStats{Model: "ens", Version: "1", Success: result.Stat{Count: 3},
		Composing: []result.ServerStats{{Model: "inner", Version: "1", Success: result.Stat{Count: 3}}, {Model: "late", Version: "1", Success: result.Stat{Count: 1}}}}
	sum := addServer(w1, w2)
	if sum.Success.Count != 7 || len(sum.Composing) != 3 || sum.Composing[1].Success.Count != 7 ||
		sum.Composing[1].Composing[0].Success.Count != 4 || sum.Composing[2].Model != "late" {
		t.Errorf("sum %+v; want ensemble 7, inner 7 with its leaf, pre and late kept", sum)
	}
	if d.Composing[1].Success.Count != 4 || w1.Composing[1].Success.Count != 4 || len(w1.Composing) != 2 {
		t.Errorf("summing changed a window: %+v, %+v", d.Composing, w1.Composing)
	}
}
