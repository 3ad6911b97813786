package main

// Fault injection: perfgo against servers that stall, drop, drip, answer
// garbage, cut their answers short or bloat them, die and come back, never
// answer at start-up, and against a client short of file descriptors.
// Whatever the server does, perfgo must end (each run has a deadline, and a
// run that reaches it is a failure), exit with the documented code, write
// stdout, the CSV and the JSON report in agreement, and count every failed
// request in its class.

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/server/faultserver"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// faultDeadline bounds one perfgo run; every run here should take a few
// seconds at most.
const faultDeadline = 20 * time.Second

// faultFlags keep runs short: 300 ms windows, at most 4 of them, any three
// stable (stability is not the subject), and short bounds on a request, on
// the drain at a level's end and on start-up control calls (2 s: with two
// CPU hogs under -race, connecting once took more than 500 ms).
var faultFlags = []string{"-p", "300", "-r", "4", "-s", "1000",
	"--request-timeout", "100ms", "--drain-timeout", "300ms", "--control-timeout", "2s"}

// Load modes: closed loop with two requests outstanding, open loop at 200/s.
var (
	closedLoop = []string{"--concurrency-range", "2"}
	openLoop   = []string{"--request-rate-range", "200"}
)

const exitOverFailureLimit = 4 // the documented code; root.go has no constant yet

// faultResult is what one perfgo run produced.
type faultResult struct {
	code           int
	stdout, stderr string
	csv            [][]string   // nil when not written
	report         *faultReport // nil when not written
}

