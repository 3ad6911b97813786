package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfgo/perfgo/pkg/result"
)

// Line templates of perf_analyzer's stdout (current main), all in one
// place. Trailing spaces are part of the format ("Client: ", "Server: ",
// the pass line, the threshold message). Server-side templates take their
// indent as the first argument because composing models nest.
const (
	tmplSettings       = "*** Measurement Settings ***\n"
	tmplBatchSize      = "  Batch size: %d\n"
	tmplServiceKind    = "  Service Kind: %s\n"
	tmplWarmup         = "  Sending %d warmup request%s\n"
	tmplBenchmark      = "  Sending %d benchmark request%s\n"
	tmplStabMode       = "  Using \"%s\" mode for stabilization\n"
	tmplStabAverage    = "  Stabilizing using average %s\n"
	tmplStabPercentile = "  Stabilizing using %s%s\n" // "p95latency": no space, as perf_analyzer prints it
	tmplWindow         = "  Measurement window: %d msec\n"
	tmplMinSamples     = "  Minimum number of samples in each window: %d\n"
	tmplLatencyLimit   = "  Latency limit: %d msec\n"
	tmplConcLimit      = "  Concurrency limit: %s concurrent requests\n"
	tmplRateLimit      = "  Request Rate limit: %s requests per seconds\n"
	tmplPoisson        = "  Using poisson distribution on request generation\n"
	// perfgo's addition: the seed that replays the schedule.
	tmplSeed      = "  Poisson schedule seed: %d (--seed %d repeats it)\n"
	tmplUniform   = "  Using uniform distribution on request generation\n"
	tmplBinary    = "  Using Binary Search algorithm\n"
	tmplAsync     = "  Using asynchronous calls for inference\n"
	tmplSync      = "  Using synchronous calls for inference\n"
	tmplDecoupled = "  Detected decoupled model, using the first response for measuring latency\n"
	tmplIntended  = "  Latency measured from the intended send time (free of coordinated omission)\n"               // perfgo
	tmplTimeout   = "  Request timeout: %s msec\n"                                                                  // perfgo
	tmplNoConfig  = "  No model configuration: the leading -1 of each input is the batch dimension (-b fills it)\n" // perfgo

	// perfgo: which response a streamed request's latency ends at, where
	// perf_analyzer's decoupled line would not say it (or not truthfully).
	tmplStreamLatency = "  Streaming: latency is measured to the %s response\n"

	tmplLevelConc = "Request concurrency: %s\n"
	tmplLevelRate = "Request Rate: %s inference requests per seconds\n"
	tmplPassAvg   = "  Pass [%d] throughput: %s infer/sec. Avg latency: %d usec (std %d usec). \n"
	tmplPassPct   = "  Pass [%d] throughput: %s infer/sec. %s latency: %d usec\n"
	tmplPassErr   = "  Pass [%d] cb::Error: %s\n"

	tmplClient         = "  Client: \n"
	tmplRequestCount   = "    Request count: %d\n"
	tmplSequenceCount  = "    Sequence count: %d (%s seq/sec)\n" // sequence models
	tmplSendRate       = "    Avg send request rate: %s infer/sec\n"
	tmplLateWarning    = "    [WARNING] Perf Analyzer was not able to keep up with the desired request rate. %s%% of the requests were delayed. \n"
	tmplThroughput     = "    Throughput: %s infer/sec\n"
	tmplRespThroughput = "    Response Throughput: %s infer/sec\n"
	tmplOverhead       = "    Avg client overhead: %s%%\n"                         // -v only
	tmplClientCPU      = "    perfgo CPU: %s%% of %d CPUs, waiting for one %s%%\n" // -v only, perfgo's own
	tmplAvgLatency     = "    Avg latency: %d usec (standard deviation %d usec)\n"
	tmplPctLatency     = "    %s latency: %d usec\n"
	tmplHTTP           = "    Avg HTTP time: %d usec (send/recv %d usec + response wait %d usec)\n"
	tmplHTTPVerbose    = "    Avg HTTP time: %d usec (send %d usec + response wait %d usec + receive %d usec)\n"
	tmplGRPC           = "    Avg gRPC time: %d usec ((un)marshal request/response %d usec + response wait %d usec)\n"
	tmplGRPCVerbose    = "    Avg gRPC time: %d usec (marshal %d usec + response wait %d usec + unmarshal %d usec)\n"
	tmplNoLibStats     = "    \n"                                               // decoupled models: no client-library split
	tmplFailed         = "    Failed requests: %d of %d (%s%%)%s\n"             // perfgo: over every window
	tmplServiceTime    = "    Service time p50/p90/p95/p99: %d/%d/%d/%d usec\n" // perfgo, open loop
	tmplScheduleLag    = "    Schedule lag p50/p99/max: %d/%d/%d usec\n"        // perfgo, open loop

	// perfgo, streamed requests: each %s is a percentile list such as
	// "p50 812 usec, p90 951 usec, p95 1004 usec, p99 1187 usec".
	tmplStreamFirst     = "    First response: %s\n"
	tmplStreamBetween   = "    Between responses: %s\n"
	tmplStreamFinal     = "    Final response: avg %d usec, %s\n"
	tmplStreamResponses = "    Responses: %s per request, %s responses/sec%s\n"
	tmplStreamFinalNone = "    Final response: none\n"
	tmplStreamElements  = ", %s output elements/sec" // only when outputs held text

	// perfgo: after "Failed requests" when the level is over --failure-limit.
	tmplOverLimit = "    [WARNING] More than %s%% of the requests at this level failed (--failure-limit): its latency and throughput describe a failing server.\n"

	tmplServer              = "  Server: \n"
	tmplOverheadWarning     = "[WARNING] Perf Analyzer is not able to keep up with the desired load. The results may not be accurate.\n"
	tmplSrvNoRequests       = "%s  Request count: %d\n"
	tmplSrvInferences       = "%s  Inference count: %d\n"
	tmplSrvExecutions       = "%s  Execution count: %d\n"
	tmplSrvCacheHits        = "%s  Cache hit count: %d\n"
	tmplSrvCacheMisses      = "%s  Cache miss count: %d\n"
	tmplSrvSuccess          = "%s  Successful request count: %d\n"
	tmplSrvLatency          = "%s  Avg request latency: %d usec (overhead %d usec + queue %d usec + compute input %d usec + compute infer %d usec + compute output %d usec)\n"
	tmplSrvLatencyCache     = "%s  Avg request latency: %d usec (overhead %d usec + queue %d usec + cache hit/miss %d usec)\n"
	tmplSrvLatencyEnsemble  = "%s  Avg request latency: %d usec (overhead %d usec + queue %d usec + compute %d usec)\n\n"
	tmplSrvCacheHitLatency  = "%s  Average Cache Hit Latency: %d usec\n"
	tmplSrvCacheMissLatency = "%s  Average Cache Miss Latency: %d usec (cache lookup/insertion %d usec + compute input %d usec + compute infer %d usec + compute output %d usec)\n"
	tmplSrvCacheMissTotal   = "%s  Average Cache Miss Latency: %d usec \n\n"
	tmplComposing           = "%sComposing models: \n"
	tmplComposingModel      = "%s%s, version: %s\n"

	tmplSummaryAvg  = "Inferences/Second vs. Client Average Batch Latency\n"
	tmplSummaryPct  = "Inferences/Second vs. Client %s Batch Latency\n"
	tmplSummaryConc = "Concurrency: %s, throughput: %s infer/sec, latency %d usec\n"
	tmplSummaryRate = "Request Rate: %s, throughput: %s infer/sec, latency %d usec\n"
	tmplSummaryOver = "Levels over the %s%% failure limit: %s %s (see \"Failed requests\" above)\n" // perfgo

	tmplStopThreshold     = "Measured latency went over the set limit of %d msec. "
	tmplStopUnstableTime  = "Failed to obtain stable measurement within %d measurement windows for concurrency %s. Please try to increase the --measurement-interval."
	tmplStopUnstableCount = "Failed to obtain stable measurement within %d measurement windows for concurrency %s. Please try to increase the --measurement-request-count."
	tmplStopUnstableRate  = "Failed to obtain stable measurement."
	tmplStopNoValid       = "No valid requests recorded within time interval. Please use a larger time window."
)

