package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/result"
	"github.com/perfgo/perfgo/pkg/slo"
)

// JSONSchema is the value of the report's "schema" key. It changes only
// when a key is renamed or removed or its meaning changes; new keys may be
// added within a version.
const JSONSchema = "perfgo.report/v1"

// JSON writes perfgo's own report: settings, stop reason and every reported
// level, indented by two spaces, keys in a fixed order. Unlike the CSV it
// keeps everything measured, including failures and the full histograms.
//
// Units: every latency or time is in microseconds as a number with
// fractional part (ns / 1000, no truncation), keys ending in "_us";
// throughputs and rates are per second; settings durations are in ms.
// A non-finite number (NaN, ±Inf) is written as null.
//
//	{
//	  "schema": "perfgo.report/v1",
//	  "settings": {
//	    "model", "version", "protocol" ("http"|"grpc"), "url", "service_kind",
//	    "batch_size", "mode" ("concurrency"|"request_rate"|"intervals"),
//	    "warmup_requests", "request_count", "measurement_mode",
//	    "measurement_interval_ms", "measurement_request_count",
//	    "stability_percentage", "max_trials",
//	    "percentile" (0 = stabilised on the average), "latency_threshold_ms" (0 = none),
//	    "range": {"start", "end", "step"}, "binary_search", "async",
//	    "distribution", "seed", "latency_origin" ("send"|"intended"),
//	    "decoupled", "server_stats", "response_cache",
//	    "failure_limit_percent" (a level is over it when more than this share
//	      of its requests failed), "request_timeout_ms" (0 = none),
//	    "drain_timeout_ms" (how long requests in flight at the end of a level
//	      may take before they are cancelled and counted as failed),
//	    "no_model_config" (the server gave none: a leading -1 in each input's
//	      shape was taken as the batch dimension),
//	    "streaming" (requests went on streams; absent when not),
//	    "stream_latency" ("first"|"final": the response the latency ends at;
//	      absent when not streaming),
//	    "sequence": {"length" (0: each data stream's step count),
//	      "variation" (± percent), "id_start", "id_end" (exclusive; 0: 2^32),
//	      "string_id", "live" (sequences open at once), "serial"}
//	      (sequence models; absent otherwise),
//	    "slos": ["p99<=20ms", ...] (--slo, normalised; absent without SLOs),
//	    "slo_mode": "all"|"any" (absent without SLOs),
//	    "metrics": {"url", "interval_ms", "families" (the --metric names)}
//	      (--collect-metrics; absent otherwise)
//	  },
//	  "stop": {"reason": "completed"|"latency_threshold"|"unstable"|
//	           "no_valid_requests"|"cancelled"|"error", "message": string},
//	  "levels": [{
//	    "mode", "value" (concurrency or requests/s), "windows", "stable",
//	    "client": { (the merged last windows, as perf_analyzer reports them)
//	      "requests", "inferences", "failed", "responses", "issued", "late",
//	      "out_of_range", "duration_us", "throughput", "response_throughput",
//	      "send_rate", "client_overhead" (share 0–1 of the workers' time spent
//	      in perfgo between requests), "request_time_us", "send_us", "recv_us", "wait_us",
//	      "cpu_us" (CPU time perfgo's process used in the merged windows),
//	      "cpu_wait_us" (time its threads were ready but waited for a CPU),
//	      "cpu_share", "cpu_wait_share" (of the time of settings.cpus CPUs;
//	      all four absent when not measured),
//	      "latency": <distribution>,
//	      "service_time": <distribution> | null (open loop only),
//	      "schedule_lag": <distribution> | null (open loop only),
//	      "stream": { (streamed requests only; absent otherwise)
//	        "first": <distribution> (time to the first response with outputs),
//	        "between": <distribution> (between consecutive responses),
//	        "final": <distribution> (time to the final response),
//	        "responses", "responses_per_request", "response_throughput",
//	        "elements" (text output elements), "element_throughput"},
//	      "sequences", "sequence_rate" (sequences ended, and per second;
//	        sequence models only, absent otherwise)
//	    },
//	    "server": <server> | null (no statistics),
//	    "failures": [{"class": "grpc:UNAVAILABLE", "count": 3, "first_error":
//	      the first such error's message (absent when unknown)}, ...] (over
//	      every window of the level, merged or not; sorted by class; [] if none),
//	    "total": {"requests" (succeeded), "failed", "failed_percent" (of the
//	      completed requests; 0 when none completed)}: every window of the level,
//	    "over_failure_limit": failed_percent > settings.failure_limit_percent
//	      (the CLI exits with its own code when a reported level is),
//	    "passes": [{ (every window measured at the level, oldest first)
//	      "duration_us", "requests", "failed", "issued", "late" (open loop;
//	      0 in closed loop), "failures": [{"class", "count"}, ...] ([] if none),
//	      "throughput", "latency_us" (the stabilising latency: average or
//	      the chosen percentile; 0 without a completed request),
//	      "server_stats" (the server's statistics covered the window)
//	    }, ...],
//	    "metrics": { (--collect-metrics, over the scrapes taken during the
//	        merged windows; absent when not collected or none fell in them)
//	      "scrapes", "span_us" (first scrape to last),
//	      "gpus": [{"uuid", "utilization" (0–1, mean), "power_watts" (mean),
//	        "memory_used_bytes" (max), "memory_total_bytes" (first)}, ...]
//	        (Triton's nv_gpu_* by gpu_uuid, aggregated as perf_analyzer does;
//	        sorted by uuid; [] if none),
//	      "families": [{"name", "type" ("counter"|"gauge"|"histogram"; ""
//	        when no scrape had it; a summary is named with no series),
//	        "series": [{"labels" (`{model="simple",version="1"}`, "" if
//	          none), counter: "rate" (per second over the span, resets as
//	          Prometheus's rate), gauge: "mean", "max", histogram: "p50",
//	          "p90", "p99" (of the observations in the span, interpolated
//	          as histogram_quantile); null when the scrapes cannot say}, ...]
//	      }, ...] (the --metric families in the order asked)
//	    }
//	  }, ...],
//	  "unreported_levels": [<level>, ...] (measured but not reported: did not
//	    stabilise or went over the latency threshold; "stable": false),
//	  "drained": {"requests", "failed", "failed_percent", "failures": [...]}:
//	    requests that completed outside every window (in flight when a level
//	    or the run ended; class "cancelled" when the drain timeout cut them off),
//	  "slo": { (the levels judged on settings.slos when the report was
//	      written; absent without SLOs)
//	    "mode": "all"|"any", "objectives": ["p99<=20ms", ...],
//	    "pass" (all: every reported level met every objective; any: at least
//	      one did; false without reported levels),
//	    "max_throughput" (the highest throughput of a level that met every
//	      objective, goodput; null when none did),
//	    "max_throughput_level": {"mode", "value"} | null,
//	    "levels": [{"mode", "value", "throughput", "pass", (reported levels, in order)
//	      "results": [{"objective", "metric" ("p99", "lag.p99", "throughput", ...),
//	        "value" (measured; null when the level has no such data),
//	        "unit" ("us"|"infer/s"|"%"), "pass",
//	        "reason" (why there is no value; absent when measured)}, ...]}, ...]
//	  }
//	}
//
//	<distribution> = {"count", "mean_us", "stddev_us", "min_us", "max_us",
//	  "percentiles": [{"p": 50, "value_us": 812.3}, ...] (ascending: 50, 90,
//	    95, 99, 99.9, 99.99, the stabilising percentile and any cached one;
//	    a percentile the data cannot answer is left out),
//	  "hdr": base64 V2-compressed HDR histogram of the values in ns
//	    (absent when the result carries no histogram)}
//	<server> = {"model", "version", "inference_count", "execution_count",
//	  "success", "fail", "queue", "compute_input", "compute_infer",
//	  "compute_output", "cache_hit", "cache_miss": each {"count", "total_us", "avg_us"},
//	  "composing": [<server>, ...] (ensembles, sorted by model and version; [] if none)}
func JSON(w io.Writer, r result.Run) error {
	doc, err := newJSONReport(r)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("report: write json: %w", err)
	}
	return nil
}

