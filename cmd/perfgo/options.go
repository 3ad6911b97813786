package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/perfgo/perfgo/pkg/inputs"
	"github.com/perfgo/perfgo/pkg/loadgen"
	"github.com/perfgo/perfgo/pkg/report"
	"github.com/perfgo/perfgo/pkg/result"
	"github.com/perfgo/perfgo/pkg/slo"
)

// profileOptions are perf_analyzer's options, bound to flags with its names,
// short forms and defaults. Raw flag values are parsed and checked in finish.
type profileOptions struct {
	Model, Version string
	URL            string
	Protocol       string
	BatchSize      int

	concurrencyRange string
	requestRateRange string
	Distribution     string
	IntervalsFile    string
	Seed             int64
	// Load is the parsed mode and range.
	Load loadSpec

	MeasurementMode         string
	MeasurementIntervalMs   int
	MeasurementRequestCount int
	StabilityPercentage     float64
	MaxTrials               int
	Percentile              float64
	LatencyThresholdMs      float64
	BinarySearch            bool
	RequestCount            int
	WarmupRequestCount      int

	// InputData is the generated data (random or zero) of inputs no data
	// file gives; DataPaths are --input-data's directory or JSON files.
	InputData     string
	DataPaths     []string
	inputData     []string
	dataDirectory string
	zeroInput     bool // -z, perf_analyzer's deprecated --input-data zero
	shapes        []string
	Shapes        map[string][]int64
	StringLength  int
	// StringData, when not empty, is every BYTES element (--string-data).
	StringData string

	// SharedMemory is "none" or "system": inputs and outputs in POSIX
	// shared memory regions registered with the server (see shm.go).
	SharedMemory string
	// OutputSharedMemorySize is the bytes of each output's region per
	// batch row, with --shared-memory system.
	OutputSharedMemorySize int64

	requestParams []string
	// RequestParams are the --request-parameter values, sent with every
	// request: bool, int64, uint64, float64 or string.
	RequestParams map[string]any

	headers []string
	Headers map[string]string

	blsComposing string
	// BLSComposing are the --bls-composing-models: models the profiled
	// one calls, whose statistics are shown as composing models.
	BLSComposing []loadgen.ComposingModel

	CSVFile    string
	VerboseCSV bool
	JSONFile   string
	HTMLFile   string
	Verbose    int
	// Summary is what follows perf_analyzer's report on stdout: a table
	// per level ("table"), the same in markdown, or nothing ("none").
	Summary string

	// SLOs are the parsed --slo objectives every reported level is judged
	// on; SLOMode is --slo-mode (see slo.All for the default's reason).
	slos    []string
	SLOs    []slo.Objective
	sloMode string
	SLOMode slo.Mode

	// HDRLogFile receives every window's histograms in HdrHistogram's
	// interval log format (--hdr-log); see hdrLog.
	HDRLogFile string
	// ExportFile receives perf_analyzer's per-request profile export
	// (--profile-export-file), streamed as the run goes; see exportFile.
	ExportFile string
	// Quiet: no progress line on stderr (there is one only when stderr
	// is a terminal and CI is not set).
	Quiet bool

	// deprecated is perf_analyzer's old way to set the concurrency: -t, -c, -d.
	deprecated deprecatedConcurrency

	Async, Sync bool
	MaxThreads  int
	Connections int
	// Timeout bounds one inference request (--request-timeout); 0: none.
	Timeout time.Duration
	// MaxResponseSize bounds the bytes of one response body, so that a
	// runaway server cannot make perfgo buffer without limit.
	MaxResponseSize int64
	// DrainTimeout is how long requests still in flight when a run ends (or
	// at the first Ctrl-C) may take before they are cancelled and counted
	// as failed.
	DrainTimeout time.Duration
	// FailureLimit is the share of failed requests, in percent, above which
	// a level is marked failed and the run exits with code 4.
	FailureLimit float64
	// ControlTimeout bounds each control call: metadata, configuration,
	// statistics, readiness.
	ControlTimeout time.Duration

	// InputTensorFormat and OutputTensorFormat are "binary", "json" or ""
	// (binary, or JSON when the server lacks the binary tensor extension):
	// client.Options' fields of the same names. HTTP only.
	InputTensorFormat, OutputTensorFormat string

	GRPCCompression    string
	SSLGRPCUseSSL      bool
	SSLGRPCRoots       string
	SSLGRPCKey         string
	SSLGRPCCert        string
	SSLHTTPSVerifyPeer int
	SSLHTTPSVerifyHost int
	SSLHTTPSCA         string
	SSLHTTPSCert       string
	SSLHTTPSKey        string
	// SSLHTTPSCertType and SSLHTTPSKeyType are "PEM" or "DER" (upper case):
	// client.TLSOptions.HTTPSClientCertType and HTTPSClientKeyType.
	SSLHTTPSCertType string
	SSLHTTPSKeyType  string

	// Streaming sends every request on a stream (gRPC ModelStreamInfer,
	// HTTP generate_stream); decoupled models imply it. StreamLatency is
	// the latency reported and stabilised on: first or final response.
	Streaming     bool
	StreamLatency string

	// Sequence options (stateful models), perf_analyzer's.
	SequenceLength          int
	sequenceLengthSet       bool // else data streams fix each sequence's length
	SequenceLengthVariation float64
	sequenceIDRange         string
	SequenceIDStart         uint64
	SequenceIDEnd           uint64 // exclusive; 0: 2^32
	NumSequences            int
	SerialSequences         bool

	// Metrics: the server's Prometheus metrics (metrics.go).
	Metrics metricsOptions

	printVersion bool

	// abandon is closed by a second Ctrl-C: requests in flight are
	// cancelled at once, and what was measured is still written.
	abandon <-chan struct{}
}