// Header writes the "*** Measurement Settings ***" block and the blank line
// after it (§2.1, current-main order).
func Header(w io.Writer, s result.Settings) error {
	if err := checkPercentile(s); err != nil {
		return err
	}
	if err := checkStreamLatency(s); err != nil {
		return err
	}
	if err := checkMode(s); err != nil {
		return err
	}
	p := printer{w: w}
	p.printf(tmplSettings)
	kind := s.ServiceKind
	if kind == "" {
		kind = "TRITON" // perfgo speaks the v2 protocol, Triton's kind
	}
	// perf_analyzer prints the batch size for the Triton kinds or when -b
	// was given; a batch size above the default 1 can only come from -b.
	if kind == "TRITON" || kind == "TRITON_C_API" || s.BatchSize > 1 {
		p.printf(tmplBatchSize, s.BatchSize)
	}
	p.printf(tmplServiceKind, kind)
	if s.WarmupRequests > 0 {
		p.printf(tmplWarmup, s.WarmupRequests, plural(s.WarmupRequests))
	}
	if s.RequestCount > 0 {
		p.printf(tmplBenchmark, s.RequestCount, plural(s.RequestCount))
	} else {
		count := s.MeasurementMode == "count_windows"
		if count {
			p.printf(tmplStabMode, "count_windows")
		} else {
			p.printf(tmplStabMode, "time_windows")
		}
		metric := "latency and throughput"
		if s.Async {
			metric = "throughput"
		}
		if s.Percentile == 0 {
			p.printf(tmplStabAverage, metric)
		} else {
			p.printf(tmplStabPercentile, percentileLabel(s.Percentile), metric)
		}
		if count {
			p.printf(tmplMinSamples, s.MeasurementRequestCount)
		} else {
			p.printf(tmplWindow, s.MeasurementInterval.Milliseconds())
		}
	}
	// perf_analyzer tests each mode's range end against its default (1);
	// an end of 0 means "no limit".
	switch s.Mode {
	case result.Concurrency:
		if s.RangeEnd != 1 {
			p.printf(tmplLatencyLimit, s.LatencyThreshold.Milliseconds())
			if s.RangeEnd != 0 {
				p.printf(tmplConcLimit, formatCount(max(s.RangeStart, s.RangeEnd)))
			}
		}
	case result.RequestRate:
		if s.RangeEnd != 1 {
			p.printf(tmplLatencyLimit, s.LatencyThreshold.Milliseconds())
			if s.RangeEnd != 0 {
				p.printf(tmplRateLimit, formatDouble(max(s.RangeStart, s.RangeEnd)))
			}
		}
		if s.Distribution == "poisson" {
			p.printf(tmplPoisson)
			if s.Seed != 0 {
				p.printf(tmplSeed, s.Seed, s.Seed)
			}
		} else {
			p.printf(tmplUniform)
		}
	}
	if s.BinarySearch {
		p.printf(tmplBinary)
	}
	if s.Async {
		p.printf(tmplAsync)
	} else {
		p.printf(tmplSync)
	}
	switch {
	case s.Streaming && s.Decoupled && s.StreamLatency == StreamLatencyFirst:
		p.printf(tmplDecoupled)
	case s.Streaming:
		// perf_analyzer's decoupled line names the first response whatever
		// it measures; perfgo's says what it measured.
		p.printf(tmplStreamLatency, s.StreamLatency)
	case s.Decoupled:
		p.printf(tmplDecoupled)
	}
	if s.LatencyOrigin == LatencyOriginIntended {
		p.printf(tmplIntended)
	}
	if s.RequestTimeout > 0 {
		p.printf(tmplTimeout, formatDouble(float64(s.RequestTimeout)/float64(time.Millisecond)))
	}
	if s.NoModelConfig {
		p.printf(tmplNoConfig)
	}
	p.line("")
	return p.flush()
}

