package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/result"
)

// MaxJSONBytes bounds the report ReadJSON accepts. A real run's report is
// a few hundred KiB (a compressed histogram is a few KiB); the bound only
// keeps a wrong file from filling memory.
const MaxJSONBytes = 256 << 20

// maxHistBytes bounds the memory the decoded histograms of one report may
// take: a compressed empty histogram is ~100 bytes of base64 but decodes
// to its full counts array (136 KiB for perfgo's 1 µs..60 s at 3 digits),
// so MaxJSONBytes alone would not bound it.
const maxHistBytes = 1 << 30

// maxReadNs bounds every time read back: up to 2^51 ns (26 days) a time
// survives ns → µs float → ns exactly, so reading and writing again is
// lossless.
const maxReadNs = 1 << 51

// ReadJSON decodes a report written by JSON back into the run it was made
// from: JSON(ReadJSON(JSON(run))) is JSON(run), byte for byte, and so are
// the CSV and stdout text of the run read back. Derived keys (wait_us,
// avg_us, failed_percent, the stream's copies of the client's response
// counts) are recomputed, not read; keys a later v1 writer adds, and the
// derived "slo" object, are ignored. Times come back as whole nanoseconds
// (µs × 1000, rounded); null numbers as NaN.
//
// It refuses a report of another schema, input over MaxJSONBytes, and
// anything JSON would refuse to write (e.g. a percentile outside 0–100),
// each with one line naming the problem.
func ReadJSON(r io.Reader) (result.Run, error) {
	return readJSON(r, MaxJSONBytes)
}

// readJSON is ReadJSON with the size bound as a parameter, for tests.
func readJSON(r io.Reader, maxBytes int64) (result.Run, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return result.Run{}, fmt.Errorf("report: read json: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return result.Run{}, fmt.Errorf("report: read json: the input is over %s, more than a run writes; is it a perfgo --json report?", formatBytes(maxBytes))
	}
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return result.Run{}, jsonReadError(err)
	}
	switch {
	case head.Schema == nil:
		return result.Run{}, fmt.Errorf(`report: read json: no "schema" key: not a perfgo report (perfgo reads %q, written by --json)`, JSONSchema)
	case *head.Schema != JSONSchema:
		return result.Run{}, fmt.Errorf(`report: read json: schema is %q; this perfgo reads %q`, *head.Schema, JSONSchema)
	}
	var doc jsonReport
	if err := json.Unmarshal(data, &doc); err != nil {
		return result.Run{}, jsonReadError(err)
	}
	rd := jsonReader{}
	run := rd.run(&doc)
	if rd.err != nil {
		return result.Run{}, fmt.Errorf("report: read json: %w", rd.err)
	}
	if err := checkSettings(run.Settings); err != nil {
		return result.Run{}, err
	}
	return run, nil
}

// formatBytes is n in MiB when whole, else in bytes.
func formatBytes(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// jsonReadError says in one line where the JSON is broken or which key has
// the wrong type, without Go's type names.
func jsonReadError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("report: read json: not valid JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Errorf("report: read json: the report is a JSON %s, want an object", typ.Value)
		}
		return fmt.Errorf("report: read json: %q is a JSON %s, want %s", typ.Field, typ.Value, jsonKind(typ.Type.Kind().String()))
	}
	return fmt.Errorf("report: read json: %w", err)
}

// jsonKind names a Go kind as JSON calls it.
func jsonKind(kind string) string {
	switch {
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case kind == "slice" || kind == "array":
		return "an array"
	case kind == "struct" || kind == "map" || kind == "ptr":
		return "an object"
	case strings.HasPrefix(kind, "uint"):
		return "a whole number ≥ 0"
	case strings.HasPrefix(kind, "int"):
		return "a whole number"
	}
	return "a number"
}

// jsonReader turns the decoded document into a result.Run. The first
// invalid value sets err (with its key path); later ones are not checked.
type jsonReader struct {
	err error
	// histBytes is the memory the decoded histograms take so far.
	histBytes int64
}

