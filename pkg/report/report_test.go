package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/result"
)

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*result.Settings)
		want string
	}{
		{
			name: "request count, plural warmup, openai kind without -b",
			edit: func(s *result.Settings) {
				s.ServiceKind, s.WarmupRequests, s.RequestCount, s.RangeEnd = "OPENAI", 2, 1, 1
			},
			want: "*** Measurement Settings ***\n" +
				"  Service Kind: OPENAI\n" +
				"  Sending 2 warmup requests\n" +
				"  Sending 1 benchmark request\n" +
				"  Using synchronous calls for inference\n\n",
		},
		{
			name: "batch size from -b on another kind",
			edit: func(s *result.Settings) {
				s.ServiceKind, s.BatchSize, s.RequestCount, s.RangeEnd = "TORCHSERVE", 8, 500, 1
			},
			want: "*** Measurement Settings ***\n" +
				"  Batch size: 8\n" +
				"  Service Kind: TORCHSERVE\n" +
				"  Sending 500 benchmark requests\n" +
				"  Using synchronous calls for inference\n\n",
		},
		{
			name: "rate, no end: latency limit without rate limit; binary, decoupled, open loop",
			edit: func(s *result.Settings) {
				s.Mode, s.RangeStart, s.RangeEnd = result.RequestRate, 50, 0
				s.LatencyThreshold = 250 * time.Millisecond
				s.Async, s.BinarySearch, s.Decoupled = true, true, true
				s.LatencyOrigin = LatencyOriginIntended
				s.Percentile = 99
				s.RequestTimeout = 1500 * time.Microsecond
				s.NoModelConfig = true
			},
			want: "*** Measurement Settings ***\n" +
				"  Batch size: 1\n" +
				"  Service Kind: TRITON\n" +
				"  Using \"time_windows\" mode for stabilization\n" +
				"  Stabilizing using p99throughput\n" +
				"  Measurement window: 5000 msec\n" +
				"  Latency limit: 250 msec\n" +
				"  Using uniform distribution on request generation\n" +
				"  Using Binary Search algorithm\n" +
				"  Using asynchronous calls for inference\n" +
				"  Detected decoupled model, using the first response for measuring latency\n" +
				"  Latency measured from the intended send time (free of coordinated omission)\n" +
				"  Request timeout: 1.5 msec\n" +
				"  No model configuration: the leading -1 of each input is the batch dimension (-b fills it)\n\n",
		},
		{
			name: "rate end 1: no limit lines; fractional limit",
			edit: func(s *result.Settings) {
				s.Mode, s.RangeStart, s.RangeEnd, s.Distribution = result.RequestRate, 1, 1, "poisson"
			},
			want: "*** Measurement Settings ***\n" +
				"  Batch size: 1\n" +
				"  Service Kind: TRITON\n" +
				"  Using \"time_windows\" mode for stabilization\n" +
				"  Stabilizing using average latency and throughput\n" +
				"  Measurement window: 5000 msec\n" +
				"  Using poisson distribution on request generation\n" +
				"  Using synchronous calls for inference\n\n",
		},
		{
			name: "rate limit is the larger end, printed as a double",
			edit: func(s *result.Settings) {
				s.Mode, s.RangeStart, s.RangeEnd = result.RequestRate, 2500.5, 100
				s.MeasurementInterval = 1500 * time.Millisecond
			},
			want: "*** Measurement Settings ***\n" +
				"  Batch size: 1\n" +
				"  Service Kind: TRITON\n" +
				"  Using \"time_windows\" mode for stabilization\n" +
				"  Stabilizing using average latency and throughput\n" +
				"  Measurement window: 1500 msec\n" +
				"  Latency limit: 0 msec\n" +
				"  Request Rate limit: 2500.5 requests per seconds\n" +
				"  Using uniform distribution on request generation\n" +
				"  Using synchronous calls for inference\n\n",
		},
		{
			name: "intervals: neither limits nor distribution",
			edit: func(s *result.Settings) {
				s.Mode, s.RangeStart, s.RangeEnd = result.Intervals, 0, 0
			},
			want: "*** Measurement Settings ***\n" +
				"  Batch size: 1\n" +
				"  Service Kind: TRITON\n" +
				"  Using \"time_windows\" mode for stabilization\n" +
				"  Stabilizing using average latency and throughput\n" +
				"  Measurement window: 5000 msec\n" +
				"  Using synchronous calls for inference\n\n",
		},
		{
			name: "concurrency end 0: latency limit only",
			edit: func(s *result.Settings) { s.RangeStart, s.RangeEnd = 4, 0 },
			want: "*** Measurement Settings ***\n" +
				"  Batch size: 1\n" +
				"  Service Kind: TRITON\n" +
				"  Using \"time_windows\" mode for stabilization\n" +
				"  Stabilizing using average latency and throughput\n" +
				"  Measurement window: 5000 msec\n" +
				"  Latency limit: 0 msec\n" +
				"  Using synchronous calls for inference\n\n",
		},
		{
			name: "concurrency limit is the larger end",
			edit: func(s *result.Settings) { s.RangeStart, s.RangeEnd = 16, 2 },
			want: "*** Measurement Settings ***\n" +
				"  Batch size: 1\n" +
				"  Service Kind: TRITON\n" +
				"  Using \"time_windows\" mode for stabilization\n" +
				"  Stabilizing using average latency and throughput\n" +
				"  Measurement window: 5000 msec\n" +
				"  Latency limit: 0 msec\n" +
				"  Concurrency limit: 16 concurrent requests\n" +
				"  Using synchronous calls for inference\n\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := paExampleSettings()
			tc.edit(&s)
			var b bytes.Buffer
			if err := Header(&b, s); err != nil {
				t.Fatal(err)
			}
			compareText(t, "header", b.Bytes(), []byte(tc.want))
		})
	}
}