func plural(n int) string {
	if n > 1 {
		return "s"
	}
	return ""
}

// LevelStart writes the line that opens a level: "Request concurrency: N",
// "Request Rate: R inference requests per seconds", or nothing for the
// intervals mode.
func LevelStart(w io.Writer, s result.Settings, value float64) error {
	if err := checkMode(s); err != nil {
		return err
	}
	p := printer{w: w}
	switch s.Mode {
	case result.Concurrency:
		p.printf(tmplLevelConc, formatCount(value))
	case result.RequestRate:
		p.printf(tmplLevelRate, formatDouble(value))
	}
	return p.flush()
}

// Pass writes the -v line for one measurement window. latency is the
// window's stabilising latency (the mean, or Settings.Percentile's value);
// stddev is printed only with the mean.
func Pass(w io.Writer, s result.Settings, pass int, throughput float64, latency, stddev time.Duration) error {
	if err := checkPercentile(s); err != nil {
		return err
	}
	p := printer{w: w}
	if s.Percentile == 0 {
		p.printf(tmplPassAvg, pass, formatDouble(throughput), usec(latency), usec(stddev))
	} else {
		p.printf(tmplPassPct, pass, formatDouble(throughput), percentileLabel(s.Percentile), usec(latency))
	}
	return p.flush()
}

