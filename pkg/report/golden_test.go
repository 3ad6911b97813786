package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/result"
)

// TestReferenceExample checks the reference's §2.4 run, built as result
// data, against the reference's own stdout and CSV text, copied verbatim
// from /work/shared/reference/perf_analyzer.md into testdata/reference/.
// -update never touches those files. The CSV's last two columns are
// perfgo's failure columns: checked, then cut, so that every column
// perf_analyzer has is compared byte for byte.
func TestReferenceExample(t *testing.T) {
	run := paExampleRun()
	for _, tc := range []struct {
		file   string
		render func(*bytes.Buffer) error
	}{
		{"section_2_4.stdout", func(b *bytes.Buffer) error { return Text(b, run, false) }},
		{"section_3_1.csv", func(b *bytes.Buffer) error {
			var full bytes.Buffer
			if err := CSV(&full, run, CSVOptions{}); err != nil {
				return err
			}
			b.Write(cutFailureColumns(t, full.Bytes(), ",0,false"))
			return nil
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var got bytes.Buffer
			if err := tc.render(&got); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "reference", tc.file)
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			compareText(t, path, got.Bytes(), want)
		})
	}
}

// cutFailureColumns checks that every line of a CSV ends with perfgo's two
// failure columns (the header's names, each row's rowTail) and removes them.
func cutFailureColumns(t *testing.T, csv []byte, rowTail string) []byte {
	t.Helper()
	lines := strings.SplitAfter(string(csv), "\n")
	var out strings.Builder
	for i, line := range lines {
		if line == "" {
			continue
		}
		tail := rowTail
		if i == 0 {
			tail = ",Failed Requests,Over Failure Limit"
		}
		body, ok := strings.CutSuffix(line, tail+"\n")
		if !ok {
			t.Fatalf("csv line %d = %q, want it to end with %q", i+1, line, tail)
		}
		out.WriteString(body + "\n")
	}
	return []byte(out.String())
}

// pass is one -v window line of a golden case.
type pass struct {
	throughput      float64
	latency, stddev time.Duration
	err             error
}

type goldenCase struct {
	name    string
	run     result.Run
	verbose bool
	passes  [][]pass // per level, printed with -v
	csv     CSVOptions
	json    bool
}