// loadSpec is the load mode and the levels to sweep.
type loadSpec struct {
	Mode             string // "concurrency", "request_rate" or "intervals"
	Start, End, Step float64
	multiValue       bool
}

// Bounds beyond which a value is a typo or an overflow, never a
// measurement: -p 9999999999999 ms does not fit in a time.Duration, and a
// rate of 1e9/s has a period that rounds to 0 ns.
const (
	maxIntervalMs  = 24 * 60 * 60 * 1000 // -p: one day
	maxLatencyMs   = 60 * 60 * 1000      // -l: one hour
	maxTimeout     = 24 * time.Hour      // --request-timeout, --drain-timeout, --control-timeout
	minRate        = 0.001               // requests/s: one per 1000 s
	maxRate        = 10_000_000          // requests/s: a 100 ns period
	maxConcurrency = math.MaxInt32       // what --concurrency-range parses
)

// Defaults of perfgo's own flags.
const (
	defaultRequestTimeout  = 60 * time.Second
	defaultMaxResponseSize = 64 << 20
	// defaultOutputSharedMemorySize is perf_analyzer's --output-shared-memory-size.
	defaultOutputSharedMemorySize = 102400
	defaultDrainTimeout           = 5 * time.Second
	defaultFailureLimit           = 1 // percent
	defaultControlTimeout         = 10 * time.Second
)

func defaultProfileOptions() *profileOptions {
	return &profileOptions{}
}