// PassError writes the -v line for a window that failed.
func PassError(w io.Writer, pass int, windowErr error) error {
	p := printer{w: w}
	msg := "<nil>"
	if windowErr != nil {
		msg = windowErr.Error()
	}
	p.printf(tmplPassErr, pass, msg)
	return p.flush()
}

// Level writes one reported level's "Client:" and "Server:" blocks (§2.2).
// verbose selects perf_analyzer's -v split of the client-library time.
func Level(w io.Writer, s result.Settings, l result.Level, verbose bool) error {
	if err := checkPercentile(s); err != nil {
		return err
	}
	if err := checkProtocol(s); err != nil {
		return err
	}
	p := printer{w: w}
	if err := writeClient(&p, s, l, verbose); err != nil {
		return fmt.Errorf("report: %s: %w", levelName(s, l), err)
	}
	if l.Server != nil {
		p.printf(tmplServer)
		writeServer(&p, s, l.Server, 1)
	}
	if l.Metrics != nil {
		writeMetrics(&p, l.Metrics)
	}
	if l.Client.Overhead > overheadWarnAbove {
		p.printf(tmplOverheadWarning)
	}
	return p.flush()
}

// FailedLevel writes what perfgo prints for a level that ended without a
// report (every request of a window failed, or none completed): its
// "Failed requests" line, so that the failures are on stdout as they are
// in the JSON. It writes nothing when no request failed.
func FailedLevel(w io.Writer, s result.Settings, l result.Level) error {
	if l.Total.Failed == 0 {
		return nil
	}
	p := printer{w: w}
	p.printf(tmplClient)
	writeFailures(&p, s, l)
	return p.flush()
}

// overheadWarnAbove is perf_analyzer's threshold for warning that the
// client itself could not keep up: half of the workers' time.
const overheadWarnAbove = 0.5