func (rd *jsonReader) fail(path, format string, args ...any) {
	if rd.err == nil {
		rd.err = fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
}

// ns converts v (in units of unit) to a duration, rounding to the
// nearest nanosecond.
func (rd *jsonReader) ns(path string, v jsonFloat, unit time.Duration) time.Duration {
	f := float64(v) * float64(unit)
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > maxReadNs {
		rd.fail(path, "%v is not a time perfgo writes (finite, at most %d days)", float64(v), time.Duration(maxReadNs)/(24*time.Hour))
		return 0
	}
	return time.Duration(math.Round(f))
}

func (rd *jsonReader) us(path string, v jsonFloat) time.Duration {
	return rd.ns(path, v, time.Microsecond/time.Nanosecond)
}

func (rd *jsonReader) ms(path string, v jsonFloat) time.Duration {
	return rd.ns(path, v, time.Millisecond/time.Nanosecond)
}

func (rd *jsonReader) run(doc *jsonReport) result.Run {
	s := rd.settings(&doc.Settings)
	run := result.Run{
		Settings:    s,
		Stop:        rd.stop(doc.Stop.Reason),
		StopMessage: doc.Stop.Message,
		Drained:     result.Counts{Requests: doc.Drained.Requests, Failed: doc.Drained.Failed},
	}
	run.DrainedFailures = readFailures(doc.Drained.Failures)
	run.Levels = rd.levels("levels", s, doc.Levels)
	run.Unreported = rd.levels("unreported_levels", s, doc.Unreported)
	return run
}

func (rd *jsonReader) stop(reason string) result.StopReason {
	for r := result.StopCompleted; r <= result.StopError; r++ {
		if r.String() == reason {
			return r
		}
	}
	rd.fail("stop.reason", "%q is unknown; this perfgo writes completed, latency_threshold, unstable, no_valid_requests, cancelled or error", reason)
	return result.StopError
}

func (rd *jsonReader) settings(js *jsonSettings) result.Settings {
	s := result.Settings{
		Model: js.Model, Version: js.Version, Protocol: js.Protocol, URL: js.URL,
		ServiceKind: js.ServiceKind, BatchSize: js.BatchSize, Mode: result.Mode(js.Mode),
		WarmupRequests: js.WarmupRequests, RequestCount: js.RequestCount,
		MeasurementMode:         js.MeasurementMode,
		MeasurementInterval:     rd.ms("settings.measurement_interval_ms", js.MeasurementIntervalMs),
		MeasurementRequestCount: js.MeasurementRequestCount,
		StabilityPercentage:     float64(js.StabilityPercentage),
		MaxTrials:               js.MaxTrials,
		Percentile:              float64(js.Percentile),
		LatencyThreshold:        rd.ms("settings.latency_threshold_ms", js.LatencyThresholdMs),
		RangeStart:              float64(js.Range.Start), RangeEnd: float64(js.Range.End), RangeStep: float64(js.Range.Step),
		BinarySearch: js.BinarySearch, Async: js.Async,
		Distribution: js.Distribution, Seed: js.Seed, LatencyOrigin: js.LatencyOrigin,
		Decoupled: js.Decoupled, Streaming: js.Streaming,
		ServerStats: js.ServerStats, ResponseCache: js.ResponseCache, NoModelConfig: js.NoModelConfig,
		FailureLimit:   float64(js.FailureLimitPercent),
		RequestTimeout: rd.ms("settings.request_timeout_ms", js.RequestTimeoutMs),
		DrainTimeout:   rd.ms("settings.drain_timeout_ms", js.DrainTimeoutMs),
		SLOs:           js.SLOs, SLOMode: js.SLOMode,
		CPUs: js.CPUs,
	}
	if m := js.Metrics; m != nil {
		s.Metrics = &result.MetricsSettings{URL: m.URL, Interval: rd.ms("settings.metrics.interval_ms", m.IntervalMs), Families: m.Families}
	}
	// The writer keeps the stream latency only when streaming.
	if s.Streaming {
		s.StreamLatency = js.StreamLatency
	}
	if q := js.Sequence; q != nil {
		s.Sequence = &result.SequenceSettings{
			Length: q.Length, Variation: float64(q.Variation), IDStart: q.IDStart, IDEnd: q.IDEnd,
			StringID: q.StringID, Live: q.Live, Serial: q.Serial,
		}
	}
	return s
}

func (rd *jsonReader) levels(path string, s result.Settings, jls []jsonLevel) []result.Level {
	var out []result.Level
	for i := range jls {
		out = append(out, rd.level(fmt.Sprintf("%s[%d]", path, i), s, &jls[i]))
	}
	return out
}

func (rd *jsonReader) level(path string, s result.Settings, jl *jsonLevel) result.Level {
	l := result.Level{
		Mode: result.Mode(jl.Mode), Value: float64(jl.Value), Windows: jl.Windows, Stable: jl.Stable,
		Client:           rd.client(path+".client", s, &jl.Client),
		Failures:         readFailures(jl.Failures),
		Total:            result.Counts{Requests: jl.Total.Requests, Failed: jl.Total.Failed},
		OverFailureLimit: jl.OverFailureLimit,
	}
	for i, p := range jl.Passes {
		l.Passes = append(l.Passes, result.Pass{
			Duration: rd.us(fmt.Sprintf("%s.passes[%d].duration_us", path, i), p.DurationUs),
			Requests: p.Requests, Failed: p.Failed, Issued: p.Issued, Late: p.Late,
			Failures:    readFailures(p.Failures),
			Throughput:  float64(p.Throughput),
			Latency:     rd.us(fmt.Sprintf("%s.passes[%d].latency_us", path, i), p.LatencyUs),
			ServerStats: p.ServerStats,
		})
	}
	if jl.Server != nil {
		srv := rd.server(path+".server", jl.Server)
		l.Server = &srv
	}
	if jl.Metrics != nil {
		l.Metrics = rd.metrics(path+".metrics", jl.Metrics)
	}
	return l
}

// metrics reads a level's "metrics"; a figure the writer wrote as null
// (NaN) or left out (not of the family's type) reads back as NaN.
func (rd *jsonReader) metrics(path string, jm *jsonMetrics) *result.Metrics {
	m := &result.Metrics{Scrapes: jm.Scrapes, Span: rd.us(path+".span_us", jm.SpanUs)}
	for _, g := range jm.GPUs {
		m.GPUs = append(m.GPUs, result.GPUMetrics{UUID: g.UUID, Utilization: float64(g.Utilization), PowerWatts: float64(g.PowerWatts),
			MemoryUsedBytes: g.MemoryUsedBytes, MemoryTotalBytes: g.MemoryTotalBytes})
	}
	f := func(v *jsonFloat) float64 {
		if v == nil {
			return math.NaN()
		}
		return float64(*v)
	}
	for _, jf := range jm.Families {
		fam := result.MetricFamily{Name: jf.Name, Type: jf.Type}
		for _, s := range jf.Series {
			fam.Series = append(fam.Series, result.MetricSeries{Labels: s.Labels, Rate: f(s.Rate), Mean: f(s.Mean), Max: f(s.Max), P50: f(s.P50), P90: f(s.P90), P99: f(s.P99)})
		}
		m.Families = append(m.Families, fam)
	}
	return m
}

func (rd *jsonReader) client(path string, s result.Settings, jc *jsonClient) result.ClientStats {
	c := result.ClientStats{
		Requests: jc.Requests, Inferences: jc.Inferences, Failed: jc.Failed,
		Responses: jc.Responses, Issued: jc.Issued, Late: jc.Late, OutOfRange: jc.OutOfRange,
		Duration:   rd.us(path+".duration_us", jc.DurationUs),
		Throughput: float64(jc.Throughput), ResponseThroughput: float64(jc.ResponseThroughput),
		SendRate: float64(jc.SendRate), Overhead: float64(jc.ClientOverhead),
		RequestTime: rd.us(path+".request_time_us", jc.RequestTimeUs),
		Send:        rd.us(path+".send_us", jc.SendUs),
		Recv:        rd.us(path+".recv_us", jc.RecvUs),
		Latency:     rd.dist(path+".latency", s, &jc.Latency),
		CPU:         rd.us(path+".cpu_us", jc.CPUUs),
		CPUWait:     rd.us(path+".cpu_wait_us", jc.CPUWaitUs),
		CPUShare:    float64(jc.CPUShare), CPUWaitShare: float64(jc.CPUWaitShare),
	}
	if jc.ServiceTime != nil {
		d := rd.dist(path+".service_time", s, jc.ServiceTime)
		c.ServiceTime = &d
	}
	if jc.ScheduleLag != nil {
		d := rd.dist(path+".schedule_lag", s, jc.ScheduleLag)
		c.ScheduleLag = &d
	}
	if js := jc.Stream; js != nil {
		c.Stream = &result.StreamStats{
			First:             rd.dist(path+".stream.first", s, &js.First),
			Between:           rd.dist(path+".stream.between", s, &js.Between),
			Final:             rd.dist(path+".stream.final", s, &js.Final),
			PerRequest:        float64(js.ResponsesPerRequest),
			Elements:          js.Elements,
			ElementThroughput: float64(js.ElementThroughput),
		}
	}
	// The writer has these keys only for sequence models, and writes a
	// NaN rate as null.
	if s.Sequence != nil {
		if jc.Sequences != nil {
			c.Sequences = *jc.Sequences
		}
		c.SequenceRate = math.NaN()
		if jc.SequenceRate != nil {
			c.SequenceRate = float64(*jc.SequenceRate)
		}
	}
	return c
}

// dist reads a distribution. Its percentiles become Quantiles, in the
// writer's order; those the writer adds from the histogram (see
// jsonPercentiles) and the file lacks are computed from it, so that a run
// read back answers the same percentiles however the file was trimmed.
func (rd *jsonReader) dist(path string, s result.Settings, jd *jsonDist) result.Distribution {
	d := result.Distribution{
		Count:  jd.Count,
		Mean:   rd.us(path+".mean_us", jd.MeanUs),
		StdDev: rd.us(path+".stddev_us", jd.StdDevUs),
		Min:    rd.us(path+".min_us", jd.MinUs),
		Max:    rd.us(path+".max_us", jd.MaxUs),
	}
	for i, q := range jd.Percentiles {
		p := float64(q.P)
		if math.IsNaN(p) || p < 0 || p > 100 {
			rd.fail(fmt.Sprintf("%s.percentiles[%d].p", path, i), "%v is not a percentile (0–100)", p)
			return d
		}
		if i > 0 && p <= d.Quantiles[len(d.Quantiles)-1].Percentile {
			rd.fail(fmt.Sprintf("%s.percentiles[%d].p", path, i), "%v follows %v: percentiles are written once each, ascending", p, d.Quantiles[len(d.Quantiles)-1].Percentile)
			return d
		}
		v := rd.us(fmt.Sprintf("%s.percentiles[%d].value_us", path, i), q.ValueUs)
		d.Quantiles = append(d.Quantiles, result.Quantile{Percentile: p, Value: v})
	}
	if jd.HDR == "" {
		return d
	}
	h, err := hdrhistogram.Decode([]byte(jd.HDR))
	if err != nil {
		rd.fail(path+".hdr", "not an HDR histogram (base64 V2 compressed): %v", err)
		return d
	}
	d.Hist = h.Export()
	rd.histBytes += 8 * int64(len(d.Hist.Counts))
	if rd.histBytes > maxHistBytes {
		rd.fail(path+".hdr", "the report's histograms would take over %d MiB of memory; perfgo's own take about 136 KiB each", maxHistBytes>>20)
		return d
	}
	if h.TotalCount() == 0 {
		return d // an empty histogram answers no percentile (quantiles.at)
	}
	for _, p := range jsonPercentiles(s, &d) {
		i, found := slices.BinarySearchFunc(d.Quantiles, p, func(q result.Quantile, p float64) int { return cmp.Compare(q.Percentile, p) })
		if !found {
			d.Quantiles = slices.Insert(d.Quantiles, i, result.Quantile{Percentile: p, Value: time.Duration(h.ValueAtQuantile(p))})
		}
	}
	return d
}

func (rd *jsonReader) stat(path string, js jsonStat) result.Stat {
	t := rd.us(path+".total_us", js.TotalUs)
	if t < 0 {
		rd.fail(path+".total_us", "%v is negative; server times are sums of durations", float64(js.TotalUs))
		return result.Stat{}
	}
	return result.Stat{Count: js.Count, Ns: uint64(t)}
}

// maxComposingDepth bounds how deep ensembles may nest: perf_analyzer's
// deepest example is two.
const maxComposingDepth = 16

func (rd *jsonReader) server(path string, js *jsonServer) result.ServerStats {
	return rd.serverAt(path, js, 0)
}

func (rd *jsonReader) serverAt(path string, js *jsonServer, depth int) result.ServerStats {
	st := result.ServerStats{
		Model: js.Model, Version: js.Version,
		InferenceCount: js.InferenceCount, ExecutionCount: js.ExecutionCount,
		Success:       rd.stat(path+".success", js.Success),
		Fail:          rd.stat(path+".fail", js.Fail),
		Queue:         rd.stat(path+".queue", js.Queue),
		ComputeInput:  rd.stat(path+".compute_input", js.ComputeInput),
		ComputeInfer:  rd.stat(path+".compute_infer", js.ComputeInfer),
		ComputeOutput: rd.stat(path+".compute_output", js.ComputeOutput),
		CacheHit:      rd.stat(path+".cache_hit", js.CacheHit),
		CacheMiss:     rd.stat(path+".cache_miss", js.CacheMiss),
	}
	if len(js.Composing) > 0 && depth >= maxComposingDepth {
		rd.fail(path+".composing", "ensembles nested over %d deep", maxComposingDepth)
		return st
	}
	for i := range js.Composing {
		st.Composing = append(st.Composing, rd.serverAt(fmt.Sprintf("%s.composing[%d]", path, i), &js.Composing[i], depth+1))
	}
	// The writer sorts composing models; so does every report.
	st.Composing = sortedComposing(st.Composing)
	if len(st.Composing) == 0 {
		st.Composing = nil
	}
	return st
}

// readFailures reads failure classes sorted by class, as the writer sorts them.
func readFailures(jfs []jsonFailures) []result.ClassCount {
	var out []result.ClassCount
	for _, f := range jfs {
		out = append(out, result.ClassCount{Class: f.Class, Count: f.Count, First: f.First})
	}
	slices.SortStableFunc(out, func(a, b result.ClassCount) int { return strings.Compare(a.Class, b.Class) })
	return out
}

// UnmarshalJSON reads a number, or null (how MarshalJSON writes NaN and
// ±Inf) as NaN.
func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*f = jsonFloat(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}