func TestLevelStart(t *testing.T) {
	for _, tc := range []struct {
		mode  result.Mode
		value float64
		want  string
	}{
		{result.Concurrency, 4, "Request concurrency: 4\n"},
		{result.Concurrency, 2048, "Request concurrency: 2048\n"},
		{result.RequestRate, 150.5, "Request Rate: 150.5 inference requests per seconds\n"},
		{result.RequestRate, 2e6, "Request Rate: 2e+06 inference requests per seconds\n"},
		{result.Intervals, 33, ""},
	} {
		s := paExampleSettings()
		s.Mode = tc.mode
		var b bytes.Buffer
		if err := LevelStart(&b, s, tc.value); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("LevelStart(%s, %v) = %q, want %q", tc.mode, tc.value, b.String(), tc.want)
		}
	}
}

// csvCells renders a one-level run and returns its cells by header name.
func csvCells(t *testing.T, s result.Settings, o CSVOptions, l result.Level) map[string]string {
	t.Helper()
	var b bytes.Buffer
	if err := CSV(&b, result.Run{Settings: s, Levels: []result.Level{l}}, o); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want header and one row, got %q", b.String())
	}
	head, row := strings.Split(lines[0], ","), strings.Split(lines[1], ",")
	if len(head) != len(row) {
		t.Fatalf("header has %d columns, row %d", len(head), len(row))
	}
	cells := make(map[string]string, len(head))
	for i, h := range head {
		cells[h] = row[i]
	}
	return cells
}