func (o *profileOptions) bind(fs *pflag.FlagSet) {
	fs.SortFlags = false
	fs.StringVarP(&o.Model, "model-name", "m", "", "model to profile (required)")
	fs.BoolVar(&o.printVersion, "version", false, "print perfgo's version and exit (as perf_analyzer's --version)")
	fs.StringVarP(&o.Version, "model-version", "x", "", "model version (default: the server's choice)")
	fs.StringVarP(&o.URL, "url", "u", "", "server address host:port (default localhost:8000 for HTTP, localhost:8001 for gRPC)")
	fs.StringVarP(&o.Protocol, "protocol", "i", "http", "protocol: http or grpc")
	fs.IntVarP(&o.BatchSize, "batch-size", "b", 1, "batch size of each request")

	fs.StringVar(&o.concurrencyRange, "concurrency-range", "", "closed loop: start[:end[:step]] requests outstanding; end 0 = until -l is crossed (default 1)")
	fs.StringVar(&o.requestRateRange, "request-rate-range", "", "open loop: start[:end[:step]] requests per second; end 0 = until -l is crossed")
	fs.StringVar(&o.Distribution, "request-distribution", "constant", "request-rate gaps: constant or poisson")
	fs.StringVar(&o.IntervalsFile, "request-intervals", "", "file of gaps between requests in microseconds, one per line, repeated")
	fs.Int64Var(&o.Seed, "seed", 0, "seed for the Poisson schedule and random data (0: random, printed so a run can be repeated)")

	fs.StringVar(&o.MeasurementMode, "measurement-mode", "time_windows", "how a window ends: time_windows or count_windows")
	fs.IntVarP(&o.MeasurementIntervalMs, "measurement-interval", "p", 5000, "time window length in milliseconds (exactly this; perf_analyzer used 1.2x)")
	fs.IntVar(&o.MeasurementRequestCount, "measurement-request-count", 50, "count_windows: requests per window")
	fs.Float64VarP(&o.StabilityPercentage, "stability-percentage", "s", 10, "allowed max/min spread in % over the last 3 windows")
	fs.IntVarP(&o.MaxTrials, "max-trials", "r", 10, "windows per level before giving up on stability")
	fs.Float64Var(&o.Percentile, "percentile", -1, "stabilise and report on this latency percentile (e.g. 95, 99.9); -1 = average")
	fs.Float64VarP(&o.LatencyThresholdMs, "latency-threshold", "l", 0, "stop the sweep when latency reaches this many milliseconds (0 = no limit)")
	fs.BoolVar(&o.BinarySearch, "binary-search", false, "bisect the range for the highest level under -l")
	fs.IntVar(&o.RequestCount, "request-count", 0, "send exactly this many requests in one window (single level)")
	fs.IntVar(&o.WarmupRequestCount, "warmup-request-count", 0, "requests sent and discarded before measuring (single level)")

	fs.StringArrayVar(&o.inputData, "input-data", nil, "input data: random (default), zero, a directory of raw files named after the inputs, or perf_analyzer JSON files (repeatable: each file adds streams)")
	fs.StringVar(&o.dataDirectory, "data-directory", "", "perf_analyzer's deprecated --input-data DIR")
	_ = fs.MarkHidden("data-directory")
	fs.StringArrayVar(&o.shapes, "shape", nil, "concrete dims for a variable-shape input, name:d1,d2,... without the batch dim (repeatable)")
	fs.IntVar(&o.StringLength, "string-length", 128, "length of generated BYTES elements")
	fs.StringVar(&o.StringData, "string-data", "", "every generated BYTES element is this string (overrides --string-length)")
	fs.StringVar(&o.SharedMemory, "shared-memory", "none", "none, or system: inputs and outputs in POSIX shared memory registered with the server (only perfgo's own regions are unregistered)")
	o.OutputSharedMemorySize = defaultOutputSharedMemorySize
	fs.Var((*byteSize)(&o.OutputSharedMemorySize), "output-shared-memory-size", "with --shared-memory system: bytes of each output's region per batch row (KiB, MiB... accepted)")
	fs.StringArrayVar(&o.requestParams, "request-parameter", nil, "request parameter name:value:type, type bool, int, uint, double or string; name up to the first colon, type after the last (repeatable)")
	fs.StringArrayVarP(&o.headers, "header", "H", nil, "extra HTTP header / gRPC metadata Name:Value (repeatable)")

	fs.StringVar(&o.blsComposing, "bls-composing-models", "", "models a BLS model calls, name[:version],... : their server statistics are shown as composing models (as an ensemble's steps are)")
	fs.StringVarP(&o.CSVFile, "latency-report-file", "f", "", "write perf_analyzer's CSV report to this file (and one per composing model, named <model>_v<version>.<file name>)")
	fs.BoolVar(&o.VerboseCSV, "verbose-csv", false, "add perf_analyzer's verbose CSV columns")
	fs.StringVar(&o.JSONFile, "json", "", "write perfgo's JSON report to this file")
	fs.StringVar(&o.HTMLFile, "html", "", "write a self-contained HTML report (charts and tables, works offline) to this file")
	fs.CountVarP(&o.Verbose, "verbose", "v", "print each measurement window (-v)")
	fs.StringVar(&o.Summary, "summary", report.FormatTable, "after perf_analyzer's report, a summary per level: table, markdown (for CI job summaries and pull-request comments) or none")
	fs.StringArrayVar(&o.slos, "slo", nil, "service-level objective METRIC OP NUMBER[UNIT] every reported level is judged on, e.g. p99<=20ms, p99.9<50ms, avg<=3ms, throughput>=1000, errors<=0.1%, lag.p99<=1ms (open loop), first.p99<=200ms (streams); repeatable; a miss exits with code 5")
	fs.StringVar(&o.sloMode, "slo-mode", string(slo.All), "all: every reported level must meet every --slo; any: at least one level must")
	fs.StringVar(&o.ExportFile, "profile-export-file", "", "write perf_analyzer's per-request export (send and response timestamps, inputs, outputs, windows) to this new file, streamed to disk as the run goes; an existing file is refused")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress line on stderr (shown only when stderr is a terminal and CI is unset, \"false\" or \"0\")")
	fs.StringVar(&o.HDRLogFile, "hdr-log", "", "write every window's latency histogram (open loop: also service time and schedule lag) to this file in HdrHistogram's interval log format; values in ns, max column in ms")

	fs.BoolVarP(&o.Async, "async", "a", false, "accepted for compatibility: perfgo always keeps every requested request in flight")
	fs.BoolVar(&o.Sync, "sync", false, "accepted for compatibility (see --async)")
	fs.IntVar(&o.MaxThreads, "max-threads", 0, "open loop: most requests in flight at once (default 1024); accepted in closed loop")
	fs.IntVar(&o.Connections, "connections", 0, "connections to the server (default: 1 per worker; over gRPC a number here makes the workers share that many grpc-go connections)")
	fs.DurationVar(&o.Timeout, "request-timeout", defaultRequestTimeout, "fail a request that takes longer than this (0 = no limit)")
	// pflag would print the default as 1m0s.
	fs.Lookup("request-timeout").DefValue = "60s"
	o.MaxResponseSize = defaultMaxResponseSize // fs.Var takes the current value as the default
	fs.Var((*byteSize)(&o.MaxResponseSize), "max-response-size", "fail a response larger than this: bytes, or a number with KiB, MiB, GiB (or KB, MB, GB: powers of 1000)")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", defaultDrainTimeout, "at the end of a run or the first Ctrl-C, how long requests in flight may take before they are cancelled and counted as failed")
	fs.Float64Var(&o.FailureLimit, "failure-limit", defaultFailureLimit, "mark a level failed (exit code 4) when more than this % of its requests failed")
	fs.DurationVar(&o.ControlTimeout, "control-timeout", defaultControlTimeout, "bound on each control call: metadata, configuration, statistics, readiness")
	fs.StringVar(&o.InputTensorFormat, "input-tensor-format", "", "HTTP: send inputs as binary or json (default binary; json when the server lacks the binary tensor extension)")
	fs.StringVar(&o.OutputTensorFormat, "output-tensor-format", "", "HTTP: ask for outputs as binary or json (default binary; json when the server lacks the binary tensor extension)")

	fs.BoolVar(&o.Streaming, "streaming", false, "send requests on streams: gRPC ModelStreamInfer, HTTP generate_stream (server-sent events); implied for decoupled models")
	fs.StringVar(&o.StreamLatency, "stream-latency", "first", "on streams, the latency reported, stabilised on and compared with -l: first (time to first response) or final (time to the final response)")
	fs.IntVar(&o.SequenceLength, "sequence-length", 20, "stateful models: requests per sequence (default: with --input-data streams, each stream's steps)")
	fs.Float64Var(&o.SequenceLengthVariation, "sequence-length-variation", 20, "stateful models: each sequence's length varies by up to this % around --sequence-length")
	fs.StringVar(&o.sequenceIDRange, "sequence-id-range", "", "stateful models: sequence ids start[:end], end exclusive (default 1:4294967296)")
	fs.IntVar(&o.NumSequences, "num-of-sequences", 4, "stateful models, open loop: sequences open at once")
	fs.BoolVar(&o.SerialSequences, "serial-sequences", false, "stateful models, open loop: at most one request of a sequence in flight")

	fs.StringVar(&o.GRPCCompression, "grpc-compression-algorithm", "none", "gRPC compression: none or gzip")
	fs.BoolVar(&o.SSLGRPCUseSSL, "ssl-grpc-use-ssl", false, "use TLS for gRPC")
	fs.StringVar(&o.SSLGRPCRoots, "ssl-grpc-root-certifications-file", "", "PEM file of server root certificates")
	fs.StringVar(&o.SSLGRPCKey, "ssl-grpc-private-key-file", "", "PEM client private key")
	fs.StringVar(&o.SSLGRPCCert, "ssl-grpc-certificate-chain-file", "", "PEM client certificate chain")
	fs.IntVar(&o.SSLHTTPSVerifyPeer, "ssl-https-verify-peer", 1, "HTTPS: verify the server certificate (0 or 1)")
	fs.IntVar(&o.SSLHTTPSVerifyHost, "ssl-https-verify-host", 2, "HTTPS: verify the server host name (0, 1 or 2)")
	fs.StringVar(&o.SSLHTTPSCA, "ssl-https-ca-certificates-file", "", "HTTPS: CA bundle file")
	fs.StringVar(&o.SSLHTTPSCert, "ssl-https-client-certificate-file", "", "HTTPS: client certificate file")
	fs.StringVar(&o.SSLHTTPSCertType, "ssl-https-client-certificate-type", "PEM", "HTTPS: client certificate encoding, PEM or DER")
	fs.StringVar(&o.SSLHTTPSKey, "ssl-https-private-key-file", "", "HTTPS: client private key file")
	fs.StringVar(&o.SSLHTTPSKeyType, "ssl-https-private-key-type", "PEM", "HTTPS: client private key encoding, PEM or DER")

	o.Metrics.bind(fs)
	o.bindCompat(fs)
}