// jsonFloat is a float that encodes NaN and ±Inf as null instead of failing
// the whole report.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func us(d time.Duration) jsonFloat { return jsonFloat(float64(d) / 1000) }

type jsonReport struct {
	Schema   string       `json:"schema"`
	Settings jsonSettings `json:"settings"`
	Stop     jsonStop     `json:"stop"`
	Levels   []jsonLevel  `json:"levels"`
	// Unreported: measured levels perf_analyzer would drop (unstable, over
	// the latency threshold), so that nothing measured is lost.
	Unreported []jsonLevel `json:"unreported_levels"`
	Drained    jsonDrained `json:"drained"`
	// SLO is derived from the run when written; absent without SLOs.
	SLO *jsonSLO `json:"slo,omitempty"`
}

// jsonSLO is the run judged on its SLOs (pkg/slo).
type jsonSLO struct {
	Mode               string         `json:"mode"`
	Objectives         []string       `json:"objectives"`
	Pass               bool           `json:"pass"`
	MaxThroughput      *jsonFloat     `json:"max_throughput"`
	MaxThroughputLevel *jsonLevelRef  `json:"max_throughput_level"`
	Levels             []jsonSLOLevel `json:"levels"`
}

type jsonLevelRef struct {
	Mode  string    `json:"mode"`
	Value jsonFloat `json:"value"`
}