// TestCSVCells pins every cell formula of §3.1 on hand-computed values.
func TestCSVCells(t *testing.T) {
	base := func() result.Level {
		// Client: mean 829.9 µs, send 70.1, recv 25.1, request time 821.5.
		// Server: queue 30 µs, compute 22+405+17 µs, success 512 µs.
		return result.Level{
			Mode: result.Concurrency, Value: 1,
			Client: result.ClientStats{
				Throughput:  1200,
				Latency:     dist(micro(829, 900), micro(112), micro(812, 999), micro(951), micro(1004), micro(1187)),
				RequestTime: micro(821, 500), Send: micro(70, 100), Recv: micro(25, 100),
			},
			Server: server(100, 512, 30, 22, 405, 17),
		}
	}
	for _, tc := range []struct {
		name string
		s    func(*result.Settings)
		o    CSVOptions
		l    func(*result.Level)
		want map[string]string
	}{
		{
			name: "network in ns, then truncated: 829.9−70.1−25.1−474 = 260.6",
			want: map[string]string{"Concurrency": "1", "Inferences/Second": "1200", "Client Send": "70",
				"Network+Server Send/Recv": "260", "Server Queue": "30", "Server Compute Input": "22",
				"Server Compute Infer": "405", "Server Compute Output": "17", "Client Recv": "25",
				"p50 latency": "812", "p99 latency": "1187"},
		},
		{
			name: "network clamps at 0 when the server accounts for more than the client waited",
			l:    func(l *result.Level) { l.Server = server(100, 900, 300, 22, 505, 17) },
			want: map[string]string{"Network+Server Send/Recv": "0"},
		},
		{
			name: "network clamps at 0 when send+recv exceed the latency",
			l: func(l *result.Level) {
				l.Client.Latency.Mean = micro(50)
				l.Server = nil
			},
			want: map[string]string{"Network+Server Send/Recv": "0", "Server Queue": "0", "Server Compute Infer": "0"},
		},
		{
			name: "server averages use each stat's own count; accounted compute divides by the input count",
			l: func(l *result.Level) {
				l.Server.ComputeInfer = result.Stat{Count: 50, Ns: 50 * 810_000} // 810 µs over half the count
				l.Server.Queue = result.Stat{Count: 100, Ns: 100*30_000 + 99}    // 30.00099 µs
			},
			// accounted compute = (2.2 + 40.5 + 1.7 ms) / 100 = 444 µs, queue
			// 30 µs: 829.9−95.2−474 = 260.7 → 260. Per-phase averages
			// (22+810+17 µs) would wrongly give 0.
			want: map[string]string{"Server Compute Infer": "810", "Server Queue": "30", "Network+Server Send/Recv": "260"},
		},
		{
			name: "cache columns and cache time in the accounted time",
			s:    func(s *result.Settings) { s.ResponseCache = true },
			l: func(l *result.Level) {
				l.Server.CacheHit = stat(40, 41)
				l.Server.CacheMiss = stat(60, 12)
			},
			want: map[string]string{"Server Cache Hit": "41", "Server Cache Miss": "12", "Network+Server Send/Recv": "207"},
		},
		{
			name: "verbose tail: Avg latency, request/response from truncated parts, response wait",
			o:    CSVOptions{Verbose: true},
			l: func(l *result.Level) {
				l.Client.Send, l.Client.Recv = micro(70, 900), micro(25, 900) // 95 µs, not 96
			},
			want: map[string]string{"Avg latency": "829", "request/response": "95", "response wait": "726"},
		},
		{
			name: "response wait clamps at 0",
			o:    CSVOptions{Verbose: true},
			l:    func(l *result.Level) { l.Client.RequestTime = micro(90) },
			want: map[string]string{"response wait": "0"},
		},
		{
			name: "percentile mode: pNN column inserted, no Avg latency",
			s:    func(s *result.Settings) { s.Percentile = 97 },
			o:    CSVOptions{Verbose: true},
			l: func(l *result.Level) {
				l.Client.Latency.Quantiles = append(l.Client.Latency.Quantiles, result.Quantile{Percentile: 97, Value: micro(1100, 1)})
			},
			want: map[string]string{"p97 latency": "1100", "Avg latency": "", "request/response": "95"},
		},
		{
			name: "open loop: network from the service time; perfgo columns",
			s: func(s *result.Settings) {
				s.Mode, s.LatencyOrigin = result.RequestRate, LatencyOriginIntended
			},
			l: func(l *result.Level) {
				l.Value = 250.25
				l.Client.Latency.Mean = micro(5000) // includes schedule lag
				svc := dist(micro(829, 900), 0, micro(800, 10), 0, 0, micro(1150, 999))
				lag := dist(0, 0, micro(3), 0, 0, micro(4000, 999))
				l.Client.ServiceTime, l.Client.ScheduleLag = &svc, &lag
				l.Client.Late, l.Client.SendRate = 17, 248.123456
			},
			want: map[string]string{"Request Rate": "250.25", "Network+Server Send/Recv": "260",
				"Service p50": "800", "Service p99": "1150", "Schedule Lag p99": "4000",
				"Late Requests": "17", "Send Rate": "248.123"},
		},
		{
			name: "open loop without a service time falls back to the latency",
			s:    func(s *result.Settings) { s.LatencyOrigin = LatencyOriginIntended },
			want: map[string]string{"Network+Server Send/Recv": "260", "Service p50": "0", "Schedule Lag p99": "0"},
		},
		{
			name: "decoupled: response throughput",
			s:    func(s *result.Settings) { s.Decoupled = true },
			l:    func(l *result.Level) { l.Client.ResponseThroughput = 4800.25 },
			want: map[string]string{"Response Throughput": "4800.25"},
		},
		{
			name: "failure columns: no failure",
			want: map[string]string{"Failed Requests": "0", "Over Failure Limit": "false"},
		},
		{
			name: "failure columns: failures in an early window only count; over the limit",
			l: func(l *result.Level) {
				l.Client.Requests, l.Client.Failed = 300, 0
				l.Total = result.Counts{Requests: 400, Failed: 7}
				l.OverFailureLimit = true
			},
			want: map[string]string{"Failed Requests": "7", "Over Failure Limit": "true"},
		},
		{
			name: "failure columns stay last after the verbose and open-loop ones",
			s:    func(s *result.Settings) { s.LatencyOrigin = LatencyOriginIntended },
			o:    CSVOptions{Verbose: true},
			l:    func(l *result.Level) { l.Total = result.Counts{Requests: 100, Failed: 1} },
			want: map[string]string{"Failed Requests": "1", "Send Rate": "0", "response wait": "726"},
		},
		{
			name: "no server stats: no server columns at all",
			s:    func(s *result.Settings) { s.ServerStats = false },
			want: map[string]string{"Network+Server Send/Recv": "", "Server Queue": "", "Client Recv": "25"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := paExampleSettings()
			if tc.s != nil {
				tc.s(&s)
			}
			l := base()
			if tc.l != nil {
				tc.l(&l)
			}
			cells := csvCells(t, s, tc.o, l)
			for col, want := range tc.want {
				got, ok := cells[col]
				if want == "" {
					if ok {
						t.Errorf("column %q present (%q), want absent", col, got)
					}
					continue
				}
				if !ok {
					t.Errorf("column %q missing", col)
				} else if got != want {
					t.Errorf("%s = %q, want %q", col, got, want)
				}
			}
		})
	}
}

