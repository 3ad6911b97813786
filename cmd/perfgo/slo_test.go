package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// TestSLOGateOnDelayModel judges a sweep whose latencies are known: one
// instance of 40 ms serves concurrency c in about c × 40 ms. A loaded
// machine only adds to that, and level 3 is never much under 120 ms (its
// requests wait for two others), so the limit sits between levels 2 and 3,
// nearer 3: p50<=105ms leaves level 2 25 ms of room. The median, because
// a level's p99 is about its slowest of some 30 requests, and one stall
// (160 ms at concurrency 1, under -race with load average 10) is enough.
func TestSLOGateOnDelayModel(t *testing.T) {
	srv := servertest.Start(t, withDelay(40, 1))
	sweep := func(t *testing.T, extra ...string) (int, string, string, map[string]any) {
		t.Helper()
		jsonPath := filepath.Join(t.TempDir(), "out.json")
		args := append([]string{"-m", "delay", "-i", "grpc", "-u", srv.GRPCAddr, "--shape", "INPUT0:4",
			"--concurrency-range", "1:3", "--slo", "p50 <= 105ms", "--json", jsonPath}, anyWindows...)
		args = append(args, "-p", "400") // about 10 requests a window at concurrency 1
		code, stdout, stderr := perfgo(t, context.Background(), append(args, extra...)...)
		return code, stdout, stderr, readJSON(t, jsonPath)
	}

	t.Run("all", func(t *testing.T) {
		code, stdout, stderr, rep := sweep(t)
		if code != exitGate {
			t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitGate, stdout, stderr)
		}
		missed := regexp.MustCompile(`(?m)^perfgo: SLO missed: p50<=105ms at concurrency 3 \(p50 [0-9.]+ ms\)$`)
		if !missed.MatchString(stderr) || strings.Count(stderr, "SLO missed") != 1 {
			t.Errorf("stderr lacks the one missed-SLO line:\n%s", stderr)
		}
		rows := regexp.MustCompile(`(?m)^\|\s+(\d)\s+\|.*\|\s+(pass|FAIL p50<=105ms)\s+\|$`).FindAllStringSubmatch(stdout, -1)
		var verdicts []string
		for _, r := range rows {
			verdicts = append(verdicts, r[1]+" "+r[2])
		}
		if strings.Join(verdicts, ", ") != "1 pass, 2 pass, 3 FAIL p50<=105ms" {
			t.Errorf("table verdicts %q, want levels 1 and 2 to pass and 3 to fail:\n%s", verdicts, stdout)
		}
		if !strings.Contains(stdout, "SLO verdict: FAIL (--slo-mode all: every reported level must meet p50<=105ms)\n") {
			t.Errorf("stdout lacks the verdict line:\n%s", stdout)
		}
		checkSLOReport(t, rep, "all", false, stdout)
	})

	t.Run("any", func(t *testing.T) {
		code, stdout, stderr, rep := sweep(t, "--slo-mode", "any", "--summary", "markdown")
		if code != exitOK {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if strings.Contains(stderr, "SLO missed") {
			t.Errorf("a passed gate wrote a missed line:\n%s", stderr)
		}
		if !strings.Contains(stdout, "|------------:|") || !strings.Contains(stdout, "FAIL `p50<=105ms` |") ||
			!strings.Contains(stdout, "SLO verdict: **PASS** (--slo-mode any: at least one level must meet `p50<=105ms`)\n") {
			t.Errorf("stdout lacks the markdown table and verdict:\n%s", stdout)
		}
		checkSLOReport(t, rep, "any", true, stdout)
	})
}

