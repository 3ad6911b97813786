// Package result holds what a perfgo run measured, as plain data.
//
// The load engine produces these values and every report (stdout table, CSV,
// JSON, later compare/merge) is a view of them, so nothing here measures,
// locks or reads a clock. Latency distributions are kept as HDR histogram
// snapshots so that results can be saved and merged without loss.
package result

import (
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Mode is the kind of load a level applied.
type Mode string

const (
	// Concurrency keeps N requests outstanding (closed loop).
	Concurrency Mode = "concurrency"
	// RequestRate issues requests on a schedule whatever the server does (open loop).
	RequestRate Mode = "request_rate"
	// Intervals issues requests at user-supplied gaps (open loop, one level).
	Intervals Mode = "intervals"
)

// StopReason says why a run ended; a partial run is never silent.
type StopReason int

const (
	// StopCompleted: every level asked for was measured.
	StopCompleted StopReason = iota
	// StopLatencyThreshold: a level went over -l; the sweep stopped as asked.
	StopLatencyThreshold
	// StopUnstable: a level did not stabilise within the allowed windows.
	StopUnstable
	// StopNoValidRequests: a window saw no completed request.
	StopNoValidRequests
	// StopCancelled: the user interrupted the run (Ctrl-C) or its deadline passed.
	StopCancelled
	// StopError: the server or the client failed in a way that ends the run.
	StopError
)

func (r StopReason) String() string {
	switch r {
	case StopCompleted:
		return "completed"
	case StopLatencyThreshold:
		return "latency_threshold"
	case StopUnstable:
		return "unstable"
	case StopNoValidRequests:
		return "no_valid_requests"
	case StopCancelled:
		return "cancelled"
	case StopError:
		return "error"
	}
	return "unknown"
}

// Run is a whole sweep: the settings it ran with and the levels it reported.
type Run struct {
	Settings Settings
	// Levels are the reported levels in the order they were measured
	// (probe order for binary search), as perf_analyzer prints them.
	Levels []Level
	// Unreported are levels that were measured but not reported, because
	// they did not stabilise or went over the latency threshold (binary
	// search probes included): the merged last windows, Stable false.
	// perf_analyzer drops them; perfgo keeps them for the JSON report.
	Unreported []Level
	Stop       StopReason
	// Drained counts the requests that completed outside every window: in
	// flight when a level or the run ended, they finished while draining,
	// or were cancelled after Settings.DrainTimeout (class "cancelled").
	Drained         Counts
	DrainedFailures []ClassCount
	// StopMessage is the one-line explanation printed for a stop other than
	// StopCompleted (e.g. "Measured latency went over the set limit of 5 msec.").
	StopMessage string
}

// Settings are the measurement settings printed in the report header.
type Settings struct {
	Model    string
	Version  string
	Protocol string // "http" or "grpc"
	URL      string
	// ServiceKind is perf_analyzer's upper-case kind name ("TRITON").
	ServiceKind string
	BatchSize   int
	Mode        Mode

	WarmupRequests int
	// RequestCount > 0 means one count window of exactly that many requests.
	RequestCount            int
	MeasurementMode         string // "time_windows" or "count_windows"
	MeasurementInterval     time.Duration
	MeasurementRequestCount int
	StabilityPercentage     float64
	MaxTrials               int
	// Percentile is the stabilising percentile; 0 means the average latency
	// (perf_analyzer's --percentile=-1). Fractions such as 99.9 are allowed.
	Percentile       float64
	LatencyThreshold time.Duration // 0: no limit

	RangeStart, RangeEnd, RangeStep float64
	BinarySearch                    bool
	Async                           bool

	// Request-rate modes.
	Distribution string // "constant" or "poisson"
	Seed         int64
	// LatencyOrigin names the instant latency is measured from:
	// "send" (closed loop) or "intended" (open loop, free of coordinated omission).
	LatencyOrigin string

	Decoupled bool
	// Streaming: requests went on streams (gRPC ModelStreamInfer, or HTTP
	// generate_stream), so each request's responses were timed one by one
	// (ClientStats.Stream).
	Streaming bool
	// StreamLatency names the latency Client.Latency holds, stabilises on
	// and compares with the threshold when Streaming: "first" (time to
	// first response) or "final" (time to the final response).
	StreamLatency string
	// Sequence is set for stateful (sequence) models.
	Sequence *SequenceSettings

	ServerStats   bool // the server offered the statistics extension
	ResponseCache bool // the model has the response cache enabled
	// NoModelConfig: the server gave no model configuration, so a leading
	// -1 in each input's shape was taken as the batch dimension.
	NoModelConfig bool
	// FailureLimit is the percentage of failed requests above which a level
	// is marked OverFailureLimit (and the run exits with its own code).
	FailureLimit float64
	// CPUs is how many CPUs perfgo could use (GOMAXPROCS).
	CPUs int
	// RequestTimeout bounds each request (0: none); DrainTimeout is how long
	// requests still in flight at the end of a level or run may take before
	// they are cancelled and counted as failed (class "cancelled").
	RequestTimeout, DrainTimeout time.Duration
	// SLOs are the service-level objectives the levels are judged on
	// (--slo), normalised ("p99<=20ms"); SLOMode is "all" or "any"
	// (--slo-mode), empty without SLOs. pkg/slo parses and judges them.
	SLOs    []string
	SLOMode string
	// Metrics is set when the server's Prometheus metrics were collected
	// (--collect-metrics).
	Metrics *MetricsSettings
}

// SequenceSettings are how sequences were made (perf_analyzer's §1.5 options).
type SequenceSettings struct {
	// Length is the base number of requests per sequence (0: each data
	// stream's step count); Variation the ± percentage of each new
	// sequence's random length.
	Length    int
	Variation float64
	// IDStart and IDEnd bound the sequence ids, IDEnd exclusive (0: 2^32).
	IDStart, IDEnd uint64
	// StringID: the model's correlation id is a string.
	StringID bool
	// Live is the number of sequences open at once in open loop
	// (--num-of-sequences); in closed loop it is the concurrency.
	Live int
	// Serial: at most one request of a sequence in flight (open loop).
	Serial bool
}

// Level is one reported load level: the last (up to three) windows merged.
type Level struct {
	Mode  Mode
	Value float64 // concurrency N, or requests per second
	// Windows is how many windows were measured before the level ended.
	Windows int
	Stable  bool
	Client  ClientStats
	// Server is nil when the server offers no statistics.
	Server *ServerStats
	// Failures counts failed requests by status class ("grpc:UNAVAILABLE",
	// "http:503", "timeout", ...), sorted by class, over every window of
	// the level (Total), not only the windows merged into Client: a server
	// that restarted in an early window must not look clean.
	Failures []ClassCount
	// Total counts the requests that completed in every window of the
	// level, successful and failed.
	Total Counts
	// Passes are every window measured at this level, oldest first.
	Passes []Pass
	// OverFailureLimit: more than Settings.FailureLimit percent of Total
	// failed, so the level's figures describe a failing server.
	OverFailureLimit bool
	// Metrics are the server's Prometheus metrics over the merged windows
	// (--collect-metrics); nil when not collected or no scrape fell in them.
	Metrics *Metrics
}

// Counts are completed requests: Requests succeeded, Failed did not.
type Counts struct {
	Requests, Failed uint64
}

// FailedPercent is the share of failed requests in percent, 0 when none completed.
func (c Counts) FailedPercent() float64 {
	if c.Requests+c.Failed == 0 {
		return 0
	}
	return 100 * float64(c.Failed) / float64(c.Requests+c.Failed)
}

// Pass is one measurement window, as perf_analyzer's verbose "Pass [k]"
// lines describe it, with its failures.
type Pass struct {
	Duration time.Duration
	// Requests completed successfully, Failed completed with an error,
	// Issued were sent (open loop: Late of them more than 1 ms late).
	Requests, Failed, Issued, Late uint64
	Failures                       []ClassCount
	// Throughput in inferences per second; Latency is the stabilising
	// latency (average or the chosen percentile), 0 without a valid request.
	Throughput float64
	Latency    time.Duration
	// ServerStats: the server's statistics were available for this window.
	ServerStats bool
}

// ClassCount is the number of failed requests of one status class.
type ClassCount struct {
	Class string
	Count uint64
	// First is the first such failure's error message, when known.
	First string
}

// ClientStats are the client's view of the merged windows.
type ClientStats struct {
	// Requests is the number of successful requests that completed in the
	// merged windows; Inferences = Requests × batch size.
	Requests   uint64
	Inferences uint64
	Failed     uint64
	Responses  uint64 // decoupled models: responses received
	Duration   time.Duration
	// Throughput in inferences per second: Inferences / Duration.
	Throughput         float64
	ResponseThroughput float64

	// Latency is the reported latency: from the actual send in closed loop,
	// from the intended send in open loop.
	Latency Distribution
	// ServiceTime (open loop only) is measured from the actual send.
	ServiceTime *Distribution
	// ScheduleLag (open loop only) is actual send minus intended send, of
	// the requests sent in the windows (latency and service time are of
	// those that completed in them: under overload, different requests).
	ScheduleLag *Distribution
	// SendRate is requests issued per second; Late counts requests sent
	// more than 1 ms after their intended time.
	SendRate float64
	Late     uint64
	Issued   uint64
	// Overhead is the share (0–1) of the workers' time spent in perfgo
	// between requests rather than in one or waiting for one's due time:
	// perf_analyzer's "client overhead", which warns above 0.5.
	Overhead float64

	// Client library time split, averaged over completed requests:
	// RequestTime is the library's request start→end; Send and Recv its
	// marshal/send and receive/unmarshal parts. Wait = RequestTime−Send−Recv.
	RequestTime time.Duration
	Send        time.Duration
	Recv        time.Duration

	// CPU is the CPU time (user and system) perfgo's process used in the
	// merged windows, CPUWait the time its threads were ready to run but
	// waited for a CPU; the shares are over the time of the CPUs perfgo
	// may use (Settings.CPUs) in those windows. Above 0.8 together, the
	// client was at its limit and the figures may measure it, not the
	// server.
	CPU, CPUWait           time.Duration
	CPUShare, CPUWaitShare float64

	// OutOfRange counts latencies that did not fit the histogram's range;
	// they are counted here, never dropped silently.
	OutOfRange uint64

	// Stream is set when requests went on streams (Settings.Streaming).
	Stream *StreamStats
	// Sequences counts the sequences that ended in the merged windows
	// (stateful models); SequenceRate is per second.
	Sequences    uint64
	SequenceRate float64
}

// StreamStats describe the responses of streamed requests, over the
// successful requests of the merged windows.
type StreamStats struct {
	// First is the time to the first response that carried outputs (from
	// the intended send in open loop, as Latency); Between the times
	// between consecutive responses of one request; Final the time to the
	// final response (the request's latency).
	First, Between, Final Distribution
	// PerRequest is the mean number of responses that carried outputs
	// per request (ClientStats.Responses and ResponseThroughput count them).
	PerRequest float64
	// Elements counts the BYTES (text) output elements of those responses
	// (a token per response when the server streams one token each);
	// ElementThroughput is per second. 0 when the outputs hold no text.
	Elements          uint64
	ElementThroughput float64
}

// Wait is the response wait part of the client library time.
func (c ClientStats) Wait() time.Duration {
	w := c.RequestTime - c.Send - c.Recv
	if w < 0 {
		return 0
	}
	return w
}

// Distribution summarises a latency histogram; Hist keeps the full data.
type Distribution struct {
	Count  int64
	Mean   time.Duration
	StdDev time.Duration
	Min    time.Duration
	Max    time.Duration
	// Hist is the histogram in nanoseconds, for exact percentiles, merging
	// and export. It may be nil in hand-built values (tests).
	Hist *hdrhistogram.Snapshot
	// Quantiles caches percentiles computed when the distribution was made.
	Quantiles []Quantile
}

// LevelName names a level as every report, message and verdict does:
// "concurrency 4", "request rate 250.5" (a rate with at most six
// significant digits, as perf_analyzer prints doubles).
func LevelName(mode Mode, value float64) string {
	if mode == Concurrency {
		return "concurrency " + strconv.FormatFloat(value, 'f', -1, 64)
	}
	return "request rate " + strconv.FormatFloat(value, 'g', 6, 64)
}

// Quantile is one percentile (0–100) and its value.
type Quantile struct {
	Percentile float64
	Value      time.Duration
}

// Percentile returns the value at p (0–100): from the cached quantiles when
// present, else from the histogram, else 0.
func (d Distribution) Percentile(p float64) time.Duration {
	for _, q := range d.Quantiles {
		if q.Percentile == p {
			return q.Value
		}
	}
	if d.Hist == nil {
		return 0
	}
	return time.Duration(hdrhistogram.Import(d.Hist).ValueAtQuantile(p))
}

// Stat is a cumulative server counter: how many times and how long in total.
type Stat struct {
	Count uint64
	Ns    uint64
}

// Avg is Ns/Count as a duration, 0 when Count is 0.
func (s Stat) Avg() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return time.Duration(s.Ns / s.Count)
}

// ServerStats are deltas of the server's cumulative statistics over the
// merged windows, for one model.
type ServerStats struct {
	Model, Version string
	InferenceCount uint64
	ExecutionCount uint64
	Success        Stat
	Fail           Stat
	Queue          Stat
	ComputeInput   Stat
	ComputeInfer   Stat
	ComputeOutput  Stat
	CacheHit       Stat
	CacheMiss      Stat
	// Composing holds ensemble / BLS composing models, if any.
	Composing []ServerStats
}

// ComputeTotal is the average compute time per request (input+infer+output
// divided by the compute count), as perf_analyzer derives it.
func (s ServerStats) ComputeTotal() time.Duration {
	if s.ComputeInput.Count == 0 {
		return 0
	}
	return time.Duration((s.ComputeInput.Ns + s.ComputeInfer.Ns + s.ComputeOutput.Ns) / s.ComputeInput.Count)
}

// Overhead is the server time not spent queueing or computing, clamped at 0.
func (s ServerStats) Overhead() time.Duration {
	o := s.Success.Avg() - s.Queue.Avg() - s.ComputeTotal()
	if o < 0 {
		return 0
	}
	return o
}