// finish parses and checks the flag values, perf_analyzer's rules first.
func (o *profileOptions) finish(fs *pflag.FlagSet) error {
	if err := o.parseInputData(); err != nil {
		return err
	}
	if err := o.finishCompat(fs); err != nil {
		return err
	}
	if o.Model == "" {
		return usagef("-m is required: name the model to profile, e.g. -m simple")
	}
	o.Protocol = strings.ToLower(o.Protocol)
	switch o.Protocol {
	case "http", "grpc":
	default:
		return usagef("-i %q: the protocol must be http or grpc", o.Protocol)
	}
	if o.URL == "" {
		o.URL = "localhost:8000"
		if o.Protocol == "grpc" {
			o.URL = "localhost:8001"
		}
	}
	if o.BatchSize <= 0 {
		return usagef("-b %d: the batch size must be at least 1", o.BatchSize)
	}
	bls, err := parseComposing(o.blsComposing)
	if err != nil {
		return err
	}
	o.BLSComposing = bls
	if err := o.parseLoad(fs); err != nil {
		return err
	}
	switch o.MeasurementMode {
	case "time_windows", "count_windows":
	default:
		return usagef("--measurement-mode %q: use time_windows or count_windows", o.MeasurementMode)
	}
	if o.MeasurementIntervalMs <= 0 || o.MeasurementIntervalMs > maxIntervalMs {
		return usagef("-p %d: the measurement interval must be 1 to %d ms (24 h)", o.MeasurementIntervalMs, maxIntervalMs)
	}
	if o.MeasurementRequestCount <= 0 {
		return usagef("--measurement-request-count %d: must be at least 1", o.MeasurementRequestCount)
	}
	if o.StabilityPercentage < 0 || math.IsNaN(o.StabilityPercentage) {
		return usagef("-s %v: the stability percentage must be 0 or more", o.StabilityPercentage)
	}
	if o.MaxTrials <= 0 {
		return usagef("-r %d: max trials must be at least 1", o.MaxTrials)
	}
	if o.Percentile != -1 && (o.Percentile <= 0 || o.Percentile >= 100 || math.IsNaN(o.Percentile)) {
		return usagef("--percentile %v: use a value between 0 and 100 (e.g. 95 or 99.9), or -1 for the average", o.Percentile)
	}
	if !(o.LatencyThresholdMs >= 0 && o.LatencyThresholdMs <= maxLatencyMs) {
		return usagef("-l %v: the latency threshold must be 0 (no limit) to %d ms (1 h)", o.LatencyThresholdMs, maxLatencyMs)
	}
	if o.Load.End == 0 && o.LatencyThresholdMs == 0 && o.Load.Mode != "intervals" {
		return usagef("an open-ended range (end 0) needs a latency threshold to stop: add -l MSEC, or give an end")
	}
	if o.BinarySearch {
		switch {
		case o.Load.Mode == "intervals":
			return usagef("--binary-search does not apply to --request-intervals (there is one level)")
		case o.Load.End == 0 || !o.Load.multiValue:
			return usagef("--binary-search needs a range with a non-zero end, e.g. --concurrency-range 1:64")
		case o.Load.End < o.Load.Start:
			return usagef("--binary-search needs end >= start in the range")
		case o.LatencyThresholdMs == 0:
			return usagef("--binary-search needs -l MSEC, the latency it searches under")
		}
	}
	if o.RequestCount < 0 {
		return usagef("--request-count %d: must be 0 (windows) or more", o.RequestCount)
	}
	if o.RequestCount > 0 {
		if o.Load.multiValue {
			return usagef("--request-count needs a single level, not a range")
		}
		if o.Load.Mode == "concurrency" && float64(o.RequestCount) < o.Load.Start {
			return usagef("--request-count %d is less than the concurrency %v; send at least one request per worker", o.RequestCount, o.Load.Start)
		}
	}
	if o.WarmupRequestCount < 0 {
		return usagef("--warmup-request-count %d: must be 0 or more", o.WarmupRequestCount)
	}
	if o.WarmupRequestCount > 0 && o.Load.multiValue {
		return usagef("--warmup-request-count needs a single level, not a range")
	}
	switch o.SharedMemory {
	case "none", "system":
	case "cuda":
		return usagef("--shared-memory cuda is not implemented in perfgo: this build has no GPU support")
	default:
		return usagef("--shared-memory %q: use none or system (perf_analyzer's cuda needs a GPU build)", o.SharedMemory)
	}
	if o.SharedMemory == "system" && o.OutputSharedMemorySize <= 0 {
		return usagef("--output-shared-memory-size %d: each output's region needs at least 1 byte", o.OutputSharedMemorySize)
	}
	if o.StringLength <= 0 {
		return usagef("--string-length %d: must be at least 1", o.StringLength)
	}
	o.Shapes = map[string][]int64{}
	for _, s := range o.shapes {
		name, dims, err := inputs.ParseShape(s)
		if err != nil {
			return &usageErr{err.Error()}
		}
		o.Shapes[name] = dims
	}
	params, err := parseRequestParams(o.requestParams)
	if err != nil {
		return err
	}
	o.RequestParams = params
	o.Headers = map[string]string{}
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return usagef("-H %q: want Name:Value", h)
		}
		o.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	if o.Async && o.Sync {
		return usagef("--async and --sync cannot be used together")
	}
	if o.MaxThreads < 0 || o.Connections < 0 {
		return usagef("--max-threads and --connections must not be negative")
	}
	if err := o.finishOwn(); err != nil {
		return err
	}
	if err := o.finishSLOs(); err != nil {
		return err
	}
	if err := o.finishStreams(fs); err != nil {
		return err
	}
	if err := o.Metrics.finish(fs, o.URL); err != nil {
		return err
	}
	switch o.GRPCCompression {
	case "none", "gzip":
	default:
		return usagef("--grpc-compression-algorithm %q: use none or gzip", o.GRPCCompression)
	}
	if o.Protocol != "grpc" {
		if o.GRPCCompression != "none" {
			return usagef("--grpc-compression-algorithm needs -i grpc")
		}
		if o.SSLGRPCUseSSL || o.SSLGRPCRoots != "" || o.SSLGRPCKey != "" || o.SSLGRPCCert != "" {
			return usagef("the --ssl-grpc-* options need -i grpc")
		}
	}
	if o.SSLHTTPSVerifyPeer < 0 || o.SSLHTTPSVerifyPeer > 1 {
		return usagef("--ssl-https-verify-peer %d: use 0 or 1", o.SSLHTTPSVerifyPeer)
	}
	if o.SSLHTTPSVerifyHost < 0 || o.SSLHTTPSVerifyHost > 2 {
		return usagef("--ssl-https-verify-host %d: use 0, 1 or 2", o.SSLHTTPSVerifyHost)
	}
	for _, c := range []struct {
		flag    string
		value   *string
		canon   func(string) string
		allowed []string
	}{
		{"--ssl-https-client-certificate-type", &o.SSLHTTPSCertType, strings.ToUpper, []string{"PEM", "DER"}},
		{"--ssl-https-private-key-type", &o.SSLHTTPSKeyType, strings.ToUpper, []string{"PEM", "DER"}},
		{"--input-tensor-format", &o.InputTensorFormat, strings.ToLower, []string{"", "binary", "json"}},
		{"--output-tensor-format", &o.OutputTensorFormat, strings.ToLower, []string{"", "binary", "json"}},
	} {
		*c.value = c.canon(*c.value)
		if !slices.Contains(c.allowed, *c.value) {
			return usagef("%s %q: use %s", c.flag, *c.value, strings.Join(c.allowed[len(c.allowed)-2:], " or "))
		}
	}
	if o.Protocol == "grpc" && (o.InputTensorFormat == "json" || o.OutputTensorFormat == "json") {
		// perf_analyzer ignores the format over gRPC; sending binary while
		// the flag says json would misreport what was measured.
		return usagef("--input-tensor-format/--output-tensor-format json need -i http: gRPC always carries tensors in binary")
	}
	return nil
}

