package report

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/perfgo/perfgo/pkg/result"
)

// CSVOptions selects optional CSV columns.
type CSVOptions struct {
	// Verbose adds perf_analyzer's --verbose-csv columns: "Avg latency"
	// (only when stabilising on the average), "request/response" and
	// "response wait", and when metrics were collected its four GPU
	// columns and perfgo's one per --metric family (see csvColumns).
	Verbose bool
}

// csvRow holds one level's cell values, computed once; columns only pick
// and format them. Times are whole µs, truncated as perf_analyzer does.
type csvRow struct {
	level result.Level

	send, recv         uint64
	network            uint64 // Network+Server Send/Recv
	queue              uint64
	computeInput       uint64
	computeInfer       uint64
	computeOutput      uint64
	cacheHit           uint64
	cacheMiss          uint64
	percentiles        []uint64 // per csvLayout.percentiles
	avgLatency         uint64
	requestResponse    uint64 // send + recv
	responseWait       uint64 // request time − send − recv
	serviceP50         uint64
	serviceP99         uint64
	lagP99             uint64
	late               uint64
	failed             uint64 // over every window of the level
	sendRate           float64
	throughput         float64
	responseThroughput float64

	// Streamed requests, at reportPercentiles; zeros without StreamStats.
	stream         *result.StreamStats
	streamFirst    []uint64
	streamBetween  []uint64
	streamFinal    []uint64
	streamFinalAvg uint64
}

// csvColumn is one CSV column: its header and how a row fills it.
type csvColumn struct {
	name string
	cell func(b []byte, r *csvRow) []byte
}

func uintCell(f func(r *csvRow) uint64) func([]byte, *csvRow) []byte {
	return func(b []byte, r *csvRow) []byte { return strconv.AppendUint(b, f(r), 10) }
}

