package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/perfgo/perfgo/pkg/result"
	"github.com/perfgo/perfgo/pkg/slo"
)

// Summary table formats (TableOptions.Format).
const (
	// FormatTable is an aligned ASCII table, for a terminal or a log.
	FormatTable = "table"
	// FormatMarkdown is a GitHub-flavoured markdown table, for CI job
	// summaries and pull-request comments.
	FormatMarkdown = "markdown"
)

// TableOptions say how Table renders.
type TableOptions struct {
	Format string // FormatTable or FormatMarkdown
}

// Table writes perfgo's summary of a run: one row per reported level with
// throughput, latency percentiles (p50, p90, p95, p99 and the stabilising
// one), failures, and where the run has them the server's queue and compute
// times, open loop's send rate, service-time and schedule-lag p99, and
// streams' first-response and between-response p99. When the run carries
// SLOs (Settings.SLOs) a verdict column follows, then the run's verdict and
// its max throughput under SLO. Latencies print with three significant
// digits and their unit. It writes nothing for a run without reported
// levels or SLOs.
func Table(w io.Writer, r result.Run, o TableOptions) error {
	md := false
	switch o.Format {
	case FormatTable:
	case FormatMarkdown:
		md = true
	default:
		return fmt.Errorf("report: table format %q is unknown; use %q or %q", o.Format, FormatTable, FormatMarkdown)
	}
	s := r.Settings
	if err := checkPercentile(s); err != nil {
		return err
	}
	if err := checkMode(s); err != nil {
		return err
	}
	verdict, judged, err := slo.JudgeRun(r)
	if err != nil {
		return fmt.Errorf("report: settings SLOs: %w", err)
	}
	if len(r.Levels) == 0 && !judged {
		return nil
	}
	var buf bytes.Buffer
	if len(r.Levels) > 0 {
		cols := tableColumns(r, judged, md)
		header := make([]any, len(cols))
		for i, c := range cols {
			header[i] = c.name
		}
		t := newTable(&buf, md)
		t.Header(header...)
		for i, l := range r.Levels {
			row := make([]string, len(cols))
			for j, c := range cols {
				var lv *slo.Level
				if judged {
					lv = &verdict.Levels[i]
				}
				if row[j], err = c.cell(l, lv); err != nil {
					return fmt.Errorf("report: %s: %w", levelName(s, l), err)
				}
			}
			if err := t.Append(row); err != nil {
				return fmt.Errorf("report: table: %w", err)
			}
		}
		if err := t.Render(); err != nil {
			return fmt.Errorf("report: table: %w", err)
		}
	}
	if judged {
		writeVerdict(&buf, s, verdict, md, len(r.Levels) > 0)
	}
	p := printer{w: w, buf: buf.Bytes()}
	return p.flush()
}

// newTable keeps tablewriter's v1 API in one place: headers as given (v1
// upper-cases them by default), cells right-aligned like numbers.
func newTable(w io.Writer, md bool) *tablewriter.Table {
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignRight),
		tablewriter.WithRowAlignment(tw.AlignRight),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	}
	if md {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	} else {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})))
	}
	return tablewriter.NewTable(w, opts...)
}

// tableColumn is one column of the summary table.
type tableColumn struct {
	name string
	// cell renders a level; lv is its SLO verdict (nil without SLOs).
	cell func(l result.Level, lv *slo.Level) (string, error)
}

// tableColumns are the columns the run has data for.
func tableColumns(r result.Run, judged, md bool) []tableColumn {
	s := r.Settings
	unit := "Concurrency"
	if s.Mode != result.Concurrency {
		unit = "Request rate"
	}
	cols := []tableColumn{
		{unit, func(l result.Level, _ *slo.Level) (string, error) { return formatLevelValue(s, l.Value), nil }},
		{"Inferences/s", func(l result.Level, _ *slo.Level) (string, error) { return formatDouble(l.Client.Throughput), nil }},
	}
	for _, p := range ReportPercentiles(s.Percentile) {
		cols = append(cols, tableColumn{percentileLabel(p), func(l result.Level, _ *slo.Level) (string, error) {
			return distCell(&l.Client.Latency, p)
		}})
	}
	cols = append(cols, tableColumn{"Failed", func(l result.Level, _ *slo.Level) (string, error) {
		if l.Total.Failed == 0 {
			return "0", nil
		}
		return fmt.Sprintf("%d (%s%%)", l.Total.Failed, FormatShare(l.Total.FailedPercent(), s.FailureLimit)), nil
	}})
	if hasServerStats(r.Levels) {
		cols = append(cols,
			tableColumn{"Server queue", func(l result.Level, _ *slo.Level) (string, error) {
				q, _ := serverQueueCompute(l.Server)
				return q, nil
			}},
			tableColumn{"Server compute", func(l result.Level, _ *slo.Level) (string, error) {
				_, c := serverQueueCompute(l.Server)
				return c, nil
			}})
	}
	if s.LatencyOrigin == LatencyOriginIntended {
		cols = append(cols,
			tableColumn{"Send rate/s", func(l result.Level, _ *slo.Level) (string, error) { return formatDouble(l.Client.SendRate), nil }},
			tableColumn{"Service p99", func(l result.Level, _ *slo.Level) (string, error) { return distCell(l.Client.ServiceTime, 99) }},
			tableColumn{"Lag p99", func(l result.Level, _ *slo.Level) (string, error) { return distCell(l.Client.ScheduleLag, 99) }})
	}
	if s.Streaming {
		stream := func(pick func(*result.StreamStats) *result.Distribution) func(result.Level, *slo.Level) (string, error) {
			return func(l result.Level, _ *slo.Level) (string, error) {
				if l.Client.Stream == nil {
					return "-", nil
				}
				return distCell(pick(l.Client.Stream), 99)
			}
		}
		cols = append(cols,
			tableColumn{"First p99", stream(func(st *result.StreamStats) *result.Distribution { return &st.First })},
			tableColumn{"Between p99", stream(func(st *result.StreamStats) *result.Distribution { return &st.Between })})
	}
	if judged {
		cols = append(cols, tableColumn{"SLO", func(_ result.Level, lv *slo.Level) (string, error) { return verdictCell(lv, md), nil }})
	}
	return cols
}