// finishOwn checks perfgo's own timeouts and limits.
func (o *profileOptions) finishOwn() error {
	switch {
	case o.Timeout < 0 || o.Timeout > maxTimeout:
		return usagef("--request-timeout %v: use 0 (no limit) up to %v", o.Timeout, maxTimeout)
	case o.DrainTimeout < 0 || o.DrainTimeout > maxTimeout:
		return usagef("--drain-timeout %v: use 0 (cancel at once) up to %v", o.DrainTimeout, maxTimeout)
	case o.ControlTimeout <= 0 || o.ControlTimeout > maxTimeout:
		return usagef("--control-timeout %v: use more than 0, up to %v", o.ControlTimeout, maxTimeout)
	case !(o.FailureLimit >= 0 && o.FailureLimit <= 100):
		return usagef("--failure-limit %v: use a percentage from 0 to 100", o.FailureLimit)
	case o.MaxResponseSize <= 0:
		return usagef("--max-response-size %v: use more than 0 bytes, e.g. 64MiB", byteSize(o.MaxResponseSize))
	}
	return nil
}

// finishSLOs checks --summary and parses --slo and --slo-mode. A metric the
// load mode cannot measure (lag.p99 in closed loop) is refused here; one
// that needs streams waits for discovery, since a decoupled model streams
// without --streaming.
func (o *profileOptions) finishSLOs() error {
	switch o.Summary {
	case report.FormatTable, report.FormatMarkdown, "none":
	default:
		return usagef("--summary %q: use table, markdown or none", o.Summary)
	}
	mode, err := slo.ParseMode(o.sloMode)
	if err != nil {
		return usagef("--slo-mode %q: use all (every reported level must meet every SLO) or any (at least one level must)", o.sloMode)
	}
	o.SLOMode = mode
	if o.SLOs, err = slo.ParseAll(o.slos); err != nil {
		return usagef("--slo %v", err)
	}
	if err := slo.Check(o.SLOs, result.Settings{Mode: result.Mode(o.Load.Mode), Streaming: true}); err != nil {
		return &usageErr{err.Error()}
	}
	return nil
}