// renderStdout prints a run the way a live sweep does: header, then per
// level its opening line, its -v pass lines and its blocks, then the summary.
func renderStdout(t *testing.T, tc goldenCase) []byte {
	t.Helper()
	var b bytes.Buffer
	s := tc.run.Settings
	if err := Header(&b, s); err != nil {
		t.Fatal(err)
	}
	for i, l := range tc.run.Levels {
		if err := LevelStart(&b, s, l.Value); err != nil {
			t.Fatal(err)
		}
		if i < len(tc.passes) {
			for k, p := range tc.passes[i] {
				var err error
				if p.err != nil {
					err = PassError(&b, k+1, p.err)
				} else {
					err = Pass(&b, s, k+1, p.throughput, p.latency, p.stddev)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := Level(&b, s, l, tc.verbose); err != nil {
			t.Fatal(err)
		}
	}
	if err := Summary(&b, tc.run); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func goldenCases(t testing.TB) []goldenCase {
	var cases []goldenCase

	grpc := paExampleRun()
	grpc.Settings.Protocol = "grpc"
	cases = append(cases, goldenCase{name: "grpc", run: grpc})
	cases = append(cases, goldenCase{name: "grpc_verbose", run: grpc, verbose: true, csv: CSVOptions{Verbose: true}})

	verbose := paExampleRun()
	verbose.Levels = verbose.Levels[:2]
	verbose.Settings.RangeEnd = 2
	verbose.Settings.WarmupRequests = 100
	// The second level's client was busy over half the time: the warning.
	verbose.Levels[0].Client.Overhead = 0.01234
	verbose.Levels[1].Client.Overhead = 0.51239
	cases = append(cases, goldenCase{
		name: "http_verbose", run: verbose, verbose: true, csv: CSVOptions{Verbose: true},
		passes: [][]pass{
			{
				{throughput: 1187.2, latency: micro(840, 10), stddev: micro(120, 999)},
				{err: errString("No valid requests recorded within time interval. Please use a larger time window.")},
				{throughput: 1201.4, latency: micro(828), stddev: micro(111)},
				{throughput: 1199.9, latency: micro(829), stddev: micro(113)},
				{throughput: 1198.8, latency: micro(830), stddev: micro(112)},
			},
			{
				{throughput: 2160.5, latency: micro(925), stddev: micro(140)},
				{throughput: 2159, latency: micro(926), stddev: micro(141)},
				{throughput: 2162, latency: micro(924), stddev: micro(139)},
			},
		},
	})

	p95 := paExampleRun()
	p95.Settings.Percentile = 95
	cases = append(cases, goldenCase{name: "p95", run: p95,
		passes: [][]pass{{{throughput: 1200, latency: micro(1004, 300)}}}})

	cases = append(cases, goldenCase{name: "p99.9_async", run: percentileRun(t, 99.9), csv: CSVOptions{Verbose: true}, json: true})

	noStats := paExampleRun()
	noStats.Settings.ServerStats = false
	noStats.Settings.ServiceKind = ""
	noStats.Settings.WarmupRequests = 1
	for i := range noStats.Levels {
		noStats.Levels[i].Server = nil
	}
	cases = append(cases, goldenCase{name: "no_server_stats", run: noStats})

	cases = append(cases, goldenCase{name: "rate_open_loop", run: openLoopRun(t), csv: CSVOptions{Verbose: true}, json: true})

	closedRate := openLoopRun(t)
	closedRate.Settings.LatencyOrigin = "send"
	closedRate.Settings.Distribution = "constant"
	closedRate.Settings.Async = false
	closedRate.Settings.BinarySearch = true
	for i := range closedRate.Levels {
		c := &closedRate.Levels[i].Client
		c.Latency = *c.ServiceTime
		c.ServiceTime, c.ScheduleLag = nil, nil
	}
	cases = append(cases, goldenCase{name: "rate_closed_loop", run: closedRate})

	cases = append(cases, goldenCase{name: "failures", run: failuresRun(), json: true})
	cases = append(cases, goldenCase{name: "cache", run: cacheRun()})
	cases = append(cases, goldenCase{name: "ensemble", run: ensembleRun(), json: true})
	cases = append(cases, goldenCase{name: "decoupled", run: decoupledRun(), csv: CSVOptions{Verbose: true}})

	cases = append(cases, goldenCase{name: "stream_decoupled_first", run: streamDecoupledRun(), json: true})
	cases = append(cases, goldenCase{name: "stream_final_p99.9", run: streamFinalRun(t), csv: CSVOptions{Verbose: true}, json: true})
	cases = append(cases, goldenCase{name: "sequence_rate", run: sequenceRun(t), json: true})

	cases = append(cases, goldenCase{name: "metrics", run: metricsRun(), csv: CSVOptions{Verbose: true}, json: true})
	// Without --verbose-csv the CSV has no metrics columns, as perf_analyzer's.
	cases = append(cases, goldenCase{name: "metrics_plain", run: metricsRun()})

	count := paExampleRun()
	count.Settings.MeasurementMode = "count_windows"
	count.Settings.MeasurementRequestCount = 50
	count.Settings.RangeEnd = 0
	count.Settings.LatencyThreshold = 5 * time.Millisecond
	count.Levels = count.Levels[:1]
	cases = append(cases, goldenCase{name: "count_windows", run: count})
	return cases
}

type errString string

func (e errString) Error() string { return string(e) }

// percentileRun stabilises on a fractional percentile with real histograms.
func percentileRun(t testing.TB, p float64) result.Run {
	run := paExampleRun()
	run.Settings.Percentile = p
	run.Settings.Async = true
	run.Levels = run.Levels[:2]
	run.Settings.RangeEnd = 2
	for i := range run.Levels {
		var vs []time.Duration
		base := time.Duration(i+1) * 800 * time.Microsecond
		for k := range 2000 {
			vs = append(vs, base+time.Duration(k%100)*5*time.Microsecond)
		}
		vs = append(vs, 9*time.Millisecond, 12*time.Millisecond, 15*time.Millisecond)
		run.Levels[i].Client.Latency = histDist(t, vs...)
		// Each window's latency is the stabilising percentile, not the mean.
		lat, err := stabilizingLatency(run.Settings, &run.Levels[i].Client.Latency)
		if err != nil {
			t.Fatal(err)
		}
		for k := range run.Levels[i].Passes {
			run.Levels[i].Passes[k].Latency = lat
		}
	}
	return run
}

// openLoopRun is a request-rate sweep measured from the intended send
// times; the last level could not keep up (7.65% late).
func openLoopRun(t testing.TB) result.Run {
	s := paExampleSettings()
	s.Mode = result.RequestRate
	s.Async = true
	s.Distribution = "poisson"
	s.Seed = 7
	s.LatencyOrigin = LatencyOriginIntended
	s.RangeStart, s.RangeEnd, s.RangeStep = 100, 300, 100
	s.LatencyThreshold = 10 * time.Millisecond
	run := result.Run{Settings: s, Stop: result.StopLatencyThreshold,
		StopMessage: StopText(s, result.StopLatencyThreshold, 400)}
	type spec struct {
		rate              float64
		reqs, issued      uint64
		late              uint64
		sendRate          float64
		lat, svc, lag     [4]int64 // p50 p90 p95 p99 µs
		lagMax            int64
		reqTime, sd, mean int64
		svcMean, svcSD    int64
	}
	specs := []spec{
		{100, 1800, 1800, 0, 100.004, [4]int64{812, 951, 1004, 1187}, [4]int64{810, 949, 1001, 1180}, [4]int64{2, 15, 30, 61}, 402, 805, 95, 830, 826, 90},
		{200, 3599, 3600, 10, 200.0111, [4]int64{840, 990, 1100, 1530}, [4]int64{822, 960, 1050, 1320}, [4]int64{3, 21, 60, 190}, 1811, 819, 120, 861, 842, 101},
		{300, 5063, 5230, 400, 290.553, [4]int64{1900, 8800, 12050, 20400}, [4]int64{1020, 1390, 1600, 2050}, [4]int64{700, 7400, 10500, 18600}, 24100, 1010, 2400, 3120, 1106, 310},
	}
	for _, sp := range specs {
		dur := 18 * time.Second
		svc := dist(micro(sp.svcMean), micro(sp.svcSD), micro(sp.svc[0]), micro(sp.svc[1]), micro(sp.svc[2]), micro(sp.svc[3]))
		lag := dist(micro(sp.lag[0]+10), micro(sp.lag[1]), micro(sp.lag[0]), micro(sp.lag[1]), micro(sp.lag[2]), micro(sp.lag[3]))
		lag.Max = micro(sp.lagMax, 250)
		run.Levels = append(run.Levels, result.Level{
			Mode: result.RequestRate, Value: sp.rate, Windows: 3, Stable: true,
			Client: result.ClientStats{
				Requests: sp.reqs, Inferences: sp.reqs, Issued: sp.issued, Late: sp.late,
				Duration: dur, Throughput: float64(sp.reqs) / dur.Seconds(), SendRate: sp.sendRate,
				Latency:     dist(micro(sp.mean), micro(sp.sd), micro(sp.lat[0]), micro(sp.lat[1]), micro(sp.lat[2]), micro(sp.lat[3])),
				ServiceTime: &svc, ScheduleLag: &lag,
				RequestTime: micro(sp.reqTime), Send: micro(60), Recv: micro(20),
			},
			Server: server(sp.reqs, 600, 50, 20, 400, 15),
		})
		setPasses(&run.Levels[len(run.Levels)-1])
	}
	return run
}

// failuresRun has failures three ways: concurrency 1 only in an early
// window that is not merged into Client (Client.Failed 0), concurrency 2
// in the merged windows, under the limit, and concurrency 3 over the 1%
// failure limit.
func failuresRun() result.Run {
	run := paExampleRun()
	run.Settings.RequestTimeout = 500 * time.Millisecond
	early := result.Pass{
		Duration: 6 * time.Second, Requests: 7100, Failed: 2, Throughput: 7100.0 / 6,
		Failures: []result.ClassCount{{Class: "http:500", Count: 2}},
		Latency:  micro(845), ServerStats: true,
	}
	l0 := &run.Levels[0]
	setPasses(l0, early)
	l0.Failures = []result.ClassCount{{Class: "http:500", Count: 2}}

	l1 := &run.Levels[1]
	l1.Client.Failed = 12
	setPasses(l1)
	l1.Passes[1].Failures = []result.ClassCount{{Class: "http:503", Count: 4}}
	l1.Passes[2].Failures = []result.ClassCount{{Class: "http:503", Count: 5}, {Class: "timeout", Count: 3}}
	// Out of order, with a class that never failed: the line sorts and skips.
	l1.Failures = []result.ClassCount{{Class: "http:503", Count: 9}, {Class: "grpc:UNAVAILABLE", Count: 0}, {Class: "timeout", Count: 3}}

	l2 := &run.Levels[2]
	l2.Client.Failed = 600
	setPasses(l2)
	for i := range l2.Passes {
		l2.Passes[i].Failures = []result.ClassCount{{Class: "http:503", Count: 150}, {Class: "timeout", Count: 50}}
	}
	l2.Failures = []result.ClassCount{{Class: "http:503", Count: 450}, {Class: "timeout", Count: 150}}
	l2.OverFailureLimit = true // 600 of 42022: 1.43%
	// Three requests were in flight when the run ended and were cancelled.
	run.Drained = result.Counts{Requests: 1, Failed: 3}
	run.DrainedFailures = []result.ClassCount{{Class: "cancelled", Count: 3}}
	return run
}

func cacheRun() result.Run {
	run := paExampleRun()
	run.Settings.ResponseCache = true
	run.Levels = run.Levels[:2]
	run.Settings.RangeEnd = 2
	srv := run.Levels[0].Server
	// 21598 requests: 15000 cache hits (40 µs), 6598 misses (lookup 12 µs)
	// that went on to compute.
	srv.CacheHit = stat(15000, 40)
	srv.CacheMiss = stat(6598, 12)
	srv.InferenceCount, srv.ExecutionCount = 6598, 6598
	srv.ComputeInput, srv.ComputeInfer, srv.ComputeOutput = stat(6598, 22), stat(6598, 405), stat(6598, 17)
	srv.Success = stat(21598, 190)
	run.Levels[1].Server = &result.ServerStats{Model: "simple", Version: "1"} // no successful request
	return run
}

func ensembleRun() result.Run {
	run := paExampleRun()
	run.Settings.Model = "ensemble"
	run.Levels = run.Levels[:2]
	run.Settings.RangeEnd = 2
	for i := range run.Levels {
		n := run.Levels[i].Server.Success.Count
		pre := server(n, 120, 10, 5, 90, 4)
		pre.Model = "preprocess"
		post := server(n, 60, 3, 2, 40, 1)
		post.Model = "postprocess"
		inner := server(n, 300, 40, 10, 220, 8)
		inner.Model = "classifier"
		sub := server(n, 330, 0, 0, 0, 0)
		sub.Model, sub.Queue, sub.ComputeInput, sub.ComputeInfer, sub.ComputeOutput = "detector", result.Stat{}, result.Stat{}, result.Stat{}, result.Stat{}
		sub.Composing = []result.ServerStats{*inner}
		top := server(n, 560, 0, 0, 0, 0)
		top.Model = "ensemble"
		top.Queue, top.ComputeInput, top.ComputeInfer, top.ComputeOutput = result.Stat{}, result.Stat{}, result.Stat{}, result.Stat{}
		// Listed out of order: the report sorts like perf_analyzer's std::map.
		top.Composing = []result.ServerStats{*pre, *sub, *post}
		if i == 1 {
			top.Composing[2].Success = stat(n/2, 60) // postprocess ran for half the requests
		}
		run.Levels[i].Server = top
	}
	return run
}

func decoupledRun() result.Run {
	run := paExampleRun()
	run.Settings.Decoupled = true
	run.Settings.Async = true
	run.Settings.Protocol = "grpc"
	run.Levels = run.Levels[:1]
	run.Settings.RangeEnd = 1
	c := &run.Levels[0].Client
	c.Responses = 4 * c.Requests
	c.ResponseThroughput = 4 * c.Throughput
	return run
}

// streamDecoupledRun streams a decoupled text model: eight responses of
// one token each per request, latency to the first response.
func streamDecoupledRun() result.Run {
	run := paExampleRun()
	s := &run.Settings
	s.Decoupled, s.Async, s.Protocol = true, true, "grpc"
	s.Streaming, s.StreamLatency = true, StreamLatencyFirst
	run.Levels = run.Levels[:2]
	s.RangeEnd = 2
	const perRequest = 8
	for i := range run.Levels {
		c := &run.Levels[i].Client
		extra := int64(40 * i)
		first := dist(micro(318+extra, 600), micro(45, 900), micro(305+extra, 999), micro(362+extra), micro(391+extra), micro(455+extra, 1))
		final := c.Latency
		c.Latency = first
		c.Responses = perRequest * c.Requests
		c.ResponseThroughput = perRequest * c.Throughput
		c.Stream = &result.StreamStats{
			First:   first,
			Between: dist(micro(72, 300), micro(12), micro(69), micro(84), micro(90, 999), micro(118)),
			Final:   final,
			// Each response carries one token.
			PerRequest: perRequest,
			Elements:   c.Responses, ElementThroughput: c.ResponseThroughput,
		}
		for k := range run.Levels[i].Passes {
			run.Levels[i].Passes[k].Latency = first.Mean
		}
	}
	return run
}

// streamFinalRun is --streaming on a model that is not decoupled: one
// response per request, so nothing between responses, latency to the
// final (only) response, stabilised on p99.9 with real histograms.
func streamFinalRun(t testing.TB) result.Run {
	run := percentileRun(t, 99.9)
	s := &run.Settings
	s.Protocol, s.Streaming, s.StreamLatency = "grpc", true, StreamLatencyFinal
	none := result.Distribution{Hist: hdrhistogram.New(1000, int64(60*time.Second), 3).Export()}
	for i := range run.Levels {
		c := &run.Levels[i].Client
		c.Responses, c.ResponseThroughput = c.Requests, c.Throughput
		c.Stream = &result.StreamStats{
			First: c.Latency, Between: none, Final: c.Latency,
			PerRequest: 1,
		}
	}
	return run
}

// sequenceRun is an open-loop sweep of a sequence model: perf_analyzer's
// defaults of 20 requests ±20% per sequence and 4 live sequences.
func sequenceRun(t testing.TB) result.Run {
	run := openLoopRun(t)
	run.Settings.Sequence = &result.SequenceSettings{Length: 20, Variation: 20, IDStart: 1, Live: 4}
	for i := range run.Levels {
		c := &run.Levels[i].Client
		// About one sequence ends per 20 requests.
		c.Sequences = c.Requests / 20
		c.SequenceRate = float64(c.Sequences) / c.Duration.Seconds()
	}
	return run
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, tc.name+".stdout", renderStdout(t, tc))

			var csv bytes.Buffer
			if err := CSV(&csv, tc.run, tc.csv); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name+".csv", csv.Bytes())

			for _, m := range ComposingModels(tc.run) {
				var b bytes.Buffer
				if err := ComposingCSV(&b, tc.run, m); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, ComposingFileName(tc.name+".csv", m), b.Bytes())
			}

			if tc.json {
				var js bytes.Buffer
				if err := JSON(&js, tc.run); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, tc.name+".json", js.Bytes())
			}
		})
	}
}