type jsonSLOLevel struct {
	jsonLevelRef
	Throughput jsonFloat       `json:"throughput"`
	Pass       bool            `json:"pass"`
	Results    []jsonSLOResult `json:"results"`
}

type jsonSLOResult struct {
	Objective string     `json:"objective"`
	Metric    string     `json:"metric"`
	Value     *jsonFloat `json:"value"`
	Unit      string     `json:"unit"`
	Pass      bool       `json:"pass"`
	Reason    string     `json:"reason,omitempty"`
}

// newJSONSLO judges r on the SLOs its settings carry; nil without any.
func newJSONSLO(r result.Run) (*jsonSLO, error) {
	v, ok, err := slo.JudgeRun(r)
	if err != nil || !ok {
		return nil, err
	}
	doc := &jsonSLO{Mode: string(v.Mode), Pass: v.Pass, Objectives: []string{}, Levels: []jsonSLOLevel{}}
	for _, o := range v.Objectives {
		doc.Objectives = append(doc.Objectives, o.String())
	}
	if best, ok := v.MaxThroughput(); ok {
		l := v.Levels[v.Best]
		doc.MaxThroughput = new(jsonFloat(best))
		doc.MaxThroughputLevel = &jsonLevelRef{string(l.Mode), jsonFloat(l.Value)}
	}
	for _, l := range v.Levels {
		jl := jsonSLOLevel{jsonLevelRef{string(l.Mode), jsonFloat(l.Value)}, jsonFloat(l.Throughput), l.Pass, []jsonSLOResult{}}
		for _, res := range l.Results {
			jr := jsonSLOResult{Objective: res.Objective.String(), Metric: res.Objective.Metric.String(), Pass: res.Pass, Reason: res.Reason}
			value := res.Value
			switch res.Objective.Metric.Kind {
			case slo.Latency:
				jr.Unit, value = "us", value/1000
			case slo.Throughput:
				jr.Unit = "infer/s"
			case slo.Errors:
				jr.Unit = "%"
			}
			if res.Measured() {
				jr.Value = new(jsonFloat(value))
			}
			jl.Results = append(jl.Results, jr)
		}
		doc.Levels = append(doc.Levels, jl)
	}
	return doc, nil
}