// parseLoad picks the one load mode and parses its range.
func (o *profileOptions) parseLoad(fs *pflag.FlagSet) error {
	var modes []string
	if o.deprecated.given(fs) {
		modes = append(modes, "-t/-c/-d")
	}
	for _, name := range []string{"concurrency-range", "request-rate-range", "request-intervals"} {
		if fs.Changed(name) {
			modes = append(modes, "--"+name)
		}
	}
	if len(modes) > 1 {
		return usagef("%s and %s cannot be used together: choose one load mode", modes[0], modes[1])
	}
	switch {
	case fs.Changed("request-rate-range"):
		spec, err := parseRange("--request-rate-range", o.requestRateRange, false)
		if err != nil {
			return err
		}
		if err := checkRates(o.requestRateRange, spec); err != nil {
			return err
		}
		spec.Mode = "request_rate"
		o.Load = spec
	case fs.Changed("request-intervals"):
		if o.IntervalsFile == "" {
			return usagef("--request-intervals needs a file name")
		}
		o.Load = loadSpec{Mode: "intervals", Start: 1, End: 1, Step: 1}
	default:
		flag, value := "--concurrency-range", o.concurrencyRange
		if o.deprecated.given(fs) {
			flag, value = "-t/-c/-d", o.deprecated.rangeValue(fs)
		}
		if value == "" {
			value = "1"
		}
		spec, err := parseRange(flag, value, true)
		if err != nil {
			return err
		}
		spec.Mode = "concurrency"
		o.Load = spec
	}
	switch o.Distribution {
	case "constant", "poisson":
	default:
		return usagef("--request-distribution %q: use constant or poisson", o.Distribution)
	}
	return nil
}