// csvColumns is the one definition of the CSV layout (§3.1): perf_analyzer's
// columns in its order, each group present under its condition, then
// perfgo's open-loop columns and its two failure columns after all of them
// so perf_analyzer's keep their positions. "Failed Requests" counts every
// window of the level; "Over Failure Limit" is "true" or "false".
//
// Then, when Settings.Streaming, perfgo's stream columns (names are an API,
// like perf_analyzer's), times in whole µs:
//
//	First Response p50,First Response p90,First Response p95,[First Response p<N>,]First Response p99,
//	Between Responses p50,...,Between Responses p99,
//	Final Response Avg,Final Response p50,...,Final Response p99,
//	Responses/Request,Responses/Second,Output Elements/Second
//
// with the --percentile one inserted in order as in "p<N> latency"; and
// then, for sequence models (Settings.Sequence set), Sequences/Second;
// and last, with Verbose and collected metrics, a column per --metric
// family (familyCSVColumns). perf_analyzer's GPU columns follow
// "response wait" (gpuCSVColumns).
func csvColumns(s result.Settings, o CSVOptions) []csvColumn {
	var cols []csvColumn
	add := func(name string, cell func([]byte, *csvRow) []byte) {
		cols = append(cols, csvColumn{name, cell})
	}
	if s.Mode == result.Concurrency {
		add("Concurrency", func(b []byte, r *csvRow) []byte { return append(b, formatCount(r.level.Value)...) })
	} else {
		add("Request Rate", func(b []byte, r *csvRow) []byte { return appendDouble(b, r.level.Value) })
	}
	add("Inferences/Second", func(b []byte, r *csvRow) []byte { return appendDouble(b, r.throughput) })
	if s.Decoupled {
		add("Response Throughput", func(b []byte, r *csvRow) []byte { return appendDouble(b, r.responseThroughput) })
	}
	add("Client Send", uintCell(func(r *csvRow) uint64 { return r.send }))
	if s.ServerStats {
		add("Network+Server Send/Recv", uintCell(func(r *csvRow) uint64 { return r.network }))
		add("Server Queue", uintCell(func(r *csvRow) uint64 { return r.queue }))
		add("Server Compute Input", uintCell(func(r *csvRow) uint64 { return r.computeInput }))
		add("Server Compute Infer", uintCell(func(r *csvRow) uint64 { return r.computeInfer }))
		add("Server Compute Output", uintCell(func(r *csvRow) uint64 { return r.computeOutput }))
		if s.ResponseCache {
			add("Server Cache Hit", uintCell(func(r *csvRow) uint64 { return r.cacheHit }))
			add("Server Cache Miss", uintCell(func(r *csvRow) uint64 { return r.cacheMiss }))
		}
	}
	add("Client Recv", uintCell(func(r *csvRow) uint64 { return r.recv }))
	for i, p := range ReportPercentiles(s.Percentile) {
		add(percentileLabel(p)+" latency", uintCell(func(r *csvRow) uint64 { return r.percentiles[i] }))
	}
	if o.Verbose {
		if s.Percentile == 0 {
			add("Avg latency", uintCell(func(r *csvRow) uint64 { return r.avgLatency }))
		}
		add("request/response", uintCell(func(r *csvRow) uint64 { return r.requestResponse }))
		add("response wait", uintCell(func(r *csvRow) uint64 { return r.responseWait }))
		if s.Metrics != nil {
			cols = append(cols, gpuCSVColumns()...)
		}
	}
	if s.LatencyOrigin == LatencyOriginIntended {
		add("Service p50", uintCell(func(r *csvRow) uint64 { return r.serviceP50 }))
		add("Service p99", uintCell(func(r *csvRow) uint64 { return r.serviceP99 }))
		add("Schedule Lag p99", uintCell(func(r *csvRow) uint64 { return r.lagP99 }))
		add("Late Requests", uintCell(func(r *csvRow) uint64 { return r.late }))
		add("Send Rate", func(b []byte, r *csvRow) []byte { return appendDouble(b, r.sendRate) })
	}
	add("Failed Requests", uintCell(func(r *csvRow) uint64 { return r.failed }))
	add("Over Failure Limit", func(b []byte, r *csvRow) []byte { return strconv.AppendBool(b, r.level.OverFailureLimit) })
	if s.Streaming {
		ps := ReportPercentiles(s.Percentile)
		for i, p := range ps {
			add("First Response "+percentileLabel(p), uintCell(func(r *csvRow) uint64 { return r.streamFirst[i] }))
		}
		for i, p := range ps {
			add("Between Responses "+percentileLabel(p), uintCell(func(r *csvRow) uint64 { return r.streamBetween[i] }))
		}
		add("Final Response Avg", uintCell(func(r *csvRow) uint64 { return r.streamFinalAvg }))
		for i, p := range ps {
			add("Final Response "+percentileLabel(p), uintCell(func(r *csvRow) uint64 { return r.streamFinal[i] }))
		}
		add("Responses/Request", func(b []byte, r *csvRow) []byte { return appendDouble(b, r.stream.PerRequest) })
		add("Responses/Second", func(b []byte, r *csvRow) []byte { return appendDouble(b, r.level.Client.ResponseThroughput) })
		add("Output Elements/Second", func(b []byte, r *csvRow) []byte { return appendDouble(b, r.stream.ElementThroughput) })
	}
	if s.Sequence != nil {
		add("Sequences/Second", func(b []byte, r *csvRow) []byte { return appendDouble(b, r.level.Client.SequenceRate) })
	}
	if o.Verbose && s.Metrics != nil {
		cols = append(cols, familyCSVColumns(s)...)
	}
	return cols
}

// avgNs is a cumulative stat's average in ns, 0 without samples.
func avgNs(st result.Stat) uint64 {
	if st.Count == 0 {
		return 0
	}
	return st.Ns / st.Count
}

// computeAvgNs is the average compute time per request: all three compute
// phases over the compute-input count, as perf_analyzer divides it.
func computeAvgNs(st *result.ServerStats) uint64 {
	if st.ComputeInput.Count == 0 {
		return 0
	}
	return (st.ComputeInput.Ns + st.ComputeInfer.Ns + st.ComputeOutput.Ns) / st.ComputeInput.Count
}

func nonNeg(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	return uint64(d)
}