// jsonDrained counts the requests that completed outside every window.
type jsonDrained struct {
	jsonTotal
	Failures []jsonFailures `json:"failures"`
}

type jsonSettings struct {
	Model                   string    `json:"model"`
	Version                 string    `json:"version"`
	Protocol                string    `json:"protocol"`
	URL                     string    `json:"url"`
	ServiceKind             string    `json:"service_kind"`
	BatchSize               int       `json:"batch_size"`
	Mode                    string    `json:"mode"`
	WarmupRequests          int       `json:"warmup_requests"`
	RequestCount            int       `json:"request_count"`
	MeasurementMode         string    `json:"measurement_mode"`
	MeasurementIntervalMs   jsonFloat `json:"measurement_interval_ms"`
	MeasurementRequestCount int       `json:"measurement_request_count"`
	StabilityPercentage     jsonFloat `json:"stability_percentage"`
	MaxTrials               int       `json:"max_trials"`
	Percentile              jsonFloat `json:"percentile"`
	LatencyThresholdMs      jsonFloat `json:"latency_threshold_ms"`
	Range                   jsonRange `json:"range"`
	BinarySearch            bool      `json:"binary_search"`
	Async                   bool      `json:"async"`
	Distribution            string    `json:"distribution"`
	Seed                    int64     `json:"seed"`
	LatencyOrigin           string    `json:"latency_origin"`
	Decoupled               bool      `json:"decoupled"`
	ServerStats             bool      `json:"server_stats"`
	ResponseCache           bool      `json:"response_cache"`
	FailureLimitPercent     jsonFloat `json:"failure_limit_percent"`
	RequestTimeoutMs        jsonFloat `json:"request_timeout_ms"`
	DrainTimeoutMs          jsonFloat `json:"drain_timeout_ms"`
	NoModelConfig           bool      `json:"no_model_config"`
	// Added after the first v1 reports: omitted when unset, so that
	// reports of other runs stay as they were.
	Streaming     bool                 `json:"streaming,omitempty"`
	StreamLatency string               `json:"stream_latency,omitempty"`
	Sequence      *jsonSequence        `json:"sequence,omitempty"`
	SLOs          []string             `json:"slos,omitempty"`
	SLOMode       string               `json:"slo_mode,omitempty"`
	Metrics       *jsonMetricsSettings `json:"metrics,omitempty"`
	// CPUs perfgo could use (GOMAXPROCS), the base of client.cpu_share.
	CPUs int `json:"cpus,omitempty"`
}

type jsonSequence struct {
	Length    int       `json:"length"`
	Variation jsonFloat `json:"variation"`
	IDStart   uint64    `json:"id_start"`
	IDEnd     uint64    `json:"id_end"`
	StringID  bool      `json:"string_id"`
	Live      int       `json:"live"`
	Serial    bool      `json:"serial"`
}

type jsonRange struct {
	Start jsonFloat `json:"start"`
	End   jsonFloat `json:"end"`
	Step  jsonFloat `json:"step"`
}

type jsonStop struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type jsonLevel struct {
	Mode     string         `json:"mode"`
	Value    jsonFloat      `json:"value"`
	Windows  int            `json:"windows"`
	Stable   bool           `json:"stable"`
	Client   jsonClient     `json:"client"`
	Server   *jsonServer    `json:"server"`
	Failures []jsonFailures `json:"failures"`
	Total    jsonTotal      `json:"total"`
	// OverFailureLimit is the engine's verdict, which the exit code follows.
	OverFailureLimit bool       `json:"over_failure_limit"`
	Passes           []jsonPass `json:"passes"`
	// Metrics: --collect-metrics only.
	Metrics *jsonMetrics `json:"metrics,omitempty"`
}