// distCell is d's percentile p, or "-" when d has no such data.
func distCell(d *result.Distribution, p float64) (string, error) {
	if d == nil {
		return "-", nil
	}
	q := result.Quantiles{D: d}
	v, ok, err := q.At(p)
	if err != nil || !ok {
		return "-", err
	}
	return slo.FormatDuration(v), nil
}

func hasServerStats(levels []result.Level) bool {
	for _, l := range levels {
		if l.Server != nil {
			return true
		}
	}
	return false
}

// serverQueueCompute are ServerQueueCompute's times formatted, "-"
// without statistics.
func serverQueueCompute(st *result.ServerStats) (queue, compute string) {
	q, c, ok := ServerQueueCompute(st)
	if !ok {
		return "-", "-"
	}
	return slo.FormatDuration(q), slo.FormatDuration(c)
}

// ServerQueueCompute are the server's average queue and compute times per
// request as perf_analyzer's server block derives them (an ensemble's
// summed over its composing models), in whole µs as it prints them; ok is
// false without statistics or requests.
func ServerQueueCompute(st *result.ServerStats) (queue, compute time.Duration, ok bool) {
	if st == nil || st.Success.Count == 0 {
		return 0, 0, false
	}
	t := serverTimesOf(st)
	q, c := t.queue, t.compute
	if len(st.Composing) > 0 {
		e := ensembleTimesOf(st)
		q, c = e.queue, e.compute
	}
	return time.Duration(q) * time.Microsecond, time.Duration(c) * time.Microsecond, true
}

// verdictCell is "pass", or "FAIL" and the objectives the level missed.
func verdictCell(lv *slo.Level, md bool) string {
	if lv.Pass {
		return "pass"
	}
	var missed []string
	for _, r := range lv.Results {
		if r.Pass {
			continue
		}
		what := code(r.Objective.String(), md)
		if !r.Measured() {
			what += " (" + r.Reason + ")"
		}
		missed = append(missed, what)
	}
	return "FAIL " + strings.Join(missed, ", ")
}

// code quotes an SLO expression in markdown, where "<" could start a tag.
func code(s string, md bool) string {
	if md {
		return "`" + s + "`"
	}
	return s
}

// writeVerdict writes the run's verdict and its max throughput under SLO.
func writeVerdict(w *bytes.Buffer, s result.Settings, v slo.Verdict, md, afterTable bool) {
	objs := make([]string, len(v.Objectives))
	for i, o := range v.Objectives {
		objs[i] = code(o.String(), md)
	}
	if afterTable {
		w.WriteString("\n")
	}
	rule := "every reported level must meet"
	if v.Mode == slo.Any {
		rule = "at least one level must meet"
	}
	outcome := "PASS"
	if !v.Pass {
		outcome = "FAIL"
	}
	if md {
		outcome = "**" + outcome + "**"
	}
	fmt.Fprintf(w, "SLO verdict: %s (--slo-mode %s: %s %s)\n", outcome, v.Mode, rule, strings.Join(objs, ", "))
	if md {
		w.WriteString("\n") // a paragraph of its own
	}
	best, ok := v.MaxThroughput()
	if !ok {
		w.WriteString("Max throughput under SLO: none (no level met every SLO)\n")
		return
	}
	fmt.Fprintf(w, "Max throughput under SLO: %s infer/sec at %s\n", formatDouble(best), v.Levels[v.Best].Name())
}