func TestCSVColumnOrder(t *testing.T) {
	s := paExampleSettings()
	s.Mode, s.Decoupled, s.ResponseCache, s.Percentile, s.LatencyOrigin = result.RequestRate, true, true, 99.9, LatencyOriginIntended
	var names []string
	for _, c := range csvColumns(s, CSVOptions{Verbose: true}) {
		names = append(names, c.name)
	}
	want := "Request Rate,Inferences/Second,Response Throughput,Client Send,Network+Server Send/Recv,Server Queue," +
		"Server Compute Input,Server Compute Infer,Server Compute Output,Server Cache Hit,Server Cache Miss,Client Recv," +
		"p50 latency,p90 latency,p95 latency,p99 latency,p99.9 latency,request/response,response wait," +
		"Service p50,Service p99,Schedule Lag p99,Late Requests,Send Rate,Failed Requests,Over Failure Limit"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("columns\n got %s\nwant %s", got, want)
	}
}

// TestRowOrder: the CSV sorts by throughput (stable), the summary keeps
// the measured (binary-search probe) order.
func TestRowOrder(t *testing.T) {
	run := paExampleRun()
	levels := run.Levels
	mk := func(l result.Level, conc, thr float64) result.Level {
		l.Value, l.Client.Throughput = conc, thr
		return l
	}
	run.Levels = []result.Level{mk(levels[0], 1, 1200), mk(levels[0], 8, 2300), mk(levels[0], 4, 2300), mk(levels[0], 2, 2100)}
	var csv, sum bytes.Buffer
	if err := CSV(&csv, run, CSVOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Summary(&sum, run); err != nil {
		t.Fatal(err)
	}
	var first []string
	for _, line := range strings.Split(strings.TrimSpace(csv.String()), "\n")[1:] {
		first = append(first, strings.SplitN(line, ",", 2)[0])
	}
	if got := strings.Join(first, " "); got != "1 2 8 4" {
		t.Errorf("csv rows by concurrency = %s, want 1 2 8 4", got)
	}
	want := "Inferences/Second vs. Client Average Batch Latency\n" +
		"Concurrency: 1, throughput: 1200 infer/sec, latency 829 usec\n" +
		"Concurrency: 8, throughput: 2300 infer/sec, latency 829 usec\n" +
		"Concurrency: 4, throughput: 2300 infer/sec, latency 829 usec\n" +
		"Concurrency: 2, throughput: 2100 infer/sec, latency 829 usec\n"
	compareText(t, "summary", sum.Bytes(), []byte(want))
	if run.Levels[1].Value != 8 {
		t.Error("CSV reordered the caller's levels")
	}
}

func TestServerBlock(t *testing.T) {
	for _, tc := range []struct {
		name string
		srv  *result.ServerStats
		want string
	}{
		{
			name: "averages truncated to µs first, overhead from the truncated values",
			srv: &result.ServerStats{
				InferenceCount: 10, ExecutionCount: 5,
				Success:      result.Stat{Count: 10, Ns: 10 * 512_900},
				Queue:        result.Stat{Count: 10, Ns: 10 * 30_900},
				ComputeInput: result.Stat{Count: 10, Ns: 10 * 22_900}, ComputeInfer: result.Stat{Count: 10, Ns: 10 * 405_900},
				ComputeOutput: result.Stat{Count: 10, Ns: 10 * 17_900},
			},
			// compute = (22.9+405.9+17.9) = 446.7 → 446; overhead = 512 − 30 − 446 = 36
			want: "  Server: \n    Inference count: 10\n    Execution count: 5\n    Successful request count: 10\n" +
				"    Avg request latency: 512 usec (overhead 36 usec + queue 30 usec + compute input 22 usec + compute infer 405 usec + compute output 17 usec)\n",
		},
		{
			name: "overhead clamps at 0",
			srv:  server(10, 100, 80, 10, 40, 10),
			want: "  Server: \n    Inference count: 10\n    Execution count: 10\n    Successful request count: 10\n" +
				"    Avg request latency: 100 usec (overhead 0 usec + queue 80 usec + compute input 10 usec + compute infer 40 usec + compute output 10 usec)\n",
		},
		{
			name: "no successful request",
			srv:  &result.ServerStats{InferenceCount: 3, Fail: result.Stat{Count: 3, Ns: 300}},
			want: "  Server: \n    Request count: 0\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := paExampleRun().Levels[0]
			l.Server = tc.srv
			var b bytes.Buffer
			if err := Level(&b, paExampleSettings(), l, false); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			i := strings.Index(got, "  Server: \n")
			if i < 0 {
				t.Fatalf("no server block in %q", got)
			}
			compareText(t, "server block", []byte(got[i:]), []byte(tc.want))
		})
	}
}

