// Package report renders perfgo results (pkg/result) as perf_analyzer's
// stdout report, its CSV file, perfgo's own JSON report, and perfgo's
// summary table (Table: ASCII or markdown, with the SLO verdict), which the
// CLI prints after perf_analyzer's report, never inside it.
//
// Every function takes plain data and writes to an io.Writer: no clock, no
// files, no state between calls. The stdout and CSV text follow Triton
// perf_analyzer (current main) byte for byte, because tools and users parse
// them; the places where perfgo deliberately prints more are listed here and
// never change or move a line a perf_analyzer parser keys on:
//
//   - "    Failed requests: <n> of <completed> (<share>%): <class> <count>, ..."
//     after the client block's last perf_analyzer line, only when requests
//     failed in any window of the level, merged or not (perf_analyzer stops
//     at the first failure instead); counts over every window, share with
//     two decimals (more where two would read as 0 or as the limit). When
//     the level is over the failure limit, a "[WARNING] More than <limit>%
//     ..." line follows it, and a "Levels over the <limit>% failure limit:
//     ..." line follows the summary.
//   - A "Request timeout: <ms> msec" header line when requests have one.
//   - Open loop (Settings.LatencyOrigin == "intended"): a header line saying
//     latency is measured from the intended send time, and per level the
//     service time, schedule lag and send rate (with perf_analyzer's
//     "not able to keep up" warning when more than 1% of requests were late);
//     in the CSV, extra columns after all of perf_analyzer's.
//   - Fractional percentiles ("p99.9 latency").
//   - Streams (Settings.Streaming): the header says which response the
//     latency ends at, in perf_analyzer's decoupled line when that line is
//     true (decoupled, first response) and in a "Streaming: latency is
//     measured to the first|final response" line otherwise (for a
//     decoupled model perf_analyzer's line is then left out, since it would
//     claim the first response). Per level, after the client-library line,
//     "First response", "Between responses" and "Final response" lines
//     (percentiles as the latency lines have them; "none" without samples)
//     and a "Responses: <n> per request, <r> responses/sec[, <e> output
//     elements/sec]" line; in the CSV, stream columns after perfgo's
//     failure columns. On a stream, "Network+Server Send/Recv" is taken
//     from the time to the final response, which the server's request
//     time also spans.
//   - Sequence models: perf_analyzer's "Sequence count" line; in the CSV,
//     a last "Sequences/Second" column.
//
// Where perf_analyzer's releases differ, the reference's current-main text
// wins: no blank line after a model's "Avg request latency" line (ensembles
// keep theirs), "requests per seconds". Known differences, on purpose: after
// the "delayed requests" warning perf_analyzer leaves std::cout in fixed
// two-decimal mode, so its later throughputs print as "361.97"; perfgo keeps
// the default format. GPU-metric and Prometheus lines are not printed (no
// data yet).
package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/perfgo/perfgo/pkg/result"
)

// LatencyOriginIntended is Settings.LatencyOrigin for open-loop runs, whose
// latency is measured from each request's intended send time.
const LatencyOriginIntended = "intended"

// Settings.StreamLatency values: a streamed request's latency ends at its
// first response or at its final one.
const (
	StreamLatencyFirst = "first"
	StreamLatencyFinal = "final"
)

// lateThresholdPct is perf_analyzer's DELAY_PCT_THRESHOLD: the share of late
// requests (in percent) above which it warns.
const lateThresholdPct = 1.0

// ReportPercentiles is the stdout/CSV percentile list: perf_analyzer's
// p50, p90, p95, p99 and the stabilising percentile, ascending, without
// duplicates.
func ReportPercentiles(p float64) []float64 {
	ps := []float64{50, 90, 95, 99}
	if p == 0 || slices.Contains(ps, p) {
		return ps
	}
	ps = append(ps, p)
	slices.Sort(ps)
	return ps
}

// percentileLabel is "p95", "p99.9": perf_analyzer prints "p" << percentile.
func percentileLabel(p float64) string {
	return "p" + formatDouble(p)
}

func checkPercentile(s result.Settings) error {
	if math.IsNaN(s.Percentile) || s.Percentile < 0 || s.Percentile > 100 {
		return fmt.Errorf("report: settings percentile %v is outside 0–100; use 0 for the average or a percentile such as 95 or 99.9", s.Percentile)
	}
	return nil
}

func checkMode(s result.Settings) error {
	switch s.Mode {
	case result.Concurrency, result.RequestRate, result.Intervals:
		return nil
	}
	return fmt.Errorf("report: settings mode %q is unknown; set it to %q, %q or %q", s.Mode, result.Concurrency, result.RequestRate, result.Intervals)
}

