package slo

import (
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/result"
)

// level is a closed-loop level whose latency p99 is p99 and mean is avg.
func level(conc, throughput float64, p99, avg time.Duration, failed uint64) result.Level {
	return result.Level{
		Mode: result.Concurrency, Value: conc,
		Client: result.ClientStats{
			Throughput: throughput,
			Latency:    result.Distribution{Count: 100, Mean: avg, Quantiles: []result.Quantile{{Percentile: 99, Value: p99}}},
		},
		Total: result.Counts{Requests: 1000 - failed, Failed: failed},
	}
}

func closedRun(levels ...result.Level) result.Run {
	return result.Run{Settings: result.Settings{Mode: result.Concurrency}, Levels: levels}
}

func mustParse(t *testing.T, exprs ...string) []Objective {
	t.Helper()
	objs, err := ParseAll(exprs)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestJudge(t *testing.T) {
	// The delay model's shape: throughput flat, latency growing with concurrency.
	sweep := closedRun(
		level(1, 240, 4*time.Millisecond, 4*time.Millisecond, 0),
		level(2, 245, 8*time.Millisecond, 8*time.Millisecond, 0),
		level(3, 246, 12*time.Millisecond, 12*time.Millisecond, 0),
	)
	for _, tc := range []struct {
		name       string
		run        result.Run
		slos       []string
		mode       Mode
		wantLevels []bool
		wantPass   bool
		wantBest   int
		wantMissed string
	}{
		{"all pass", sweep, []string{"p99<=20ms"}, All, []bool{true, true, true}, true, 2, ""},
		{"all: one level misses", sweep, []string{"p99<=10ms"}, All, []bool{true, true, false}, false, 1,
			"p99<=10ms at concurrency 3 (p99 12.0 ms)"},
		{"any: one level passes", sweep, []string{"p99<=10ms"}, Any, []bool{true, true, false}, true, 1, ""},
		{"any: none passes", sweep, []string{"p99<3ms"}, Any, []bool{false, false, false}, false, -1,
			"no level met every SLO (--slo-mode any): p99<3ms at concurrency 1 (p99 4.00 ms), p99<3ms at concurrency 2 (p99 8.00 ms), p99<3ms at concurrency 3 (p99 12.0 ms)"},
		{"several objectives, first miss of many", sweep, []string{"avg<5ms", "throughput>=245"}, All, []bool{false, false, false}, false, -1,
			"throughput>=245 at concurrency 1 (throughput 240 infer/s), avg<5ms at concurrency 2 (avg 8.00 ms), avg<5ms at concurrency 3 (avg 12.0 ms)"},
		{"errors", closedRun(level(1, 240, time.Millisecond, time.Millisecond, 2), level(2, 240, time.Millisecond, time.Millisecond, 0)),
			[]string{"errors<=0.1%"}, All, []bool{false, true}, false, 1, "errors<=0.1% at concurrency 1 (errors 0.20%)"},
		{"no reported level: all", closedRun(), []string{"p99<=10ms"}, All, nil, false, -1, "no level was reported, so none met p99<=10ms"},
		{"no reported level: any", closedRun(), []string{"p99<=10ms"}, Any, nil, false, -1, "no level was reported, so none met p99<=10ms"},
		{"missing metric fails the level with the reason", sweep, []string{"lag.p99<=1ms"}, Any, []bool{false, false, false}, false, -1,
			"lag.p99<=1ms at concurrency 1 (measured in open loop only)"},
		{"missing stream data", closedRun(level(1, 240, time.Millisecond, time.Millisecond, 0)), []string{"first.p99<=1ms"}, All, []bool{false}, false, -1,
			"first.p99<=1ms at concurrency 1 (measured on streams only)"},
		{"percentile not cached and no histogram", sweep, []string{"p50<=1s"}, All, []bool{false, false, false}, false, -1,
			"no histogram to read p50 from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Judge(tc.run, mustParse(t, tc.slos...), tc.mode)
			var got []bool
			for _, l := range v.Levels {
				got = append(got, l.Pass)
			}
			if len(got) != len(tc.wantLevels) {
				t.Fatalf("levels %v, want %v", got, tc.wantLevels)
			}
			for i := range got {
				if got[i] != tc.wantLevels[i] {
					t.Errorf("level verdicts %v, want %v", got, tc.wantLevels)
					break
				}
			}
			if v.Pass != tc.wantPass || v.Best != tc.wantBest {
				t.Errorf("pass %v best %d, want %v %d", v.Pass, v.Best, tc.wantPass, tc.wantBest)
			}
			missed := v.Missed()
			if tc.wantMissed == "" && missed != "" || !strings.Contains(missed, tc.wantMissed) {
				t.Errorf("Missed() = %q, want %q", missed, tc.wantMissed)
			}
		})
	}
}

func TestMaxThroughputPicksTheHighestPassingLevel(t *testing.T) {
	// Binary search reports levels out of order: the best is by throughput.
	run := closedRun(
		level(8, 300, 30*time.Millisecond, 0, 0),
		level(4, 280, 9*time.Millisecond, 0, 0),
		level(6, 295, 9*time.Millisecond, 0, 0),
		level(5, 290, 9*time.Millisecond, 0, 0),
	)
	v := Judge(run, mustParse(t, "p99<=10ms"), All)
	got, ok := v.MaxThroughput()
	if !ok || got != 295 || v.Levels[v.Best].Value != 6 {
		t.Errorf("max throughput %v (ok %v) at level %d, want 295 at concurrency 6", got, ok, v.Best)
	}
	if _, ok := Judge(run, mustParse(t, "p99<1ms"), All).MaxThroughput(); ok {
		t.Error("no level passes, yet MaxThroughput is ok")
	}
}