// TestLateWarning: perf_analyzer warns above 1% (not at 1%); closed loop
// prints it where perf_analyzer does, open loop with perfgo's lines.
func TestLateWarning(t *testing.T) {
	const warn = "    [WARNING] Perf Analyzer was not able to keep up with the desired request rate. "
	for _, tc := range []struct {
		name                   string
		origin                 string
		requests, issued, late uint64
		wantWarn               string // "" for no warning
		wantRate               bool
	}{
		{"exactly 1% is fine", "send", 1000, 1000, 10, "", false},
		{"above 1% warns", "send", 1000, 1000, 11, "1.10", true},
		{"issued is the denominator when known", "send", 900, 1000, 10, "", false},
		{"requests when issued is unknown", "send", 900, 0, 10, "1.11", true},
		{"nothing completed", "send", 0, 0, 10, "", false},
		{"open loop always prints the rate", LatencyOriginIntended, 1000, 1000, 0, "", true},
		{"open loop warns too", LatencyOriginIntended, 1000, 1000, 500, "50.00", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := paExampleSettings()
			s.Mode, s.LatencyOrigin = result.RequestRate, tc.origin
			l := paExampleRun().Levels[0]
			l.Client.Requests, l.Client.Issued, l.Client.Late, l.Client.SendRate = tc.requests, tc.issued, tc.late, 99.999
			var b bytes.Buffer
			if err := Level(&b, s, l, false); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if got := strings.Contains(out, "    Avg send request rate: 100.00 infer/sec\n"); got != tc.wantRate {
				t.Errorf("send rate line present = %v, want %v:\n%s", got, tc.wantRate, out)
			}
			if tc.wantWarn == "" {
				if strings.Contains(out, "[WARNING]") {
					t.Errorf("unexpected warning:\n%s", out)
				}
				return
			}
			line := warn + tc.wantWarn + "% of the requests were delayed. \n"
			i := strings.Index(out, line)
			if i < 0 {
				t.Fatalf("missing %q in:\n%s", line, out)
			}
			// Closed loop: right after "Request count", before "Throughput",
			// as perf_analyzer prints it; open loop: in perfgo's block.
			before := strings.Index(out, "    Throughput:") > i
			if want := tc.origin != LatencyOriginIntended; before != want {
				t.Errorf("warning before Throughput = %v, want %v:\n%s", before, want, out)
			}
		})
	}
}

func TestStopText(t *testing.T) {
	s := paExampleSettings()
	s.LatencyThreshold = 5 * time.Millisecond
	count := s
	count.MeasurementMode = "count_windows"
	rate := s
	rate.Mode = result.RequestRate
	for _, tc := range []struct {
		s      result.Settings
		reason result.StopReason
		value  float64
		want   string
	}{
		{s, result.StopLatencyThreshold, 4, "Measured latency went over the set limit of 5 msec. "},
		{s, result.StopUnstable, 4, "Failed to obtain stable measurement within 10 measurement windows for concurrency 4. Please try to increase the --measurement-interval."},
		{count, result.StopUnstable, 2, "Failed to obtain stable measurement within 10 measurement windows for concurrency 2. Please try to increase the --measurement-request-count."},
		{rate, result.StopUnstable, 100, "Failed to obtain stable measurement."},
		{s, result.StopNoValidRequests, 1, "No valid requests recorded within time interval. Please use a larger time window."},
		{s, result.StopCompleted, 1, ""},
		{s, result.StopCancelled, 1, ""},
		{s, result.StopError, 1, ""},
	} {
		if got := StopText(tc.s, tc.reason, tc.value); got != tc.want {
			t.Errorf("StopText(%v) = %q, want %q", tc.reason, got, tc.want)
		}
		var b bytes.Buffer
		if err := StopMessage(&b, tc.s, tc.reason, tc.value); err != nil {
			t.Fatal(err)
		}
		want := tc.want
		if want != "" {
			want += "\n"
		}
		if b.String() != want {
			t.Errorf("StopMessage(%v) = %q, want %q", tc.reason, b.String(), want)
		}
	}
}