func checkStreamLatency(s result.Settings) error {
	if !s.Streaming || s.StreamLatency == StreamLatencyFirst || s.StreamLatency == StreamLatencyFinal {
		return nil
	}
	return fmt.Errorf("report: settings stream latency %q is unknown; set it to %q or %q when streaming", s.StreamLatency, StreamLatencyFirst, StreamLatencyFinal)
}

// namedDist is a distribution and its name in error messages.
type namedDist struct {
	name string
	d    *result.Distribution
}

// streamDists are st's distributions in report order: first, between, final.
func streamDists(st *result.StreamStats) [3]namedDist {
	return [3]namedDist{{"first response", &st.First}, {"between responses", &st.Between}, {"final response", &st.Final}}
}

// streamPercentiles returns the first, between and final response times of
// st at each of ps.
func streamPercentiles(st *result.StreamStats, ps []float64) (first, between, final []time.Duration, err error) {
	var out [3][]time.Duration
	for i, nd := range streamDists(st) {
		q := result.Quantiles{D: nd.d}
		if out[i], err = q.Values(ps); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", nd.name, err)
		}
	}
	return out[0], out[1], out[2], nil
}

func checkProtocol(s result.Settings) error {
	switch s.Protocol {
	case "http", "grpc":
		return nil
	}
	return fmt.Errorf("report: settings protocol %q is unknown; set it to \"http\" or \"grpc\"", s.Protocol)
}

// stabilizingLatency is the latency the sweep stabilised on and the summary
// prints: the mean, or the chosen percentile.
func stabilizingLatency(s result.Settings, d *result.Distribution) (time.Duration, error) {
	if s.Percentile == 0 {
		return d.Mean, nil
	}
	q := result.Quantiles{D: d}
	v, _, err := q.At(s.Percentile)
	return v, err
}

// lateShare reports the percentage of late requests and whether it is above
// perf_analyzer's warning threshold. perf_analyzer divides by completed
// requests; perfgo divides by issued requests when it knows them, since
// lateness is a property of sending.
func lateShare(c result.ClientStats) (pct float64, warn bool) {
	n := c.Issued
	if n == 0 {
		n = c.Requests
	}
	if n == 0 {
		return 0, false
	}
	pct = float64(c.Late) / float64(n) * 100
	return pct, pct > lateThresholdPct
}

// maxShareDecimals bounds the decimals formatShare adds.
const maxShareDecimals = 6

// FormatShare formats a failed share in percent with two decimals, as
// perf_analyzer prints percentages, adding decimals (up to six) where two
// would mislead: a share above the limit that rounds down to it ("1.00%"
// beside "more than 1% failed"), or a share above 0 that rounds to "0.00".
func FormatShare(pct, limit float64) string {
	for d := 2; ; d++ {
		s := strconv.FormatFloat(pct, 'f', d, 64)
		v, err := strconv.ParseFloat(s, 64)
		misleading := err == nil && ((pct > 0 && v == 0) || (pct > limit && v <= limit))
		if !misleading || d == maxShareDecimals {
			return s
		}
	}
}

// levelName names a level in error messages and perfgo's own lines:
// "concurrency 4", "request rate 250.5".
func levelName(s result.Settings, l result.Level) string {
	return result.LevelName(s.Mode, l.Value)
}

func levelUnit(s result.Settings) string {
	if s.Mode == result.Concurrency {
		return "concurrency"
	}
	return "request rate"
}

// formatLevelValue prints a level's concurrency or rate as perf_analyzer
// does: a concurrency is an integer, a rate a double.
func formatLevelValue(s result.Settings, v float64) string {
	if s.Mode == result.Concurrency {
		return formatCount(v)
	}
	return formatDouble(v)
}

// printer writes lines and keeps the first write error, so templates read
// as a sequence of lines rather than a ladder of error checks.
type printer struct {
	w   io.Writer
	buf []byte
	err error
}

func (p *printer) printf(format string, args ...any) {
	p.buf = fmt.Appendf(p.buf, format, args...)
}

func (p *printer) line(s string) {
	p.buf = append(p.buf, s...)
	p.buf = append(p.buf, '\n')
}

// flush writes everything printed so far in one Write, so a failing writer
// leaves no half block behind a successful one.
func (p *printer) flush() error {
	if p.err == nil && len(p.buf) > 0 {
		if _, err := p.w.Write(p.buf); err != nil {
			p.err = fmt.Errorf("report: write: %w", err)
		}
		p.buf = p.buf[:0]
	}
	return p.err
}

// sortedComposing returns composing models ordered by name then version,
// the order of perf_analyzer's std::map.
func sortedComposing(cs []result.ServerStats) []result.ServerStats {
	out := slices.Clone(cs)
	slices.SortStableFunc(out, func(a, b result.ServerStats) int {
		if c := cmp.Compare(a.Model, b.Model); c != 0 {
			return c
		}
		return cmp.Compare(a.Version, b.Version)
	})
	return out
}