// newCSVRow computes one level's cells as perf_analyzer's ReportWriter does:
// server averages in ns, then truncated to µs.
func newCSVRow(s result.Settings, l result.Level) (csvRow, error) {
	c := l.Client
	r := csvRow{
		level:              l,
		send:               usec(c.Send),
		recv:               usec(c.Recv),
		avgLatency:         usec(c.Latency.Mean),
		late:               c.Late,
		failed:             l.Total.Failed,
		sendRate:           c.SendRate,
		throughput:         c.Throughput,
		responseThroughput: c.ResponseThroughput,
	}
	ps := ReportPercentiles(s.Percentile)
	q := result.Quantiles{D: &c.Latency}
	lat, err := q.Values(ps)
	if err != nil {
		return r, err
	}
	r.percentiles = usecs(lat)
	if s.Streaming {
		r.stream = c.Stream
		if r.stream == nil {
			r.stream = &result.StreamStats{}
		}
		first, between, final, err := streamPercentiles(r.stream, ps)
		if err != nil {
			return r, err
		}
		r.streamFirst, r.streamBetween, r.streamFinal = usecs(first), usecs(between), usecs(final)
		r.streamFinalAvg = usec(r.stream.Final.Mean)
	}
	r.requestResponse = r.send + r.recv
	r.responseWait = subClamp(usec(c.RequestTime), r.send+r.recv)

	var st result.ServerStats // a level without server data reads as zeros
	if l.Server != nil {
		st = *l.Server
	}
	queue, compute := avgNs(st.Queue), computeAvgNs(&st)
	hit, miss := avgNs(st.CacheHit), avgNs(st.CacheMiss)
	r.queue = queue / 1000
	r.computeInput = avgNs(st.ComputeInput) / 1000
	r.computeInfer = avgNs(st.ComputeInfer) / 1000
	r.computeOutput = avgNs(st.ComputeOutput) / 1000
	r.cacheHit, r.cacheMiss = hit/1000, miss/1000

	// Network+Server Send/Recv: what the client waited that the server does
	// not account for. The client side is the latency from the actual send,
	// so in open loop it is the service time, not the intended-time latency;
	// on a stream it lasts to the final response, as the server's request
	// does (and as perf_analyzer measures a decoupled model's latency).
	mean := c.Latency.Mean
	switch {
	case s.LatencyOrigin == LatencyOriginIntended && c.ServiceTime != nil:
		mean = c.ServiceTime.Mean
	case c.Stream != nil:
		mean = c.Stream.Final.Mean
	}
	wait := subClamp(nonNeg(mean), nonNeg(c.Send)+nonNeg(c.Recv))
	r.network = subClamp(wait, queue+compute+hit+miss) / 1000

	if s.LatencyOrigin == LatencyOriginIntended {
		if c.ServiceTime != nil {
			q := result.Quantiles{D: c.ServiceTime}
			v, err := q.Values([]float64{50, 99})
			if err != nil {
				return r, fmt.Errorf("service time: %w", err)
			}
			r.serviceP50, r.serviceP99 = usec(v[0]), usec(v[1])
		}
		if c.ScheduleLag != nil {
			q := result.Quantiles{D: c.ScheduleLag}
			v, err := q.Values([]float64{99})
			if err != nil {
				return r, fmt.Errorf("schedule lag: %w", err)
			}
			r.lagP99 = usec(v[0])
		}
	}
	return r, nil
}

func usecs(ds []time.Duration) []uint64 {
	out := make([]uint64, len(ds))
	for i, d := range ds {
		out[i] = usec(d)
	}
	return out
}

// sortedByThroughput returns the levels ordered by throughput ascending,
// keeping measurement order among equals, as perf_analyzer's CSV rows are.
func sortedByThroughput(levels []result.Level) []result.Level {
	out := slices.Clone(levels)
	slices.SortStableFunc(out, func(a, b result.Level) int {
		switch {
		case a.Client.Throughput < b.Client.Throughput:
			return -1
		case a.Client.Throughput > b.Client.Throughput:
			return 1
		}
		return 0
	})
	return out
}

// CSV writes perf_analyzer's CSV report (-f): a header and one row per
// reported level, rows sorted by Inferences/Second ascending. A run without
// levels gets the header only.
func CSV(w io.Writer, r result.Run, o CSVOptions) error {
	s := r.Settings
	if err := checkPercentile(s); err != nil {
		return err
	}
	if err := checkMode(s); err != nil {
		return err
	}
	cols := csvColumns(s, o)
	b := appendHeader(nil, cols)
	for _, l := range sortedByThroughput(r.Levels) {
		row, err := newCSVRow(s, l)
		if err != nil {
			return fmt.Errorf("report: csv: %s: %w", levelName(s, l), err)
		}
		b = appendRow(b, cols, &row)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("report: write csv: %w", err)
	}
	return nil
}