func writeClient(p *printer, s result.Settings, l result.Level, verbose bool) error {
	c := l.Client
	ps := ReportPercentiles(s.Percentile)
	q := result.Quantiles{D: &c.Latency}
	lat, err := q.Values(ps)
	if err != nil {
		return err
	}
	openLoop := s.LatencyOrigin == LatencyOriginIntended
	latePct, late := lateShare(c)

	p.printf(tmplClient)
	p.printf(tmplRequestCount, c.Requests)
	if late && !openLoop {
		p.printf(tmplSendRate, formatFixed2(c.SendRate))
		p.printf(tmplLateWarning, formatFixed2(latePct))
	}
	if s.Sequence != nil {
		p.printf(tmplSequenceCount, c.Sequences, formatDouble(c.SequenceRate))
	}
	p.printf(tmplThroughput, formatDouble(c.Throughput))
	if s.Decoupled {
		p.printf(tmplRespThroughput, formatDouble(c.ResponseThroughput))
	}
	if verbose {
		p.printf(tmplOverhead, formatFixed2(c.Overhead*100))
		if s.CPUs > 0 && c.CPU > 0 {
			p.printf(tmplClientCPU, formatFixed2(c.CPUShare*100), s.CPUs, formatFixed2(c.CPUWaitShare*100))
		}
	}
	if s.Percentile == 0 {
		p.printf(tmplAvgLatency, usec(c.Latency.Mean), usec(c.Latency.StdDev))
	}
	for i, pct := range ps {
		p.printf(tmplPctLatency, percentileLabel(pct), usec(lat[i]))
	}
	writeClientLibrary(p, s, c, verbose)
	if c.Stream != nil {
		if err := writeStream(p, ps, &c); err != nil {
			return err
		}
	}
	writeFailures(p, s, l)
	if openLoop {
		if err := writeOpenLoop(p, c, latePct, late); err != nil {
			return err
		}
	}
	return nil
}

// writeClientLibrary writes the "Avg HTTP/gRPC time" line. perf_analyzer
// truncates each part to µs first and derives the wait from the truncated
// values.
func writeClientLibrary(p *printer, s result.Settings, c result.ClientStats, verbose bool) {
	if s.Decoupled {
		p.printf(tmplNoLibStats)
		return
	}
	total, send, recv := usec(c.RequestTime), usec(c.Send), usec(c.Recv)
	wait := subClamp(total, send+recv)
	switch {
	case s.Protocol == "grpc" && verbose:
		p.printf(tmplGRPCVerbose, total, send, wait, recv)
	case s.Protocol == "grpc":
		p.printf(tmplGRPC, total, send+recv, wait)
	case verbose:
		p.printf(tmplHTTPVerbose, total, send, wait, recv)
	default:
		p.printf(tmplHTTP, total, send+recv, wait)
	}
}

// writeStream writes perfgo's lines for streamed requests: time to the
// first response, between responses and to the final response at the
// report's percentiles ps, then the responses' rates.
func writeStream(p *printer, ps []float64, c *result.ClientStats) error {
	st := c.Stream
	first, between, final, err := streamPercentiles(st, ps)
	if err != nil {
		return err
	}
	p.printf(tmplStreamFirst, percentileList(ps, &st.First, first))
	p.printf(tmplStreamBetween, percentileList(ps, &st.Between, between))
	if st.Final.Count == 0 {
		p.printf(tmplStreamFinalNone)
	} else {
		p.printf(tmplStreamFinal, usec(st.Final.Mean), percentileList(ps, &st.Final, final))
	}
	elements := ""
	if st.Elements > 0 {
		elements = fmt.Sprintf(tmplStreamElements, formatDouble(st.ElementThroughput))
	}
	p.printf(tmplStreamResponses, formatDouble(st.PerRequest), formatDouble(c.ResponseThroughput), elements)
	return nil
}

// percentileList is "p50 812 usec, p90 951 usec" (vs[i] is d at ps[i]),
// or "none" when d has no samples, as between the responses of requests
// that got one response each.
func percentileList(ps []float64, d *result.Distribution, vs []time.Duration) string {
	if d.Count == 0 {
		return "none"
	}
	var b []byte
	for i, pct := range ps {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, percentileLabel(pct)...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, usec(vs[i]), 10)
		b = append(b, " usec"...)
	}
	return string(b)
}