// faultReport is the part of the JSON report these tests read.
type faultReport struct {
	Stop struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"stop"`
	Levels     []faultLevel `json:"levels"`
	Unreported []faultLevel `json:"unreported_levels"`
	Drained    struct {
		Failures []struct {
			Class string `json:"class"`
			Count uint64 `json:"count"`
		} `json:"failures"`
	} `json:"drained"`
}

type faultLevel struct {
	Value float64 `json:"value"`
	Total *struct {
		Requests      uint64  `json:"requests"`
		Failed        uint64  `json:"failed"`
		FailedPercent float64 `json:"failed_percent"`
	} `json:"total"`
	OverFailureLimit *bool `json:"over_failure_limit"`
	Failures         []struct {
		Class string `json:"class"`
		Count uint64 `json:"count"`
	} `json:"failures"`
	Passes []json.RawMessage `json:"passes"`
	Client *struct {
		Requests uint64 `json:"requests"`
		Stream   *struct {
			Responses  uint64  `json:"responses"`
			PerRequest float64 `json:"responses_per_request"`
		} `json:"stream"`
	} `json:"client"`
}

// runFault runs perfgo in-process with -f and --json added, under a context
// with faultDeadline. A run that ignores even its context fails the test
// after a grace period, leaving its goroutine behind (goleak then reports
// it at the end of the package).
func runFault(t *testing.T, args ...string) faultResult {
	t.Helper()
	dir := t.TempDir()
	csvPath, jsonPath := filepath.Join(dir, "out.csv"), filepath.Join(dir, "out.json")
	args = append(slices.Clip(args), "-f", csvPath, "--json", jsonPath)
	ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, args, &stdout, &stderr) }()
	var r faultResult
	select {
	case r.code = <-done:
	case <-time.After(faultDeadline + 10*time.Second):
		t.Fatalf("perfgo %s\nstill runs 10 s past its context's deadline: it hangs and ignores cancellation (its goroutines leak)\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), stdout.String(), stderr.String())
	}
	r.stdout, r.stderr = stdout.String(), withoutCPUWarnings(stderr.String())
	if ctx.Err() != nil {
		t.Errorf("perfgo ran until the test's %v deadline (exit %d): it hangs\nstdout:\n%s\nstderr:\n%s", faultDeadline, r.code, r.stdout, r.stderr)
	}
	r.readFiles(t, csvPath, jsonPath)
	return r
}

func (r *faultResult) readFiles(t *testing.T, csvPath, jsonPath string) {
	t.Helper()
	if _, err := os.Stat(csvPath); err == nil {
		r.csv = readCSV(t, csvPath)
	}
	if b, err := os.ReadFile(jsonPath); err == nil {
		r.report = new(faultReport)
		if err := json.Unmarshal(b, r.report); err != nil {
			t.Errorf("JSON report: %v", err)
			r.report = nil
		}
	}
}

// faultWant is what a run must show.
type faultWant struct {
	code int
	// classes are failure classes that must be counted (JSON failures and
	// stdout's "Failed requests:" line).
	classes []string
	// say are phrases stdout or stderr must contain (case-insensitive).
	say []string
	// never are phrases neither may contain.
	never []string
}

// check asserts the exit code, that the three reports exist and agree, and
// that the wanted failure classes are counted.
func (r faultResult) check(t *testing.T, want faultWant) {
	t.Helper()
	out := r.stdout + r.stderr
	if r.code != want.code {
		t.Errorf("exit %d, want %d", r.code, want.code)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Errorf("stack trace on stderr")
	}
	for _, s := range want.say {
		if !strings.Contains(strings.ToLower(out), strings.ToLower(s)) {
			t.Errorf("neither stdout nor stderr says %q", s)
		}
	}
	for _, s := range want.never {
		if strings.Contains(strings.ToLower(out), strings.ToLower(s)) {
			t.Errorf("the output says %q", s)
		}
	}
	switch {
	case r.csv == nil:
		t.Errorf("no CSV written")
	case r.report == nil:
		t.Errorf("no JSON written")
	default:
		r.checkAgreement(t)
	}
	if r.report != nil {
		r.checkClasses(t, want)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

var summaryLevel = regexp.MustCompile(`(?m)^(?:Concurrency|Request Rate): ([0-9.e+]+), throughput:`)

func levelKey(t *testing.T, s string) string {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Errorf("level %q: %v", s, err)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// checkAgreement: stdout's summary, the CSV and the JSON report list the
// same levels, and the CSV's failure columns match the JSON totals.
func (r faultResult) checkAgreement(t *testing.T) {
	t.Helper()
	jsonLevels := map[string]faultLevel{}
	for _, l := range r.report.Levels {
		jsonLevels[levelKey(t, strconv.FormatFloat(l.Value, 'f', -1, 64))] = l
	}
	var stdoutLevels []string
	for _, m := range summaryLevel.FindAllStringSubmatch(r.stdout, -1) {
		stdoutLevels = append(stdoutLevels, levelKey(t, m[1]))
	}
	// Failed Requests and Over Failure Limit end perf_analyzer's columns
	// and perfgo's latency columns; stream and sequence columns follow.
	header := r.csv[0]
	failedCol := slices.Index(header, "Failed Requests")
	if failedCol < 0 || failedCol+1 >= len(header) || header[failedCol+1] != "Over Failure Limit" {
		t.Errorf("CSV header %v: want Failed Requests then Over Failure Limit", header)
		failedCol = -1
	}
	var csvLevels []string
	for _, row := range r.csv[1:] {
		key := levelKey(t, row[0])
		csvLevels = append(csvLevels, key)
		l, ok := jsonLevels[key]
		if !ok || failedCol < 0 || len(row) != len(header) {
			continue
		}
		if l.Total == nil || l.OverFailureLimit == nil {
			t.Errorf("JSON level %s lacks total or over_failure_limit", key)
			continue
		}
		if row[failedCol] != strconv.FormatUint(l.Total.Failed, 10) {
			t.Errorf("level %s: CSV says %s failed requests, JSON total.failed %d", key, row[failedCol], l.Total.Failed)
		}
		if over, err := strconv.ParseBool(row[failedCol+1]); err != nil || over != *l.OverFailureLimit {
			t.Errorf("level %s: CSV Over Failure Limit %q, JSON over_failure_limit %v", key, row[failedCol+1], *l.OverFailureLimit)
		}
	}
	slices.Sort(csvLevels)
	slices.Sort(stdoutLevels)
	js := slices.Sorted(maps.Keys(jsonLevels))
	if !slices.Equal(csvLevels, js) || !slices.Equal(stdoutLevels, js) {
		t.Errorf("levels disagree: stdout %v, CSV %v, JSON %v", stdoutLevels, csvLevels, js)
	}
}

var failedLine = regexp.MustCompile(`(?m)^\s*Failed requests: \d+.*$`)

// checkClasses: every JSON level's failures add up to its total, and each
// wanted class is counted in the JSON report and named on stdout.
func (r faultResult) checkClasses(t *testing.T, want faultWant) {
	t.Helper()
	counted := map[string]uint64{}
	overLimit := false
	for _, l := range append(slices.Clip(r.report.Levels), r.report.Unreported...) {
		var sum uint64
		for _, f := range l.Failures {
			counted[f.Class] += f.Count
			sum += f.Count
		}
		if l.Total != nil && sum != l.Total.Failed {
			t.Errorf("level %v: failures by class add up to %d, total.failed is %d", l.Value, sum, l.Total.Failed)
		}
		if l.OverFailureLimit != nil && *l.OverFailureLimit {
			overLimit = true
		}
	}
	lines := strings.Join(failedLine.FindAllString(r.stdout, -1), "\n")
	for _, c := range want.classes {
		if counted[c] == 0 {
			t.Errorf("JSON failures count no %q (they count %v)", c, counted)
		}
		if !strings.Contains(lines, c) {
			t.Errorf("no stdout \"Failed requests:\" line names %q (lines: %q)", c, lines)
		}
	}
	if want.code == exitOverFailureLimit && !overLimit {
		t.Errorf("exit %d wants a level over the failure limit; JSON marks none", want.code)
	}
}

// proxyTarget is where a run sends its load: the proxy's address for the protocol.
func proxyTarget(p *faultserver.Proxy, proto string) []string {
	if proto == "grpc" {
		return []string{"-m", "simple", "-i", "grpc", "-u", p.GRPCAddr}
	}
	return []string{"-m", "simple", "-i", "http", "-u", p.HTTPAddr}
}

// A server that stops answering mid-level. With --request-timeout the
// held requests time out: a window where every request failed ends the run
// (exit 99) and stdout still shows the level's failures. Without it (the
// default timeout is longer than the run) no request completes: a window
// without a valid request (exit 3), and the drain cancels the requests in
// flight, counted in the JSON's "drained" and said on stderr.
func TestFaultStallMidLevel(t *testing.T) {
	p := faultserver.Start(t)
	noRequestTimeout := []string{"-p", "300", "-r", "4", "-s", "1000", "--drain-timeout", "300ms", "--control-timeout", "2s"}
	for _, proto := range []string{"http", "grpc"} {
		for _, mode := range []struct {
			name string
			args []string
		}{{"closed", closedLoop}, {"open", openLoop}} {
			for _, bound := range []struct {
				name  string
				flags []string
				class string
			}{{"request timeout", faultFlags, "timeout"}, {"drain", noRequestTimeout, "cancelled"}} {
				t.Run(proto+" "+mode.name+" "+bound.name, func(t *testing.T) {
					p.Set(faultserver.StallAfter(20))
					r := runFault(t, slices.Concat(proxyTarget(p, proto), mode.args, bound.flags)...)
					if bound.class == "cancelled" {
						r.check(t, faultWant{code: exitNoValidRequests, say: []string{"cancelled after the 300ms drain timeout"}})
						if r.report == nil || len(r.report.Drained.Failures) != 1 || r.report.Drained.Failures[0].Class != "cancelled" || r.report.Drained.Failures[0].Count == 0 {
							t.Errorf("JSON drained %+v; want the cancelled requests", r.report)
						}
						return
					}
					r.check(t, faultWant{code: exitError, classes: []string{bound.class}})
				})
			}
		}
	}
}

// One answer in 50 never comes: 2% of the requests time out, over the
// default 1% failure limit.
func TestFaultDropOneIn50(t *testing.T) {
	p := faultserver.Start(t)
	for _, proto := range []string{"http", "grpc"} {
		for _, mode := range []struct {
			name string
			args []string
		}{{"closed", closedLoop}, {"open", openLoop}} {
			t.Run(proto+" "+mode.name, func(t *testing.T) {
				p.Set(faultserver.DropEvery(50))
				r := runFault(t, slices.Concat(proxyTarget(p, proto), mode.args, faultFlags)...)
				r.check(t, faultWant{code: exitOverFailureLimit, classes: []string{"timeout"}})
			})
		}
	}
}

// Every other answer is wrong in one way: perfgo must fail it in its class,
// never count it as a success. Half the requests failing puts the level
// over the failure limit.
func TestFaultBadAnswers(t *testing.T) {
	p := faultserver.Start(t)
	tests := []struct {
		proto string
		fault faultserver.Fault
		class string
	}{
		{"http", faultserver.Fault{Kind: faultserver.Garbage}, "protocol"},
		{"http", faultserver.Fault{Kind: faultserver.HTML}, "protocol"},
		{"http", faultserver.Fault{Kind: faultserver.MissingOutputs}, "protocol"},
		{"http", faultserver.Fault{Kind: faultserver.ShortData}, "protocol"},
		{"http", faultserver.Fault{Kind: faultserver.Truncate}, "truncated"},
		// ~300 bytes at one per 5 ms: the request timeout must bound the body too.
		{"http", faultserver.Fault{Kind: faultserver.Drip, Delay: 5 * time.Millisecond}, "timeout"},
		{"grpc", faultserver.Fault{Kind: faultserver.MissingOutputs}, "protocol"},
		{"grpc", faultserver.Fault{Kind: faultserver.ShortData}, "protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.proto+" "+tt.fault.Kind.String(), func(t *testing.T) {
			f := tt.fault
			f.Every = 2
			p.Set(f)
			r := runFault(t, slices.Concat(proxyTarget(p, tt.proto), closedLoop, faultFlags)...)
			r.check(t, faultWant{code: exitOverFailureLimit, classes: []string{tt.class}})
		})
	}
}

// Every other answer is 100 MiB against --max-response-size 1MiB: the
// answer fails as too_large and perfgo's heap never holds it.
func TestFaultHugeAnswer(t *testing.T) {
	// The fake server streams its 100 MiB answers from this process: at
	// perfgo's load GOGC of 400 their garbage alone could pass the bound.
	// At Go's default the heap shows what is held, which is the subject.
	t.Setenv("GOGC", "100")
	p := faultserver.Start(t)
	for _, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			p.Set(faultserver.Fault{Kind: faultserver.Huge, Every: 2, Size: 100 << 20})
			heap := watchHeap()
			r := runFault(t, slices.Concat(proxyTarget(p, proto), closedLoop, faultFlags, []string{"--max-response-size", "1MiB"})...)
			if grew := heap.stop(); grew > 48<<20 {
				t.Errorf("the heap grew by %d MiB during the run: a huge answer was held in memory", grew>>20)
			}
			r.check(t, faultWant{code: exitOverFailureLimit, classes: []string{"too_large"}})
		})
	}
}

// heapWatch samples the live heap's size until stopped.
type heapWatch struct {
	base uint64
	done chan struct{}
	peak chan uint64
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func watchHeap() *heapWatch {
	runtime.GC()
	w := &heapWatch{base: heapObjects(), done: make(chan struct{}), peak: make(chan uint64, 1)}
	go func() {
		peak := w.base
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				w.peak <- peak
				return
			case <-tick.C:
				peak = max(peak, heapObjects())
			}
		}
	}()
	return w
}

// stop ends the watch and returns how far the heap rose above its start.
func (w *heapWatch) stop() uint64 {
	close(w.done)
	return <-w.peak - w.base
}

// A server that accepts connections and never answers, or answers in
// another protocol, at start-up: perfgo gives up within its control
// timeout with one clear line and exit 99.
func TestFaultStartup(t *testing.T) {
	tests := []struct {
		name  string
		start func(testing.TB) *faultserver.TCP
		say   []string
	}{
		{"silent", faultserver.Silent, []string{"timeout"}},
		{"not HTTP", faultserver.NotHTTP, nil},
	}
	for _, tt := range tests {
		for _, proto := range []string{"http", "grpc"} {
			t.Run(tt.name+" "+proto, func(t *testing.T) {
				s := tt.start(t)
				r := runFault(t, slices.Concat([]string{"-m", "simple", "-i", proto, "-u", s.Addr}, closedLoop, faultFlags)...)
				if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 {
					t.Errorf("stderr should name the failure in one line, got %d lines", len(lines))
				}
				r.check(t, faultWant{code: exitError, say: append([]string{s.Addr}, tt.say...)})
			})
		}
	}
}

// A server killed mid-level and restarted on the same port: the failures
// while it was down are counted and the run completes. --failure-limit 100
// and -s 1000000 keep the exit code about completion (the outage's window
// may differ from the others by any factor); 1 s windows outlast gRPC's
// reconnection back-off, so no window is empty.
func TestFaultKillRestart(t *testing.T) {
	p := faultserver.Start(t)
	for _, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			quit := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				start := p.Requests()
				for p.Requests() < start+100 {
					select {
					case <-quit:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
				p.Kill()
				killed := p.Requests()
				time.Sleep(50 * time.Millisecond) // a short outage: connections are refused
				if err := p.Restart(); err != nil {
					t.Errorf("restart: %v", err)
				}
				t.Logf("killed at request %d, %d requests since the run started", killed, killed-start)
			})
			r := runFault(t, slices.Concat(proxyTarget(p, proto), closedLoop, faultFlags, []string{"-p", "1000", "-r", "3", "-s", "1000000", "--failure-limit", "100"})...)
			close(quit)
			wg.Wait()
			r.check(t, faultWant{code: exitOK})
			var failed uint64
			if r.report != nil {
				for _, l := range r.report.Levels {
					if l.Total != nil {
						failed += l.Total.Failed
					}
				}
			}
			if failed == 0 {
				t.Errorf("the outage left no failure counted in the JSON levels' total.failed")
			}
			if !failedLine.MatchString(r.stdout) {
				t.Errorf("the outage left no \"Failed requests:\" line on stdout")
			}
		})
	}
}

// faultChildEnv makes the test binary run perfgo under a file descriptor
// limit (TestFaultChild) instead of its tests.
const faultChildEnv = "PERFGO_FAULT_CHILD"

type faultChild struct {
	NoFile uint64
	Args   []string
}

// TestFaultChild is the child of TestFaultFileDescriptors: it lowers
// RLIMIT_NOFILE, runs perfgo and exits with its code.
func TestFaultChild(t *testing.T) {
	spec := os.Getenv(faultChildEnv)
	if spec == "" {
		t.Skip("runs as the child process of TestFaultFileDescriptors")
	}
	var c faultChild
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = c.NoFile
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
	code := run(ctx, nil, c.Args, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// perfgo with 40 file descriptors and 64 connections: the connections it
// cannot open are local failures with a hint, never blamed on the server.
func TestFaultFileDescriptors(t *testing.T) {
	srv := servertest.Start(t)
	for _, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			url := srv.HTTPAddr
			if proto == "grpc" {
				url = srv.GRPCAddr
			}
			dir := t.TempDir()
			csvPath, jsonPath := filepath.Join(dir, "out.csv"), filepath.Join(dir, "out.json")
			args := slices.Concat([]string{"-m", "simple", "-i", proto, "-u", url, "--concurrency-range", "64", "--connections", "64",
				"-f", csvPath, "--json", jsonPath}, faultFlags)
			spec, err := json.Marshal(faultChild{NoFile: 40, Args: args})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), faultDeadline+5*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFaultChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), faultChildEnv+"="+string(spec))
			cmd.WaitDelay = 5 * time.Second
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("child: %v", err)
			}
			r := faultResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
			if ctx.Err() != nil {
				t.Errorf("perfgo ran until the test's deadline and was killed: it hangs")
			}
			r.readFiles(t, csvPath, jsonPath)
			want := faultWant{code: exitOverFailureLimit, classes: []string{"local:EMFILE"},
				say:   []string{"perfgo ran out of file descriptors; raise ulimit -n or lower the concurrency"},
				never: []string{"unreachable", "that the server is running"}}
			if r.code == exitError && strings.Contains(r.stderr, "requests of a window failed") {
				// On a loaded machine every request of a window may fail:
				// the documented code for that; classes and hint as ever.
				want.code = exitError
			}
			r.check(t, want)
		})
	}
}