// checkSLOReport checks the JSON report's SLO settings and verdict on the
// delay sweep: levels 1 and 2 pass, 3 fails, and the max throughput under
// SLO is the better of levels 1 and 2 (one instance: both near 25/s).
func checkSLOReport(t *testing.T, rep map[string]any, mode string, pass bool, stdout string) {
	t.Helper()
	settings := rep["settings"].(map[string]any)
	if slos, _ := settings["slos"].([]any); len(slos) != 1 || slos[0] != "p50<=105ms" || settings["slo_mode"] != mode {
		t.Errorf("settings slos %v slo_mode %v, want [p50<=105ms] %s", settings["slos"], settings["slo_mode"], mode)
	}
	verdict, ok := rep["slo"].(map[string]any)
	if !ok {
		t.Fatalf("no slo object in the JSON report")
	}
	if verdict["pass"] != pass || verdict["mode"] != mode {
		t.Errorf("slo pass %v mode %v, want %v %s", verdict["pass"], verdict["mode"], pass, mode)
	}
	best := 0.0
	var bestLevel float64
	levels, _ := verdict["levels"].([]any)
	if len(levels) != 3 {
		t.Fatalf("slo has %d levels, want 3", len(levels))
	}
	for i, l := range levels {
		l := l.(map[string]any)
		if want := i < 2; l["pass"] != want {
			t.Errorf("level %v pass %v, want %v", l["value"], l["pass"], want)
		}
		r := l["results"].([]any)[0].(map[string]any)
		if v, _ := r["value"].(float64); r["unit"] != "us" || (i < 2) != (v <= 105000) {
			t.Errorf("level %v measured p50 %v %v against 105 ms, verdict %v", l["value"], r["value"], r["unit"], l["pass"])
		}
		if tp := l["throughput"].(float64); i < 2 && tp > best {
			best, bestLevel = tp, l["value"].(float64)
		}
	}
	if verdict["max_throughput"] != best || verdict["max_throughput_level"].(map[string]any)["value"] != bestLevel {
		t.Errorf("max throughput %v at %v, want %v at concurrency %v", verdict["max_throughput"], verdict["max_throughput_level"], best, bestLevel)
	}
	if !regexp.MustCompile(`Max throughput under SLO: [0-9.]+ infer/sec at concurrency [12]\n`).MatchString(stdout) {
		t.Errorf("stdout lacks the max-throughput line:\n%s", stdout)
	}
}

func TestSLOFlagsRefused(t *testing.T) {
	srv := servertest.Start(t)
	base := []string{"-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad expression", []string{"--slo", "p99<<20ms"}, `--slo "p99<<20ms": "<20" is not a number of 0 or more; want METRIC OP NUMBER[UNIT]`},
		{"no unit", []string{"--slo", "p99<=20"}, "a latency needs a unit"},
		{"open-loop metric in closed loop", []string{"--slo", "lag.p99<=1ms"}, "--slo lag.p99<=1ms: lag.p99 is measured in open loop only"},
		{"stream metric on a model that does not stream", []string{"--slo", "first.p99<=1ms"}, "--slo first.p99<=1ms: first.p99 is measured on streams only: add --streaming"},
		{"mode", []string{"--slo", "p99<=1s", "--slo-mode", "most"}, `--slo-mode "most": use all`},
		{"summary", []string{"--summary", "html"}, `--summary "html": use table, markdown or none`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := perfgo(t, context.Background(), append(base, tc.args...)...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line with %q", stderr, tc.want)
			}
			if strings.Contains(stdout, "Request concurrency") {
				t.Errorf("the run went ahead:\n%s", stdout)
			}
		})
	}
}

func TestSummaryNone(t *testing.T) {
	srv := servertest.Start(t)
	args := append([]string{"-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--summary", "none", "--slo", "p99<=10s"}, anyWindows...)
	code, stdout, stderr := perfgo(t, context.Background(), args...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !regexp.MustCompile(`\nConcurrency: 1, throughput: [0-9.e+]+ infer/sec, latency \d+ usec\n$`).MatchString(stdout) {
		t.Errorf("with --summary none stdout must end with perf_analyzer's summary:\n%s", stdout)
	}
}

// Other exit codes come before the gate's: a dead server is 99, Ctrl-C is
// 130, and the verdict is still printed or written over what was measured.
func TestSLOGateKeepsOtherExitCodes(t *testing.T) {
	t.Run("dead server", func(t *testing.T) {
		jsonPath := filepath.Join(t.TempDir(), "out.json")
		code, _, stderr := perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "--slo", "p99<=1s", "--json", jsonPath)
		if code != exitError || strings.Contains(stderr, "SLO missed") {
			t.Errorf("exit %d, stderr %q; want 99 and no SLO line", code, stderr)
		}
		verdict, _ := readJSON(t, jsonPath)["slo"].(map[string]any)
		if verdict == nil || verdict["pass"] != false || verdict["max_throughput"] != nil {
			t.Errorf("slo %v: want a failed verdict without max throughput", verdict)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		srv := servertest.Start(t, withDelay(5, 1))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		stop := time.AfterFunc(700*time.Millisecond, cancel)
		defer stop.Stop()
		code, stdout, stderr := perfgo(t, ctx, append([]string{"-m", "delay", "-i", "grpc", "-u", srv.GRPCAddr, "--shape", "INPUT0:4",
			"--concurrency-range", "1:50", "--slo", "p99<=1ns"}, anyWindows...)...)
		if code != exitInterrupted {
			t.Fatalf("exit %d, want %d\n%s", code, exitInterrupted, stderr)
		}
		if !strings.Contains(stdout, "SLO verdict: FAIL (--slo-mode all: every reported level must meet p99<=1ns)\n") ||
			!strings.Contains(stderr, "perfgo: SLO missed: ") {
			t.Errorf("no verdict after Ctrl-C:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	})
}