func TestMissedIsBounded(t *testing.T) {
	var levels []result.Level
	for c := range 6 {
		levels = append(levels, level(float64(c+1), 100, time.Second, 0, 0))
	}
	missed := Judge(closedRun(levels...), mustParse(t, "p99<1ms"), All).Missed()
	if !strings.HasSuffix(missed, " and 3 more") || strings.Count(missed, "p99<1ms at") != maxMisses {
		t.Errorf("Missed() = %q, want 3 misses and \"and 3 more\"", missed)
	}
}

func TestJudgeReadsHistograms(t *testing.T) {
	h := hdrhistogram.New(1, int64(time.Minute), 3)
	for i := 1; i <= 100; i++ {
		if err := h.RecordValue(int64(i) * int64(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	open := result.Level{Mode: result.RequestRate, Value: 100, Client: result.ClientStats{
		Throughput:  100,
		Latency:     result.Distribution{Count: 100, Hist: h.Export()},
		ScheduleLag: &result.Distribution{Count: 100, Hist: h.Export()},
		ServiceTime: &result.Distribution{}, // empty: no samples
	}}
	run := result.Run{Settings: result.Settings{Mode: result.RequestRate}, Levels: []result.Level{open}}
	v := Judge(run, mustParse(t, "p50<=60ms", "lag.p99.9<=101ms", "service.p99<=1s"), All)
	rs := v.Levels[0].Results
	if !rs[0].Pass || time.Duration(rs[0].Value).Round(time.Millisecond) != 50*time.Millisecond {
		t.Errorf("p50: %+v", rs[0])
	}
	if !rs[1].Pass {
		t.Errorf("lag.p99.9: %+v", rs[1])
	}
	if rs[2].Pass || rs[2].Reason != "no samples" {
		t.Errorf("service.p99 of an empty distribution: %+v, want missed with reason \"no samples\"", rs[2])
	}

	bad := h.Export()
	bad.Counts = append(bad.Counts[:0:0], -1)
	run.Levels[0].Client.Latency.Hist = bad
	if r := Judge(run, mustParse(t, "p50<=60ms"), All).Levels[0].Results[0]; r.Pass || !strings.Contains(r.Reason, "histogram snapshot is invalid") {
		t.Errorf("a corrupt histogram: %+v, want missed with its reason", r)
	}
}

func TestCheck(t *testing.T) {
	closed := result.Settings{Mode: result.Concurrency}
	open := result.Settings{Mode: result.RequestRate}
	stream := result.Settings{Mode: result.Concurrency, Streaming: true}
	for _, tc := range []struct {
		slo  string
		s    result.Settings
		want string
	}{
		{"p99<=1ms", closed, ""},
		{"lag.p99<=1ms", open, ""},
		{"service.avg<=1ms", open, ""},
		{"lag.p99<=1ms", closed, "--slo lag.p99<=1ms: lag.p99 is measured in open loop only"},
		{"service.p99<=1ms", stream, "open loop only"},
		{"first.p99<=1ms", stream, ""},
		{"between.p99<=1ms", closed, "--slo between.p99<=1ms: between.p99 is measured on streams only"},
		{"throughput>=1", open, ""},
	} {
		err := Check(mustParse(t, tc.slo), tc.s)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Check(%s, %s streaming=%v) = %v, want %q", tc.slo, tc.s.Mode, tc.s.Streaming, err, tc.want)
		}
	}
}

func TestJudgeRun(t *testing.T) {
	run := closedRun(level(1, 240, 4*time.Millisecond, 0, 0))
	if _, ok, err := JudgeRun(run); ok || err != nil {
		t.Errorf("a run without SLOs: ok %v err %v", ok, err)
	}
	run.Settings.SLOs, run.Settings.SLOMode = []string{"p99<=5ms"}, "any"
	v, ok, err := JudgeRun(run)
	if !ok || err != nil || !v.Pass || v.Mode != Any {
		t.Errorf("JudgeRun: %+v ok %v err %v", v, ok, err)
	}
	run.Settings.SLOMode = "most"
	if _, _, err := JudgeRun(run); err == nil {
		t.Error("mode \"most\" was accepted")
	}
}

func TestOpsAtTheLimit(t *testing.T) {
	run := closedRun(level(1, 100, 5*time.Millisecond, 0, 0))
	for expr, want := range map[string]bool{
		"p99<5ms": false, "p99<=5ms": true, "p99>5ms": false, "p99>=5ms": true,
		"p99<5.001ms": true, "p99>4.999ms": true,
		"throughput<100": false, "throughput<=100": true, "throughput>100": false, "throughput>=100": true,
	} {
		if got := Judge(run, mustParse(t, expr), All).Pass; got != want {
			t.Errorf("%s on p99 5ms, throughput 100: pass %v, want %v", expr, got, want)
		}
	}
}