type jsonFailures struct {
	Class string `json:"class"`
	Count uint64 `json:"count"`
	First string `json:"first_error,omitempty"`
}

type jsonTotal struct {
	Requests      uint64    `json:"requests"`
	Failed        uint64    `json:"failed"`
	FailedPercent jsonFloat `json:"failed_percent"`
}

type jsonPass struct {
	DurationUs  jsonFloat      `json:"duration_us"`
	Requests    uint64         `json:"requests"`
	Failed      uint64         `json:"failed"`
	Issued      uint64         `json:"issued"`
	Late        uint64         `json:"late"`
	Failures    []jsonFailures `json:"failures"`
	Throughput  jsonFloat      `json:"throughput"`
	LatencyUs   jsonFloat      `json:"latency_us"`
	ServerStats bool           `json:"server_stats"`
}

type jsonClient struct {
	Requests           uint64    `json:"requests"`
	Inferences         uint64    `json:"inferences"`
	Failed             uint64    `json:"failed"`
	Responses          uint64    `json:"responses"`
	Issued             uint64    `json:"issued"`
	Late               uint64    `json:"late"`
	OutOfRange         uint64    `json:"out_of_range"`
	DurationUs         jsonFloat `json:"duration_us"`
	Throughput         jsonFloat `json:"throughput"`
	ResponseThroughput jsonFloat `json:"response_throughput"`
	SendRate           jsonFloat `json:"send_rate"`
	ClientOverhead     jsonFloat `json:"client_overhead"`
	RequestTimeUs      jsonFloat `json:"request_time_us"`
	SendUs             jsonFloat `json:"send_us"`
	RecvUs             jsonFloat `json:"recv_us"`
	WaitUs             jsonFloat `json:"wait_us"`
	CPUUs              jsonFloat `json:"cpu_us,omitempty"`
	CPUWaitUs          jsonFloat `json:"cpu_wait_us,omitempty"`
	CPUShare           jsonFloat `json:"cpu_share,omitempty"`
	CPUWaitShare       jsonFloat `json:"cpu_wait_share,omitempty"`
	Latency            jsonDist  `json:"latency"`
	ServiceTime        *jsonDist `json:"service_time"`
	ScheduleLag        *jsonDist `json:"schedule_lag"`
	// Added after the first v1 reports, omitted when unset.
	Stream       *jsonStream `json:"stream,omitempty"`
	Sequences    *uint64     `json:"sequences,omitempty"`
	SequenceRate *jsonFloat  `json:"sequence_rate,omitempty"`
}

type jsonStream struct {
	First               jsonDist  `json:"first"`
	Between             jsonDist  `json:"between"`
	Final               jsonDist  `json:"final"`
	Responses           uint64    `json:"responses"`
	ResponsesPerRequest jsonFloat `json:"responses_per_request"`
	ResponseThroughput  jsonFloat `json:"response_throughput"`
	Elements            uint64    `json:"elements"`
	ElementThroughput   jsonFloat `json:"element_throughput"`
}

type jsonDist struct {
	Count       int64          `json:"count"`
	MeanUs      jsonFloat      `json:"mean_us"`
	StdDevUs    jsonFloat      `json:"stddev_us"`
	MinUs       jsonFloat      `json:"min_us"`
	MaxUs       jsonFloat      `json:"max_us"`
	Percentiles []jsonQuantile `json:"percentiles"`
	HDR         string         `json:"hdr,omitempty"`
}

type jsonQuantile struct {
	P       jsonFloat `json:"p"`
	ValueUs jsonFloat `json:"value_us"`
}