func TestEmptyRun(t *testing.T) {
	run := result.Run{Settings: paExampleSettings()}
	var sum, csv, js bytes.Buffer
	if err := Summary(&sum, run); err != nil || sum.Len() != 0 {
		t.Errorf("Summary of no levels = %q, %v; want nothing", sum.String(), err)
	}
	if err := CSV(&csv, run, CSVOptions{}); err != nil || strings.Count(csv.String(), "\n") != 1 {
		t.Errorf("CSV of no levels = %q, %v; want the header only", csv.String(), err)
	}
	if err := JSON(&js, run); err != nil || !strings.Contains(js.String(), `"levels": []`) {
		t.Errorf("JSON of no levels = %q, %v; want an empty levels array", js.String(), err)
	}
	if refs := ComposingModels(run); refs != nil {
		t.Errorf("ComposingModels = %v, want none", refs)
	}
}

func TestBadInput(t *testing.T) {
	good := paExampleRun()
	badPct := func(p float64) result.Run {
		r := paExampleRun()
		r.Settings.Percentile = p
		return r
	}
	badMode := paExampleRun()
	badMode.Settings.Mode = "sessions"
	badProto := paExampleRun()
	badProto.Settings.Protocol = "HTTP/3"
	badHist := paExampleRun()
	h := histDist(t, time.Millisecond)
	h.Hist.SignificantFigures = 9 // cannot be imported
	h.Quantiles = nil
	badHist.Levels[1].Client.Latency = h

	type render func(result.Run) error
	var b bytes.Buffer
	header := func(r result.Run) error { return Header(&b, r.Settings) }
	level := func(r result.Run) error {
		for _, l := range r.Levels {
			if err := Level(&b, r.Settings, l, false); err != nil {
				return err
			}
		}
		return nil
	}
	csv := func(r result.Run) error { return CSV(&b, r, CSVOptions{}) }
	js := func(r result.Run) error { return JSON(&b, r) }
	summary := func(r result.Run) error { return Summary(&b, r) }
	start := func(r result.Run) error { return LevelStart(&b, r.Settings, 1) }
	pass := func(r result.Run) error { return Pass(&b, r.Settings, 1, 1, 1, 1) }

	for _, tc := range []struct {
		name    string
		run     result.Run
		fns     map[string]render
		wantErr string
	}{
		{"negative percentile", badPct(-1), map[string]render{"header": header, "level": level, "csv": csv, "json": js, "summary": summary, "pass": pass}, "percentile -1 is outside 0–100"},
		{"percentile over 100", badPct(101), map[string]render{"header": header, "level": level, "csv": csv, "json": js, "summary": summary}, "percentile 101"},
		{"NaN percentile", badPct(math.NaN()), map[string]render{"header": header, "csv": csv}, "percentile NaN"},
		{"unknown mode", badMode, map[string]render{"header": header, "csv": csv, "summary": summary, "start": start}, `mode "sessions" is unknown`},
		{"unknown protocol", badProto, map[string]render{"level": level}, `protocol "HTTP/3" is unknown`},
		{"corrupt histogram", badHist, map[string]render{"level": level, "csv": csv, "json": js}, "concurrency 2: "},
	} {
		for fname, fn := range tc.fns {
			t.Run(tc.name+"/"+fname, func(t *testing.T) {
				err := fn(tc.run)
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
			})
		}
	}
	if err := level(good); err != nil {
		t.Fatalf("good run: %v", err)
	}
	if err := csv(badHist); err == nil || !strings.Contains(err.Error(), "histogram snapshot is invalid") {
		t.Errorf("corrupt histogram error = %v, want it to say the snapshot is invalid", err)
	}
}

