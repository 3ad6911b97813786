// Package loadgen is perfgo's load engine: it applies load levels to a model
// (closed loop: N requests outstanding; open loop: requests on a schedule),
// measures each level in back-to-back windows until it is stable, and
// returns what it measured as result values.
//
// It follows perf_analyzer's inference profiler (windows, 3-window stability
// test, latency threshold, linear and binary search) and measures more
// truthfully where perf_analyzer does not: time windows last exactly the
// measurement interval, percentiles come from full HDR histograms,
// --request-count windows cover exactly the requests sent, and open-loop
// latency is measured from each request's intended send time.
//
// One engine serves every mode: a level is a worker policy (fixed N workers,
// or an elastic pool) plus a schedule (none, constant, Poisson, intervals).
// Each worker records into its own tally without a lock (worker.flip):
// exact sums, and a small buffer of values that, once full, goes into the
// window's histogram under the window's lock. The per-request path takes
// no lock (one per 128 requests), sends on no channel and allocates nothing.
package loadgen

import (
	"context"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/export"
	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/result"
)

// Caller sends one prepared request and waits for its response. A failed
// request is data: it is counted by client.Class, it does not stop the run.
// client.Call satisfies it. A Caller is used by one goroutine at a time.
type Caller interface {
	Do(ctx context.Context) (client.Timing, error)
}

// Connector is a Caller that can connect ahead of its first request.
// client.Connector satisfies it.
type Connector interface {
	Connect(ctx context.Context) error
}

// StatsSource returns the server's cumulative model statistics.
// client.Client satisfies it.
type StatsSource interface {
	ModelStatistics(ctx context.Context, model, version string) (*inferencepb.ModelStatisticsResponse, error)
}

// ComposingModel names a model whose statistics are reported under the
// profiled model's.
type ComposingModel struct {
	// Version "" picks the version whose queue count moved, as for the
	// profiled model.
	Name, Version string
	// Composing are this model's own composing models (a nested ensemble).
	Composing []ComposingModel
}

// Observer is told about progress as it happens, so that stdout can be
// streamed as perf_analyzer does. Calls come from the goroutine running Run,
// one at a time.
type Observer interface {
	// LevelStart is called when a load level begins (not for warm-up).
	LevelStart(mode result.Mode, value float64)
	// Window is called after each measurement window; pass counts from 1
	// within a level.
	Window(pass int, w WindowSummary)
	// LevelEnd is called with the level's merged windows; err says why the
	// level is not reported (unstable, over the latency threshold, failed,
	// cancelled: see StopError), nil when it is.
	LevelEnd(l result.Level, err error)
	// Warn reports something the user should know that does not stop the
	// run (server statistics unavailable, latency accepted as unstable...).
	Warn(msg string)
}

// LiveObserver is an Observer that also reads the run's progress between
// windows (a progress line's current throughput). Run calls Live once,
// before the first level, with completed: the requests completed so far
// (successful or failed, warm-up included). completed may be called from
// any goroutine until Run returns; it takes a lock the workers take when
// they are created, so call it a few times a second, not in a loop.
type LiveObserver interface {
	Observer
	Live(completed func() uint64)
}

// Exporter receives the run's requests for the profile export.
// *export.Writer satisfies it.
//
// Each worker records its successful requests into an export.Buffer of
// its own (one per tally) and hands it to Send when it is full; at each
// window edge the controller sends the partial ones. Level marks the start
// of an experiment: the controller sends it once every worker's records
// so far were sent, so every record sent after it completed after it. An
// experiment runs from its level's start to the next one's: warm-up
// requests belong to the first level, requests completing between two
// levels' windows to the level before, drained ones to the last. Window
// comes after each measurement window, once its records were sent.
//
// A Caller that is a client.OutputKeeper is asked to keep its responses'
// outputs; one with a Sent() int method names which of its prepared
// requests each Do sent (0 otherwise).
type Exporter interface {
	Buffer() *export.Buffer
	Send(b *export.Buffer) *export.Buffer
	Level(mode result.Mode, value float64)
	Window(start, end time.Time)
}

// WindowSummary is one measurement window, for perf_analyzer's verbose
// "Pass [k] throughput: ..." lines, a progress line and interval logs.
type WindowSummary struct {
	// Start is when the window began; it lasted Duration.
	Start    time.Time
	Duration time.Duration
	// Requests completed successfully in the window; Failed completed with an error.
	Requests, Failed uint64
	// Issued requests were sent in the window; Late of them (open loop)
	// more than 1 ms after their intended time.
	Issued, Late uint64
	// Throughput in inferences per second.
	Throughput float64
	// AvgLatency and StdDev (sample) of the successful requests; Latency is
	// the stabilising latency (average or the chosen percentile).
	AvgLatency, StdDev, Latency time.Duration
	// P99 is the 99th percentile latency of the successful requests, for
	// a LiveObserver only (0 for others: no one else shows it).
	P99 time.Duration
	// Histograms are copies of the window's histograms, only with
	// Options.WindowHistograms (nil otherwise).
	Histograms *WindowHistograms
	// Err is set when the window has no valid (successful) request.
	Err error
}

// WindowHistograms are one window's histograms, in nanoseconds: the
// reported latency of its successful requests (Latency.TotalCount equals
// WindowSummary.Requests but for values out of the histogram's range),
// and in open loop their service time and every sent request's schedule
// lag (nil in closed loop). They are copies: the engine reuses its windows.
type WindowHistograms struct {
	Latency, ServiceTime, ScheduleLag *hdr.Snapshot
}