// writeFailures is perfgo's "Failed requests" line, printed only when some
// request failed in any window of the level (not only the merged ones), and
// the failure-limit warning when the level is over it.
func writeFailures(p *printer, s result.Settings, l result.Level) {
	t := l.Total
	if t.Failed > 0 {
		fs := slices.DeleteFunc(slices.Clone(l.Failures), func(f result.ClassCount) bool { return f.Count == 0 })
		slices.SortStableFunc(fs, func(a, b result.ClassCount) int { return strings.Compare(a.Class, b.Class) })
		var classes strings.Builder
		for i, f := range fs {
			if i == 0 {
				classes.WriteString(": ")
			} else {
				classes.WriteString(", ")
			}
			classes.WriteString(f.Class)
			classes.WriteByte(' ')
			classes.WriteString(strconv.FormatUint(f.Count, 10))
		}
		p.printf(tmplFailed, t.Failed, t.Requests+t.Failed, FormatShare(t.FailedPercent(), s.FailureLimit), classes.String())
	}
	if l.OverFailureLimit {
		p.printf(tmplOverLimit, formatDouble(s.FailureLimit))
	}
}

// writeOpenLoop writes perfgo's open-loop lines: the service time (from the
// actual send), the schedule lag, and the send rate with perf_analyzer's
// warning when more than 1% of requests were late.
func writeOpenLoop(p *printer, c result.ClientStats, latePct float64, late bool) error {
	if c.ServiceTime != nil {
		q := result.Quantiles{D: c.ServiceTime}
		v, err := q.Values([]float64{50, 90, 95, 99})
		if err != nil {
			return fmt.Errorf("service time: %w", err)
		}
		p.printf(tmplServiceTime, usec(v[0]), usec(v[1]), usec(v[2]), usec(v[3]))
	}
	if c.ScheduleLag != nil {
		q := result.Quantiles{D: c.ScheduleLag}
		v, err := q.Values([]float64{50, 99})
		if err != nil {
			return fmt.Errorf("schedule lag: %w", err)
		}
		p.printf(tmplScheduleLag, usec(v[0]), usec(v[1]), usec(c.ScheduleLag.Max))
	}
	p.printf(tmplSendRate, formatFixed2(c.SendRate))
	if late {
		p.printf(tmplLateWarning, formatFixed2(latePct))
	}
	return nil
}

// avgUs is perf_analyzer's AverageDurationInUs: ns / (count × 1000),
// truncated, 0 for no samples.
func avgUs(ns, count uint64) uint64 {
	if count == 0 {
		return 0
	}
	return ns / count / 1000
}

// serverTimes are one model's server-side averages in whole µs, derived as
// perf_analyzer derives them for stdout.
type serverTimes struct {
	request, queue                       uint64
	computeInput, computeInfer, computeO uint64
	compute                              uint64 // (input+infer+output ns) / input count
	cacheHit, cacheMiss                  uint64
	cacheCompute                         uint64 // (hit+miss+compute ns) / (compute count + hit count)
}

func serverTimesOf(st *result.ServerStats) serverTimes {
	computeNs := st.ComputeInput.Ns + st.ComputeInfer.Ns + st.ComputeOutput.Ns
	// perf_analyzer requires equal compute counts and divides by the input's.
	n := st.ComputeInput.Count
	return serverTimes{
		request:      avgUs(st.Success.Ns, st.Success.Count),
		queue:        avgUs(st.Queue.Ns, st.Queue.Count),
		computeInput: avgUs(st.ComputeInput.Ns, st.ComputeInput.Count),
		computeInfer: avgUs(st.ComputeInfer.Ns, st.ComputeInfer.Count),
		computeO:     avgUs(st.ComputeOutput.Ns, st.ComputeOutput.Count),
		compute:      avgUs(computeNs, n),
		cacheHit:     avgUs(st.CacheHit.Ns, st.CacheHit.Count),
		cacheMiss:    avgUs(st.CacheMiss.Ns, st.CacheMiss.Count),
		cacheCompute: avgUs(st.CacheHit.Ns+st.CacheMiss.Ns+computeNs, n+st.CacheHit.Count),
	}
}