func TestWriteErrors(t *testing.T) {
	run := ensembleRun()
	s := run.Settings
	for name, fn := range map[string]func() error{
		"header":     func() error { return Header(errWriter{}, s) },
		"levelstart": func() error { return LevelStart(errWriter{}, s, 1) },
		"pass":       func() error { return Pass(errWriter{}, s, 1, 1, 1, 1) },
		"passerror":  func() error { return PassError(errWriter{}, 1, nil) },
		"level":      func() error { return Level(errWriter{}, s, run.Levels[0], true) },
		"summary":    func() error { return Summary(errWriter{}, run) },
		"stop":       func() error { return StopMessage(errWriter{}, s, result.StopUnstable, 2) },
		"text":       func() error { return Text(errWriter{}, run, false) },
		"csv":        func() error { return CSV(errWriter{}, run, CSVOptions{}) },
		"composing":  func() error { return ComposingCSV(errWriter{}, run, ModelRef{"preprocess", "1"}) },
		"json":       func() error { return JSON(errWriter{}, run) },
	} {
		if err := fn(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s: err = %v, want the writer's error wrapped", name, err)
		}
	}
}

func TestPassError(t *testing.T) {
	var b bytes.Buffer
	if err := PassError(&b, 3, nil); err != nil {
		t.Fatal(err)
	}
	if b.String() != "  Pass [3] cb::Error: <nil>\n" {
		t.Errorf("got %q", b.String())
	}
}

func TestComposing(t *testing.T) {
	run := ensembleRun()
	refs := ComposingModels(run)
	want := []ModelRef{{"detector", "1"}, {"postprocess", "1"}, {"preprocess", "1"}}
	if len(refs) != len(want) {
		t.Fatalf("ComposingModels = %v, want %v", refs, want)
	}
	for i := range want {
		if refs[i] != want[i] {
			t.Fatalf("ComposingModels = %v, want %v", refs, want)
		}
	}
	if got := ComposingFileName("out/r.csv", refs[0]); got != "out/detector_v1.r.csv" {
		t.Errorf("ComposingFileName = %q", got)
	}
	// A model the levels do not know gets zero rows, not an error.
	var b bytes.Buffer
	if err := ComposingCSV(&b, run, ModelRef{"ghost", "3"}); err != nil {
		t.Fatal(err)
	}
	// perfgo's failure columns are the ensemble's, not a composing model's.
	if !strings.HasPrefix(b.String(), "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv\n") {
		t.Errorf("composing header = %q, want perf_analyzer's, ending at Client Recv", strings.SplitN(b.String(), "\n", 2)[0])
	}
	if !strings.HasSuffix(b.String(), "\n1,0,0,0,0,0,0,0,0\n2,0,0,0,0,0,0,0,0\n") {
		t.Errorf("unknown composing model rows = %q", b.String())
	}
}

func TestJSON(t *testing.T) {
	run := percentileRun(t, 99.9)
	run.Levels[0].Client.Throughput = math.NaN()
	run.Levels[1].Client.ResponseThroughput = math.Inf(1)
	run.Levels[1].Failures = []result.ClassCount{{Class: "timeout", Count: 1}, {Class: "http:503", Count: 2}}
	run.Levels[1].Server = nil
	var b bytes.Buffer
	if err := JSON(&b, run); err != nil {
		t.Fatal(err)
	}
	type dist struct {
		Count       int64
		Percentiles []struct {
			P       float64
			ValueUs float64 `json:"value_us"`
		}
		HDR string
	}
	var doc struct {
		Schema string
		Levels []struct {
			Client struct {
				Throughput         *float64
				ResponseThroughput *float64 `json:"response_throughput"`
				Latency            dist
			}
			Server   *json.RawMessage
			Failures []struct {
				Class string
				Count uint64
			}
		}
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, b.String())
	}
	if doc.Schema != JSONSchema || len(doc.Levels) != 2 {
		t.Fatalf("schema %q, %d levels", doc.Schema, len(doc.Levels))
	}
	l0, l1 := doc.Levels[0], doc.Levels[1]
	if l0.Client.Throughput != nil || l1.Client.ResponseThroughput != nil {
		t.Error("non-finite numbers must be null")
	}
	if l0.Server == nil || l1.Server != nil {
		t.Error("server must be an object with statistics and null without")
	}
	if len(l0.Failures) != 0 || l0.Failures == nil {
		t.Errorf("failures without failures = %v, want []", l0.Failures)
	}
	if len(l1.Failures) != 2 || l1.Failures[0].Class != "http:503" {
		t.Errorf("failures = %+v, want sorted by class", l1.Failures)
	}
	var ps []float64
	for _, p := range l0.Client.Latency.Percentiles {
		ps = append(ps, p.P)
	}
	if want := []float64{50, 90, 95, 99, 99.9, 99.99}; !slices.Equal(ps, want) {
		t.Errorf("percentiles = %v, want %v", ps, want)
	}
	// The exported histogram decodes to the same data.
	h, err := hdrhistogram.Decode([]byte(l0.Client.Latency.HDR))
	if err != nil {
		t.Fatalf("hdr does not decode: %v", err)
	}
	if h.TotalCount() != l0.Client.Latency.Count {
		t.Errorf("hdr holds %d values, distribution %d", h.TotalCount(), l0.Client.Latency.Count)
	}
	orig := hdrhistogram.Import(run.Levels[0].Client.Latency.Hist)
	if h.ValueAtQuantile(99.9) != orig.ValueAtQuantile(99.9) {
		t.Errorf("decoded p99.9 %d, original %d", h.ValueAtQuantile(99.9), orig.ValueAtQuantile(99.9))
	}

	// Without a histogram only the cached percentiles are reported.
	var c bytes.Buffer
	if err := JSON(&c, paExampleRun()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.String(), `"p": 99.9`) || strings.Contains(c.String(), `"hdr"`) {
		t.Error("a distribution without a histogram must not invent percentiles or a histogram")
	}
}