// ModelRef names one model version.
type ModelRef struct {
	Model, Version string
}

// ComposingModels lists the composing models of an ensemble run (from its
// first level's server statistics), ordered by name and version; each gets
// its own CSV from ComposingCSV.
func ComposingModels(r result.Run) []ModelRef {
	for _, l := range r.Levels {
		if l.Server == nil {
			continue
		}
		var refs []ModelRef
		for _, m := range sortedComposing(l.Server.Composing) {
			refs = append(refs, ModelRef{m.Model, m.Version})
		}
		return refs
	}
	return nil
}

// ComposingFileName is perf_analyzer's name for a composing model's CSV,
// "<model>_v<version>." before the -f file's name. perf_analyzer glues it
// to the front of the whole argument, so that -f out/r.csv would write
// into a directory "<model>_v<version>.out"; perfgo keeps the file beside
// the -f file (out/<model>_v<version>.r.csv).
func ComposingFileName(csvPath string, m ModelRef) string {
	dir, file := filepath.Split(csvPath)
	return dir + m.Model + "_v" + m.Version + "." + file
}

// composingColumns is the layout of a composing model's CSV: the main
// layout with server columns, cut after "Client Recv". That leaves out
// perfgo's failure columns too: failures are the ensemble's requests, not
// the composing model's, and the main CSV has them on the same rows.
func composingColumns(s result.Settings) []csvColumn {
	s.ServerStats, s.Decoupled, s.LatencyOrigin = true, false, ""
	cols := csvColumns(s, CSVOptions{})
	for i, c := range cols {
		if c.name == "Client Recv" {
			return cols[:i+1]
		}
	}
	return cols
}

// composingRow fills a row for composing model m of level l: the
// ensemble's throughput scaled by the model's share of successful requests,
// client columns 0, and "Network+Server Send/Recv" holding the model's
// server overhead, as perf_analyzer writes them. A level without statistics
// for the model gets zeros.
func composingRow(l result.Level, m ModelRef) csvRow {
	var parent, st result.ServerStats
	if l.Server != nil {
		parent = *l.Server
		for _, c := range l.Server.Composing {
			if c.Model == m.Model && c.Version == m.Version {
				st = c
				break
			}
		}
	}
	ratio := 0.0
	if parent.Success.Count > 0 {
		ratio = float64(st.Success.Count) / float64(parent.Success.Count)
	}
	queue, compute := avgNs(st.Queue), computeAvgNs(&st)
	hit, miss := avgNs(st.CacheHit), avgNs(st.CacheMiss)
	return csvRow{
		level:         l,
		throughput:    ratio * l.Client.Throughput,
		network:       subClamp(avgNs(st.Success), queue+compute+hit+miss) / 1000,
		queue:         queue / 1000,
		computeInput:  avgNs(st.ComputeInput) / 1000,
		computeInfer:  avgNs(st.ComputeInfer) / 1000,
		computeOutput: avgNs(st.ComputeOutput) / 1000,
		cacheHit:      hit / 1000,
		cacheMiss:     miss / 1000,
	}
}

// ComposingCSV writes the CSV perf_analyzer writes for one composing model
// of an ensemble, rows in the main CSV's order.
func ComposingCSV(w io.Writer, r result.Run, m ModelRef) error {
	s := r.Settings
	if err := checkMode(s); err != nil {
		return err
	}
	cols := composingColumns(s)
	var b []byte
	b = appendHeader(b, cols)
	for _, l := range sortedByThroughput(r.Levels) {
		row := composingRow(l, m)
		b = appendRow(b, cols, &row)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("report: write composing csv for %s version %s: %w", m.Model, m.Version, err)
	}
	return nil
}

func appendHeader(b []byte, cols []csvColumn) []byte {
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.name...)
	}
	return append(b, '\n')
}

func appendRow(b []byte, cols []csvColumn, r *csvRow) []byte {
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.cell(b, r)
	}
	return append(b, '\n')
}