// parseRange parses start[:end[:step]]. An omitted end means a single
// level; end 0 means open-ended.
func parseRange(flag, value string, integers bool) (loadSpec, error) {
	fields := strings.Split(value, ":")
	if len(fields) > 3 {
		return loadSpec{}, usagef("%s %q: want start[:end[:step]]", flag, value)
	}
	nums := make([]float64, len(fields))
	for i, f := range fields {
		var v float64
		var err error
		if integers {
			var n int64
			n, err = strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			v = float64(n)
		} else {
			v, err = strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err == nil && (math.IsInf(v, 0) || math.IsNaN(v)) {
				err = fmt.Errorf("not finite")
			}
		}
		if errors.Is(err, strconv.ErrRange) && integers {
			return loadSpec{}, usagef("%s %q: %q is too large: use at most %d", flag, value, f, maxConcurrency)
		}
		if err != nil || v < 0 {
			kind := "a number"
			if integers {
				kind = "a whole number"
			}
			return loadSpec{}, usagef("%s %q: %q must be %s of 0 or more", flag, value, f, kind)
		}
		nums[i] = v
	}
	spec := loadSpec{Start: nums[0], End: nums[0], Step: 1}
	if len(nums) > 1 {
		spec.End = nums[1]
		spec.multiValue = spec.End != spec.Start
	}
	if len(nums) > 2 {
		spec.Step = nums[2]
	}
	if spec.Start <= 0 {
		return loadSpec{}, usagef("%s %q: the start must be more than 0", flag, value)
	}
	if spec.Step <= 0 {
		return loadSpec{}, usagef("%s %q: the step must be more than 0", flag, value)
	}
	if spec.End != 0 && spec.End < spec.Start {
		return loadSpec{}, usagef("%s %q: the end must be 0 (open-ended) or at least the start", flag, value)
	}
	return spec, nil
}

// checkRates bounds a request-rate range: below minRate the period of a
// request does not fit in a time.Duration, above maxRate it is under 100 ns
// (at 1e9/s it rounds to 0).
func checkRates(value string, spec loadSpec) error {
	for _, r := range []struct {
		what string
		v    float64
	}{{"start", spec.Start}, {"end", spec.End}, {"step", spec.Step}} {
		if r.what == "end" && r.v == 0 {
			continue // open-ended
		}
		if r.v < minRate || r.v > maxRate {
			return usagef("--request-rate-range %q: the %s %v must be %v to %v requests/s", value, r.what, r.v, minRate, maxRate)
		}
	}
	return nil
}

// reservedParams are request parameters perfgo sets itself (or will, for
// sequences and streams): a --request-parameter may not replace them.
var reservedParams = []string{
	"sequence_id", "sequence_start", "sequence_end",
	"binary_data_output", "triton_enable_empty_final_response", "triton_final_response",
}

// parseRequestParams parses --request-parameter values "name:value:type".
// The name ends at the first colon and the type starts after the last, so
// the value may itself contain colons (a URL, a time) and a name may not.
// Types are perf_analyzer's bool (true or false), int and string, and
// the v2 protocol's uint and double. nil when none is given.
func parseRequestParams(specs []string) (map[string]any, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(specs))
	for _, spec := range specs {
		first, last := strings.IndexByte(spec, ':'), strings.LastIndexByte(spec, ':')
		if first <= 0 || first == last {
			return nil, usagef("--request-parameter %q: want name:value:type, e.g. max_tokens:256:int (type bool, int, uint, double or string)", spec)
		}
		name, value, typ := spec[:first], spec[first+1:last], spec[last+1:]
		if slices.Contains(reservedParams, name) {
			return nil, usagef("--request-parameter %s: perfgo sets %s itself; its reserved names are %s", name, name, strings.Join(reservedParams, ", "))
		}
		if _, dup := out[name]; dup {
			return nil, usagef("--request-parameter %s is given twice; give each name once", name)
		}
		v, err := paramValue(value, typ)
		if err != nil {
			return nil, usagef("--request-parameter %q: %v", spec, err)
		}
		out[name] = v
	}
	return out, nil
}