// FuzzLevel feeds arbitrary numbers through every writer: bad data must
// give an error or odd numbers, never a panic.
func FuzzLevel(f *testing.F) {
	f.Add(uint64(21600), int64(829_000), int64(112_000), int64(70_000), int64(25_000), int64(821_000), 1200.0, 0.0, uint64(100), uint64(512_000), uint64(7), uint8(0), uint8(0))
	f.Add(uint64(0), int64(-5), int64(-1), int64(1<<62), int64(1<<62), int64(-1<<62), math.NaN(), 99.9, uint64(0), uint64(0), uint64(1<<63), uint8(255), uint8(255))
	f.Fuzz(func(t *testing.T, reqs uint64, mean, sd, send, recv, reqTime int64, thr, pct float64, srvCount, srvNs, late uint64, flags, more uint8) {
		run := paExampleRun()
		s := &run.Settings
		s.Percentile = pct
		s.Protocol = []string{"http", "grpc"}[flags&1]
		s.Mode = []result.Mode{result.Concurrency, result.RequestRate, result.Intervals, "bogus"}[flags>>1&3]
		s.ResponseCache, s.Decoupled = flags&8 != 0, flags&16 != 0
		if flags&32 != 0 {
			s.LatencyOrigin = LatencyOriginIntended
		}
		l := &run.Levels[0]
		l.Client.Requests, l.Client.Late, l.Client.Throughput = reqs, late, thr
		l.Client.Latency.Mean, l.Client.Latency.StdDev = time.Duration(mean), time.Duration(sd)
		l.Client.Send, l.Client.Recv, l.Client.RequestTime = time.Duration(send), time.Duration(recv), time.Duration(reqTime)
		l.Server.Success = result.Stat{Count: srvCount, Ns: srvNs}
		l.Server.ComputeInput.Count = srvCount
		if flags&64 != 0 {
			l.Server.Composing = []result.ServerStats{*server(srvCount, srvNs, 1, 1, 1, 1)}
		}
		// Streams and sequences, including a latency name that is neither.
		s.Streaming = more&1 != 0
		s.StreamLatency = []string{StreamLatencyFirst, StreamLatencyFinal, "", "bogus"}[more>>1&3]
		if more&8 != 0 {
			s.Sequence = &result.SequenceSettings{Length: int(reqs)}
			l.Client.Sequences, l.Client.SequenceRate = late, thr
		}
		if more&16 != 0 {
			d := result.Distribution{Count: int64(reqs), Mean: time.Duration(mean), StdDev: time.Duration(sd)}
			l.Client.Stream = &result.StreamStats{First: d, Between: d, Final: d,
				PerRequest: thr, Elements: late, ElementThroughput: pct}
			l.Client.Responses, l.Client.ResponseThroughput = reqs, thr
		}
		var b bytes.Buffer
		_ = Text(&b, run, flags&128 != 0)
		_ = CSV(&b, run, CSVOptions{Verbose: flags&4 != 0})
		_ = JSON(&b, run)
		for _, m := range ComposingModels(run) {
			_ = ComposingCSV(&b, run, m)
		}
	})
}

func BenchmarkLevel(b *testing.B) {
	run := paExampleRun()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := Level(&buf, run.Settings, run.Levels[0], false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCSV(b *testing.B) {
	run := paExampleRun()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := CSV(&buf, run, CSVOptions{Verbose: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONWithHistograms(b *testing.B) {
	run := percentileRun(b, 99.9)
	b.ReportAllocs()
	for b.Loop() {
		if err := JSON(io.Discard, run); err != nil {
			b.Fatal(err)
		}
	}
}