type jsonServer struct {
	Model          string       `json:"model"`
	Version        string       `json:"version"`
	InferenceCount uint64       `json:"inference_count"`
	ExecutionCount uint64       `json:"execution_count"`
	Success        jsonStat     `json:"success"`
	Fail           jsonStat     `json:"fail"`
	Queue          jsonStat     `json:"queue"`
	ComputeInput   jsonStat     `json:"compute_input"`
	ComputeInfer   jsonStat     `json:"compute_infer"`
	ComputeOutput  jsonStat     `json:"compute_output"`
	CacheHit       jsonStat     `json:"cache_hit"`
	CacheMiss      jsonStat     `json:"cache_miss"`
	Composing      []jsonServer `json:"composing"`
}

type jsonStat struct {
	Count   uint64    `json:"count"`
	TotalUs jsonFloat `json:"total_us"`
	AvgUs   jsonFloat `json:"avg_us"`
}

func ms(d time.Duration) jsonFloat { return jsonFloat(float64(d) / float64(time.Millisecond)) }

// checkSettings refuses settings the JSON report cannot be written for.
// ReadJSON applies it too, so that every run read back can be written
// again in every format.
func checkSettings(s result.Settings) error {
	if err := checkPercentile(s); err != nil {
		return err
	}
	if err := checkStreamLatency(s); err != nil {
		return err
	}
	if len(s.SLOs) == 0 {
		return nil
	}
	if _, err := slo.ParseAll(s.SLOs); err != nil {
		return fmt.Errorf("report: settings slos: %w", err)
	}
	if s.SLOMode != "" {
		if _, err := slo.ParseMode(s.SLOMode); err != nil {
			return fmt.Errorf("report: settings slo_mode: %w", err)
		}
	}
	return nil
}

func newJSONReport(r result.Run) (jsonReport, error) {
	s := r.Settings
	if err := checkSettings(s); err != nil {
		return jsonReport{}, err
	}
	doc := jsonReport{
		Schema: JSONSchema,
		Settings: jsonSettings{
			Model: s.Model, Version: s.Version, Protocol: s.Protocol, URL: s.URL,
			ServiceKind: s.ServiceKind, BatchSize: s.BatchSize, Mode: string(s.Mode),
			WarmupRequests: s.WarmupRequests, RequestCount: s.RequestCount,
			MeasurementMode:         s.MeasurementMode,
			MeasurementIntervalMs:   ms(s.MeasurementInterval),
			MeasurementRequestCount: s.MeasurementRequestCount,
			StabilityPercentage:     jsonFloat(s.StabilityPercentage),
			MaxTrials:               s.MaxTrials,
			Percentile:              jsonFloat(s.Percentile),
			LatencyThresholdMs:      ms(s.LatencyThreshold),
			Range:                   jsonRange{jsonFloat(s.RangeStart), jsonFloat(s.RangeEnd), jsonFloat(s.RangeStep)},
			BinarySearch:            s.BinarySearch, Async: s.Async,
			Distribution: s.Distribution, Seed: s.Seed, LatencyOrigin: s.LatencyOrigin,
			Decoupled: s.Decoupled, ServerStats: s.ServerStats, ResponseCache: s.ResponseCache,
			FailureLimitPercent: jsonFloat(s.FailureLimit),
			RequestTimeoutMs:    ms(s.RequestTimeout), DrainTimeoutMs: ms(s.DrainTimeout),
			NoModelConfig: s.NoModelConfig,
			Streaming:     s.Streaming,
			SLOs:          s.SLOs, SLOMode: s.SLOMode,
			CPUs: s.CPUs,
		},
		Stop: jsonStop{Reason: r.Stop.String(), Message: r.StopMessage},
		Drained: jsonDrained{
			jsonTotal{r.Drained.Requests, r.Drained.Failed, jsonFloat(r.Drained.FailedPercent())},
			newJSONFailures(r.DrainedFailures),
		},
	}
	if s.Streaming {
		doc.Settings.StreamLatency = s.StreamLatency
	}
	if q := s.Sequence; q != nil {
		doc.Settings.Sequence = &jsonSequence{
			Length: q.Length, Variation: jsonFloat(q.Variation), IDStart: q.IDStart, IDEnd: q.IDEnd,
			StringID: q.StringID, Live: q.Live, Serial: q.Serial,
		}
	}
	doc.Settings.Metrics = newJSONMetricsSettings(s.Metrics)
	var err error
	if doc.Levels, err = newJSONLevels(s, r.Levels); err != nil {
		return jsonReport{}, err
	}
	if doc.Unreported, err = newJSONLevels(s, r.Unreported); err != nil {
		return jsonReport{}, err
	}
	if doc.SLO, err = newJSONSLO(r); err != nil {
		return jsonReport{}, fmt.Errorf("report: json: settings SLOs: %w", err)
	}
	return doc, nil
}