// paramValue converts one --request-parameter value to its type.
func paramValue(value, typ string) (any, error) {
	switch typ {
	case "bool":
		switch value {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, errors.New("a bool is true or false")
	case "int":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return nil, errors.New("an int is a whole number from -9223372036854775808 to 9223372036854775807")
		}
		return n, nil
	case "uint":
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return nil, errors.New("a uint is a whole number from 0 to 18446744073709551615")
		}
		return n, nil
	case "double":
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, errors.New("a double is a finite number, e.g. 0.7 or 1e-3")
		}
		return f, nil
	case "string":
		return value, nil
	}
	return nil, fmt.Errorf("type %q: use bool, int, uint, double or string", typ)
}

// parseInputData sorts --input-data into generated data (random, zero)
// and data files: one directory, or JSON files.
func (o *profileOptions) parseInputData() error {
	vals := o.inputData
	if o.dataDirectory != "" {
		if len(vals) > 0 {
			return usagef("--data-directory is perf_analyzer's old spelling of --input-data DIR: give one of them")
		}
		vals = []string{o.dataDirectory}
	}
	o.InputData, o.DataPaths = inputs.Random, nil
	if len(vals) == 0 {
		return nil
	}
	if len(vals) == 1 && (vals[0] == inputs.Random || vals[0] == inputs.Zero) {
		o.InputData = vals[0]
		return nil
	}
	for _, v := range vals {
		if v == inputs.Random || v == inputs.Zero {
			return usagef("--input-data %s cannot be combined with data files: give either %s or files", v, v)
		}
		st, err := os.Stat(v)
		if err != nil {
			return usagef("--input-data %s: %v; give random, zero, a directory or perf_analyzer JSON files", v, unwrapPath(err))
		}
		if st.IsDir() && len(vals) > 1 {
			return usagef("--input-data %s is a directory: give one directory, or one or more JSON files", v)
		}
	}
	o.DataPaths = vals
	return nil
}

// finishStreams checks the streaming and sequence options.
func (o *profileOptions) finishStreams(fs *pflag.FlagSet) error {
	if o.Streaming && o.Sync {
		return usagef("--streaming and --sync cannot be used together: a stream is asynchronous")
	}
	switch o.StreamLatency {
	case "first", "final":
	default:
		return usagef("--stream-latency %q: use first (time to first response) or final (time to the final response)", o.StreamLatency)
	}
	o.sequenceLengthSet = fs.Changed("sequence-length")
	switch {
	case o.SequenceLength <= 0:
		return usagef("--sequence-length %d: use 1 or more requests per sequence", o.SequenceLength)
	case !(o.SequenceLengthVariation >= 0):
		return usagef("--sequence-length-variation %v: use a percentage of 0 or more", o.SequenceLengthVariation)
	case o.NumSequences <= 0:
		return usagef("--num-of-sequences %d: use 1 or more", o.NumSequences)
	}
	o.SequenceIDStart, o.SequenceIDEnd = 1, 0
	if o.sequenceIDRange != "" {
		start, end, err := parseIDRange(o.sequenceIDRange)
		if err != nil {
			return err
		}
		o.SequenceIDStart, o.SequenceIDEnd = start, end
	}
	return nil
}

// parseIDRange parses --sequence-id-range start[:end]; start 0 is taken as 1.
func parseIDRange(v string) (start, end uint64, err error) {
	bad := func() error {
		return usagef("--sequence-id-range %q: want start[:end], whole numbers with end above start, e.g. 1:1000", v)
	}
	a, b, hasEnd := strings.Cut(v, ":")
	start, err = strconv.ParseUint(strings.TrimSpace(a), 10, 64)
	if err != nil {
		return 0, 0, bad()
	}
	start = max(start, 1) // perf_analyzer coerces 0 to 1: id 0 means "no sequence"
	if hasEnd {
		if end, err = strconv.ParseUint(strings.TrimSpace(b), 10, 64); err != nil || end <= start {
			return 0, 0, bad()
		}
	}
	return start, end, nil
}

// parseComposing reads --bls-composing-models: name[:version] items
// separated by commas.
func parseComposing(v string) ([]loadgen.ComposingModel, error) {
	if v == "" {
		return nil, nil
	}
	var out []loadgen.ComposingModel
	for item := range strings.SplitSeq(v, ",") {
		name, version, _ := strings.Cut(strings.TrimSpace(item), ":")
		if name == "" {
			return nil, usagef("--bls-composing-models %q: an empty model name; list models as name[:version],... e.g. a:3,b", v)
		}
		if version != "" {
			if n, err := strconv.ParseInt(version, 10, 64); err != nil || n < 1 {
				return nil, usagef("--bls-composing-models %q: version %q of %q is not a number of 1 or more; list models as name[:version],... e.g. a:3,b", v, version, name)
			}
		}
		out = append(out, loadgen.ComposingModel{Name: name, Version: version})
	}
	return out, nil
}