// ensembleTimes are the summed averages of an ensemble's composing models
// (perf_analyzer's GetTotalEnsembleDurations), recursing into nested
// ensembles.
type ensembleTimes struct {
	queue, compute, cacheHit, cacheMiss, cacheCompute uint64
}

func ensembleTimesOf(st *result.ServerStats) ensembleTimes {
	var e ensembleTimes
	top := serverTimesOf(st)
	e.cacheHit, e.cacheMiss = top.cacheHit, top.cacheMiss
	for i := range st.Composing {
		m := &st.Composing[i]
		var sub ensembleTimes
		if len(m.Composing) == 0 {
			t := serverTimesOf(m)
			sub = ensembleTimes{queue: t.queue, compute: t.compute, cacheHit: t.cacheHit, cacheMiss: t.cacheMiss, cacheCompute: t.cacheCompute}
		} else {
			sub = ensembleTimesOf(m)
		}
		e.queue += sub.queue
		e.compute += sub.compute
		e.cacheHit += sub.cacheHit
		e.cacheMiss += sub.cacheMiss
		e.cacheCompute += sub.cacheCompute
	}
	return e
}

// writeServer is perf_analyzer's ReportServerSideStats: iteration 1 is the
// model itself, deeper iterations its composing models.
func writeServer(p *printer, s result.Settings, st *result.ServerStats, iteration int) {
	ident := strings.Repeat(" ", 2*iteration)
	if st.Success.Count == 0 {
		p.printf(tmplSrvNoRequests, ident, st.Success.Count)
		return
	}
	p.printf(tmplSrvInferences, ident, st.InferenceCount)
	p.printf(tmplSrvExecutions, ident, st.ExecutionCount)
	if s.ResponseCache {
		p.printf(tmplSrvCacheHits, ident, st.CacheHit.Count)
		p.printf(tmplSrvCacheMisses, ident, st.CacheMiss.Count)
	}
	p.printf(tmplSrvSuccess, ident, st.Success.Count)
	t := serverTimesOf(st)
	if len(st.Composing) == 0 {
		if s.ResponseCache {
			p.printf(tmplSrvLatencyCache, ident, t.request, subClamp(t.request, t.queue+t.cacheCompute), t.queue, t.cacheCompute)
			p.printf(tmplSrvCacheHitLatency, ident+ident, t.cacheHit)
			p.printf(tmplSrvCacheMissLatency, ident+ident, t.cacheMiss+t.compute, t.cacheMiss, t.computeInput, t.computeInfer, t.computeO)
			return
		}
		p.printf(tmplSrvLatency, ident, t.request, subClamp(t.request, t.queue+t.compute), t.queue, t.computeInput, t.computeInfer, t.computeO)
		return
	}
	e := ensembleTimesOf(st)
	if s.ResponseCache {
		p.printf(tmplSrvLatencyCache, ident, t.request, subClamp(t.request, e.queue+e.cacheCompute), e.queue, e.cacheCompute)
		p.printf(tmplSrvCacheHitLatency, ident+ident, e.cacheHit)
		p.printf(tmplSrvCacheMissTotal, ident+ident, e.cacheMiss+e.compute)
	} else {
		p.printf(tmplSrvLatencyEnsemble, ident, t.request, subClamp(t.request, e.queue+e.compute), e.queue, e.compute)
	}
	p.printf(tmplComposing, ident)
	for _, m := range sortedComposing(st.Composing) {
		p.printf(tmplComposingModel, ident, m.Model, m.Version)
		writeServer(p, s, &m, iteration+1)
	}
}