func newJSONLevels(s result.Settings, levels []result.Level) ([]jsonLevel, error) {
	out := make([]jsonLevel, 0, len(levels))
	for _, l := range levels {
		jl, err := newJSONLevel(s, l)
		if err != nil {
			return nil, fmt.Errorf("report: json: %s: %w", levelName(s, l), err)
		}
		out = append(out, jl)
	}
	return out, nil
}

func newJSONLevel(s result.Settings, l result.Level) (jsonLevel, error) {
	c := l.Client
	t := l.Total
	jl := jsonLevel{
		Mode: string(l.Mode), Value: jsonFloat(l.Value), Windows: l.Windows, Stable: l.Stable,
		Client: jsonClient{
			Requests: c.Requests, Inferences: c.Inferences, Failed: c.Failed,
			Responses: c.Responses, Issued: c.Issued, Late: c.Late, OutOfRange: c.OutOfRange,
			DurationUs: us(c.Duration), Throughput: jsonFloat(c.Throughput),
			ResponseThroughput: jsonFloat(c.ResponseThroughput), SendRate: jsonFloat(c.SendRate),
			ClientOverhead: jsonFloat(c.Overhead),
			RequestTimeUs:  us(c.RequestTime), SendUs: us(c.Send), RecvUs: us(c.Recv), WaitUs: us(c.Wait()),
			CPUUs: us(c.CPU), CPUWaitUs: us(c.CPUWait), CPUShare: jsonFloat(c.CPUShare), CPUWaitShare: jsonFloat(c.CPUWaitShare),
		},
		Failures:         newJSONFailures(l.Failures),
		Total:            jsonTotal{t.Requests, t.Failed, jsonFloat(t.FailedPercent())},
		OverFailureLimit: l.OverFailureLimit,
		Passes:           make([]jsonPass, 0, len(l.Passes)),
		Metrics:          newJSONMetrics(l.Metrics),
	}
	for _, p := range l.Passes {
		jl.Passes = append(jl.Passes, jsonPass{
			DurationUs: us(p.Duration), Requests: p.Requests, Failed: p.Failed,
			Issued: p.Issued, Late: p.Late, Failures: newJSONFailures(p.Failures),
			Throughput: jsonFloat(p.Throughput), LatencyUs: us(p.Latency), ServerStats: p.ServerStats,
		})
	}
	var err error
	if jl.Client.Latency, err = newJSONDist(s, &c.Latency); err != nil {
		return jl, fmt.Errorf("latency: %w", err)
	}
	if c.ServiceTime != nil {
		d, err := newJSONDist(s, c.ServiceTime)
		if err != nil {
			return jl, fmt.Errorf("service time: %w", err)
		}
		jl.Client.ServiceTime = &d
	}
	if c.ScheduleLag != nil {
		d, err := newJSONDist(s, c.ScheduleLag)
		if err != nil {
			return jl, fmt.Errorf("schedule lag: %w", err)
		}
		jl.Client.ScheduleLag = &d
	}
	if c.Stream != nil {
		if jl.Client.Stream, err = newJSONStream(s, &c); err != nil {
			return jl, err
		}
	}
	if s.Sequence != nil {
		n, rate := c.Sequences, jsonFloat(c.SequenceRate)
		jl.Client.Sequences, jl.Client.SequenceRate = &n, &rate
	}
	if l.Server != nil {
		srv := newJSONServer(l.Server)
		jl.Server = &srv
	}
	return jl, nil
}