// Open-loop request distributions.
const (
	Constant = "constant"
	Poisson  = "poisson"
)

// Stream latencies (Options.StreamLatency).
const (
	StreamFirst = "first"
	StreamFinal = "final"
)

// Measurement modes.
const (
	TimeWindows  = "time_windows"
	CountWindows = "count_windows"
)

// Options configure a run. Zero values that perf_analyzer would reject take
// perf_analyzer's default (noted per field); other zero values are literal.
type Options struct {
	// Mode is the kind of load: result.Concurrency (default),
	// result.RequestRate or result.Intervals.
	Mode result.Mode
	// Start, End, Step are the sweep range: concurrency (whole numbers) or
	// requests per second. Start 0 means 1, Step 0 means 1; End 0 means an
	// open-ended sweep that only a LatencyThreshold stops. For a single
	// level set End = Start. Ignored in Intervals mode.
	Start, End, Step float64
	// BinarySearch bisects [Start, End] for the highest level under
	// LatencyThreshold, with Step as the precision.
	BinarySearch bool
	// BatchSize is the batch of every request (inferences per request); 0 means 1.
	BatchSize int

	// MeasurementMode is TimeWindows (default) or CountWindows.
	MeasurementMode string
	// MeasurementInterval is a time window's length; 0 means 5 s.
	MeasurementInterval time.Duration
	// MeasurementRequestCount is a count window's minimum of completed
	// requests; 0 means 50.
	MeasurementRequestCount int
	// StabilityPercentage is the allowed max/min spread over the last 3
	// windows, in percent (perf_analyzer's default is 10; 0 demands equality).
	StabilityPercentage float64
	// MaxTrials is the most windows per level; 0 means 10. Below 3 the
	// stability test cannot pass: the merged windows are reported with
	// Stable=false and the sweep goes on.
	MaxTrials int
	// Percentile (0-100, fractions allowed) is the stabilising latency; 0
	// means the average latency.
	Percentile float64
	// LatencyThreshold stops the sweep at the first level whose stabilising
	// latency reaches it; 0 means no limit.
	LatencyThreshold time.Duration

	// RequestCount > 0 measures each level as one window of exactly this
	// many requests, declared stable without a test.
	RequestCount int
	// WarmupRequestCount requests are sent and discarded before the first
	// level (closed loop: at concurrency min(Start, WarmupRequestCount)).
	WarmupRequestCount int

	// Model and Version select the server statistics; an empty Version
	// picks the version whose queue count moved.
	Model, Version string
	// NewCaller makes worker's Caller; it is called once per worker, as
	// workers are first needed, and the Caller is reused across levels.
	NewCaller func(worker int) (Caller, error)
	// ProcessCPU reads the process's CPU clock at window edges; nil reads
	// the process's own (getrusage, and the kernel's scheduler statistics
	// for the wait). CPUs is how many CPUs perfgo may use; 0 means
	// GOMAXPROCS. Each level's ClientStats.CPUShare and CPUWaitShare are
	// the CPU time used and waited for over those CPUs' time; more than
	// 80% together is a warning.
	ProcessCPU func() CPUTime
	CPUs       int

	// Stats, when set, is asked for statistics at every window boundary.
	Stats StatsSource
	// Composing are the models whose statistics are reported under Model's
	// (result.ServerStats.Composing): an ensemble's steps, the models a BLS
	// model calls. With any, each boundary asks for every model's
	// statistics in one call, as perf_analyzer does.
	Composing []ComposingModel
	// Observer may be nil.
	Observer Observer
	// WindowHistograms copies each window's histograms into its
	// WindowSummary (about 264 KiB each, once per window); off, the
	// summaries cost no copy.
	WindowHistograms bool

	// Distribution is the open-loop arrival process in RequestRate mode:
	// Constant (default) or Poisson.
	Distribution string
	// Seed seeds the Poisson schedule; 0 picks a random seed, reported in
	// the result's Settings.Seed so that the run can be reproduced.
	Seed int64
	// Intervals are the gaps between requests in Intervals mode, repeated.
	Intervals []time.Duration
	// MaxInFlight caps the open-loop worker pool; 0 means 1024. When every
	// worker is busy a due request waits for one and is counted late.
	MaxInFlight int

	// DrainTimeout is how long requests still in flight when a level or
	// the run ends (or ctx is cancelled) may take before they are
	// cancelled and counted as failed (class "cancelled"); 0 means 5 s,
	// negative cancels them at once.
	DrainTimeout time.Duration
	// Abandon, when closed, cancels every request in flight at once (a
	// second Ctrl-C): Run then returns without waiting for the server.
	Abandon <-chan struct{}
	// FailureLimit is the percentage of failed requests above which a
	// level is marked OverFailureLimit; 0 marks any failure.
	FailureLimit float64

	// Streaming: Callers return their responses' timing (client.Timing's
	// stream fields), recorded as time to first response, between
	// responses and to the final response.
	Streaming bool
	// StreamLatency is which latency is reported, stabilised and compared
	// with LatencyThreshold when Streaming: StreamFirst (default) or
	// StreamFinal.
	StreamLatency string

	// Sequences, when set, makes every request part of a sequence (a
	// stateful model); Callers must then be SequenceCallers.
	Sequences *SequenceOptions

	// Export, when set, gets a record of every successful request (the
	// profile export), the levels and their windows; see Exporter.
	Export Exporter

	// coarseTimers waits on Go timers alone: for tests on a fake clock,
	// which cannot drive a kernel timer.
	coarseTimers bool
}