// Summary writes the closing "Inferences/Second vs. Client … Batch Latency"
// block (§2.3): one line per reported level, in the order measured. It
// writes nothing for a run without reported levels, as perf_analyzer does.
func Summary(w io.Writer, r result.Run) error {
	s := r.Settings
	if len(r.Levels) == 0 {
		return nil
	}
	if err := checkPercentile(s); err != nil {
		return err
	}
	if err := checkMode(s); err != nil {
		return err
	}
	p := printer{w: w}
	if s.Percentile == 0 {
		p.printf(tmplSummaryAvg)
	} else {
		p.printf(tmplSummaryPct, percentileLabel(s.Percentile))
	}
	for _, l := range r.Levels {
		lat, err := stabilizingLatency(s, &l.Client.Latency)
		if err != nil {
			return fmt.Errorf("report: %s: %w", levelName(s, l), err)
		}
		if s.Mode == result.Concurrency {
			p.printf(tmplSummaryConc, formatCount(l.Value), formatDouble(l.Client.Throughput), usec(lat))
		} else {
			p.printf(tmplSummaryRate, formatDouble(l.Value), formatDouble(l.Client.Throughput), usec(lat))
		}
	}
	writeOverLimit(&p, r)
	return p.flush()
}

// writeOverLimit is perfgo's line after the summary naming the reported
// levels over the failure limit (the ones the CLI's exit code is about),
// or nothing when none is.
func writeOverLimit(p *printer, r result.Run) {
	var values []string
	for _, l := range r.Levels {
		if l.OverFailureLimit {
			values = append(values, formatLevelValue(r.Settings, l.Value))
		}
	}
	if len(values) == 0 {
		return
	}
	p.printf(tmplSummaryOver, formatDouble(r.Settings.FailureLimit), levelUnit(r.Settings), strings.Join(values, ", "))
}

// StopText is the one-line explanation perf_analyzer prints on stderr when a
// sweep stops at a level (value is that level's concurrency or rate), with
// no newline. It is empty for reasons perf_analyzer has no line for
// (completed, cancelled, error). The engine can store it in
// result.Run.StopMessage.
func StopText(s result.Settings, reason result.StopReason, value float64) string {
	switch reason {
	case result.StopLatencyThreshold:
		return fmt.Sprintf(tmplStopThreshold, s.LatencyThreshold.Milliseconds())
	case result.StopUnstable:
		switch {
		case s.Mode != result.Concurrency:
			return tmplStopUnstableRate
		case s.MeasurementMode == "count_windows":
			return fmt.Sprintf(tmplStopUnstableCount, s.MaxTrials, formatCount(value))
		default:
			return fmt.Sprintf(tmplStopUnstableTime, s.MaxTrials, formatCount(value))
		}
	case result.StopNoValidRequests:
		return tmplStopNoValid
	}
	return ""
}

// StopMessage writes StopText and a newline (perf_analyzer writes these to
// stderr), or nothing when StopText is empty.
func StopMessage(w io.Writer, s result.Settings, reason result.StopReason, value float64) error {
	t := StopText(s, reason, value)
	if t == "" {
		return nil
	}
	p := printer{w: w}
	p.line(t)
	return p.flush()
}

// Text writes a finished run's whole stdout report: the header, every
// level's opening line and blocks, and the summary. A live sweep prints the
// same pieces as it goes (plus Pass lines with -v).
func Text(w io.Writer, r result.Run, verbose bool) error {
	if err := Header(w, r.Settings); err != nil {
		return err
	}
	for _, l := range r.Levels {
		if err := LevelStart(w, r.Settings, l.Value); err != nil {
			return err
		}
		if err := Level(w, r.Settings, l, verbose); err != nil {
			return err
		}
	}
	return Summary(w, r)
}