func newJSONStream(s result.Settings, c *result.ClientStats) (*jsonStream, error) {
	st := c.Stream
	js := &jsonStream{
		Responses: c.Responses, ResponsesPerRequest: jsonFloat(st.PerRequest),
		ResponseThroughput: jsonFloat(c.ResponseThroughput),
		Elements:           st.Elements, ElementThroughput: jsonFloat(st.ElementThroughput),
	}
	outs := [3]*jsonDist{&js.First, &js.Between, &js.Final}
	for i, nd := range streamDists(st) {
		var err error
		if *outs[i], err = newJSONDist(s, nd.d); err != nil {
			return nil, fmt.Errorf("%s: %w", nd.name, err)
		}
	}
	return js, nil
}

// newJSONFailures lists failures sorted by class, [] for none.
func newJSONFailures(fs []result.ClassCount) []jsonFailures {
	out := make([]jsonFailures, 0, len(fs))
	for _, f := range fs {
		out = append(out, jsonFailures{f.Class, f.Count, f.First})
	}
	slices.SortStableFunc(out, func(a, b jsonFailures) int { return strings.Compare(a.Class, b.Class) })
	return out
}

// jsonPercentiles is the "full" set every distribution reports, before the
// stabilising percentile and cached ones are added.
func jsonPercentiles(s result.Settings, d *result.Distribution) []float64 {
	ps := []float64{50, 90, 95, 99, 99.9, 99.99}
	if s.Percentile != 0 {
		ps = append(ps, s.Percentile)
	}
	for _, q := range d.Quantiles {
		ps = append(ps, q.Percentile)
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

func newJSONDist(s result.Settings, d *result.Distribution) (jsonDist, error) {
	jd := jsonDist{
		Count: d.Count, MeanUs: us(d.Mean), StdDevUs: us(d.StdDev), MinUs: us(d.Min), MaxUs: us(d.Max),
		Percentiles: []jsonQuantile{},
	}
	q := result.Quantiles{D: d}
	for _, p := range jsonPercentiles(s, d) {
		v, ok, err := q.At(p)
		if err != nil {
			return jd, err
		}
		if ok {
			jd.Percentiles = append(jd.Percentiles, jsonQuantile{jsonFloat(p), us(v)})
		}
	}
	h, err := q.Hist()
	if err != nil {
		return jd, err
	}
	if h != nil {
		enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return jd, fmt.Errorf("encode histogram: %w", err)
		}
		jd.HDR = string(enc)
	}
	return jd, nil
}

func newJSONStat(st result.Stat) jsonStat {
	js := jsonStat{Count: st.Count, TotalUs: jsonFloat(float64(st.Ns) / 1000)}
	if st.Count > 0 {
		js.AvgUs = jsonFloat(float64(st.Ns) / float64(st.Count) / 1000)
	}
	return js
}

func newJSONServer(st *result.ServerStats) jsonServer {
	js := jsonServer{
		Model: st.Model, Version: st.Version,
		InferenceCount: st.InferenceCount, ExecutionCount: st.ExecutionCount,
		Success: newJSONStat(st.Success), Fail: newJSONStat(st.Fail), Queue: newJSONStat(st.Queue),
		ComputeInput: newJSONStat(st.ComputeInput), ComputeInfer: newJSONStat(st.ComputeInfer),
		ComputeOutput: newJSONStat(st.ComputeOutput),
		CacheHit:      newJSONStat(st.CacheHit), CacheMiss: newJSONStat(st.CacheMiss),
		Composing: []jsonServer{},
	}
	for _, m := range sortedComposing(st.Composing) {
		js.Composing = append(js.Composing, newJSONServer(&m))
	}
	return js
}
