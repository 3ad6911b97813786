// Package htmlreport renders a perfgo run (pkg/result) as one
// self-contained HTML page: the settings in brief, the stop reason, a
// throughput-vs-latency chart, each level's latency percentile distribution
// on a log "nines" axis, and a table of the levels.
//
// The page works offline: its style is inline, its charts are inline SVG
// drawn by gonum/plot (vg/vgsvg), and it has no script. Fonts are not
// embedded (that would add about 400 KB a chart): the charts name Liberation
// Sans, which gonum measures text with, and the page's style falls back to
// its metric twins Arial and Helvetica, then to any sans-serif font.
//
// Like pkg/report, Write takes plain data and keeps no state between calls,
// and it uses only what a saved JSON report keeps, so a run read back from
// its JSON renders the same page. Its output is deterministic: the same run
// gives the same bytes (no clock, no random element ids).
package htmlreport

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/report"
	"github.com/perfgo/perfgo/pkg/result"
)

// Chart titles, also the figures' ids: tests and readers find the charts by them.
const (
	CurveTitle        = "Latency vs throughput"
	DistributionTitle = "Latency by percentile"
	curveID           = "latency-throughput"
	distributionID    = "latency-percentiles"
)

// Table ids: the reported levels, and the levels measured but not reported.
const (
	LevelsTableID     = "levels"
	UnreportedTableID = "unreported-levels"
)

//go:embed page.html.tmpl
var pageTemplate string

// Write renders r as one HTML page on w. Whatever was measured is shown,
// also for a run that stopped early; a run without levels gives a page that
// says nothing was measured, and why. It fails only on a corrupt histogram
// snapshot or when w does.
func Write(w io.Writer, r result.Run) error {
	pg, err := newPage(r)
	if err != nil {
		return err
	}
	tmpl, err := template.New("page").Parse(pageTemplate)
	if err != nil {
		return fmt.Errorf("htmlreport: page template: %w", err)
	}
	// Rendered whole first, so a failing writer gets no half page.
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, pg); err != nil {
		return fmt.Errorf("htmlreport: render: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("htmlreport: write: %w", err)
	}
	return nil
}

// page is what the template shows.
type page struct {
	Title    string
	Settings []setting
	Stop     string
	// Completed: the run measured every level asked for.
	Completed bool
	// Nothing says why no level was reported; "" when some were.
	Nothing string
	Charts  []chart
	Tables  []table
	Notes   []string
}

type setting struct{ Name, Value string }

type chart struct {
	ID, Title, Caption string
	SVG                template.HTML
}

type table struct {
	ID, Caption string
	Head        []string
	Rows        [][]string
}

// level is a result.Level with its distributions imported once.
type level struct {
	l       *result.Level
	name    string // "concurrency 4", "250 req/s": legends and error messages
	short   string // "c=4", "250/s": point labels
	latency *dist
	// Open loop and streams; nil when the level has none.
	serviceTime, scheduleLag, first, between *dist
}

func newPage(r result.Run) (*page, error) {
	s := r.Settings
	pg := &page{
		Title:     "perfgo: " + orDash(s.Model),
		Settings:  settingsOf(s),
		Stop:      stopText(r),
		Completed: r.Stop == result.StopCompleted,
	}
	switch {
	case len(r.Levels) > 0:
	case len(r.Unreported) > 0:
		pg.Nothing = "No level was reported: the levels measured are listed below."
	default:
		pg.Nothing = "Nothing was measured: the run reported no level."
	}
	levels, err := newLevels(s, r.Levels)
	if err != nil {
		return nil, err
	}
	unreported, err := newLevels(s, r.Unreported)
	if err != nil {
		return nil, err
	}
	if len(levels) > 0 {
		charts, notes, err := drawCharts(s, levels)
		if err != nil {
			return nil, err
		}
		pg.Charts, pg.Notes = charts, notes
		pg.Tables = append(pg.Tables, levelTable(LevelsTableID, "Reported levels", s, levels))
	}
	if len(unreported) > 0 {
		pg.Tables = append(pg.Tables, levelTable(UnreportedTableID,
			"Measured but not reported (did not stabilise or went over the latency limit)", s, unreported))
	}
	return pg, nil
}

func newLevels(s result.Settings, ls []result.Level) ([]level, error) {
	out := make([]level, 0, len(ls))
	for i := range ls {
		l := &ls[i]
		lv := level{l: l, name: levelName(s, l.Value), short: levelShort(s, l.Value)}
		c := &l.Client
		var err error
		if lv.latency, err = newDist(&c.Latency); err != nil {
			return nil, fmt.Errorf("htmlreport: %s: latency: %w", lv.name, err)
		}
		for _, opt := range []struct {
			name string
			d    *result.Distribution
			out  **dist
		}{
			{"service time", c.ServiceTime, &lv.serviceTime},
			{"schedule lag", c.ScheduleLag, &lv.scheduleLag},
			{"first response", streamDist(c.Stream, true), &lv.first},
			{"between responses", streamDist(c.Stream, false), &lv.between},
		} {
			if opt.d == nil {
				continue
			}
			if *opt.out, err = newDist(opt.d); err != nil {
				return nil, fmt.Errorf("htmlreport: %s: %s: %w", lv.name, opt.name, err)
			}
		}
		out = append(out, lv)
	}
	return out, nil
}

func streamDist(st *result.StreamStats, first bool) *result.Distribution {
	switch {
	case st == nil:
		return nil
	case first:
		return &st.First
	}
	return &st.Between
}

// dist is one distribution's percentiles for the page (nil: none).
type dist struct{ q *result.Quantiles }

// newDist validates d's histogram up front: a corrupt snapshot fails the
// page instead of showing as missing values.
func newDist(d *result.Distribution) (*dist, error) {
	q := &result.Quantiles{D: d}
	if _, err := q.Hist(); err != nil {
		return nil, err
	}
	return &dist{q: q}, nil
}

// at returns the value at percentile p (0–100) and whether the distribution
// can answer it.
func (d *dist) at(p float64) (time.Duration, bool) {
	if d == nil {
		return 0, false
	}
	v, ok, _ := d.q.At(p) // validated by newDist
	return v, ok
}

// hist is the distribution's histogram when it holds samples the nines
// chart can draw, else nil.
func (d *dist) hist() *hdrhistogram.Histogram {
	if d == nil {
		return nil
	}
	if h, _ := d.q.Hist(); h != nil && h.TotalCount() > 0 {
		return h
	}
	return nil
}

func settingsOf(s result.Settings) []setting {
	var out []setting
	add := func(name, value string) {
		if value != "" {
			out = append(out, setting{name, value})
		}
	}
	model := s.Model
	if s.Version != "" {
		model += " (version " + s.Version + ")"
	}
	add("Model", model)
	add("Protocol", strings.TrimSpace(s.Protocol+" "+s.URL))
	mode := string(s.Mode)
	switch s.Mode {
	case result.Concurrency:
		mode = "concurrency (closed loop)"
	case result.RequestRate, result.Intervals:
		mode = strings.ReplaceAll(string(s.Mode), "_", " ") + " (open loop"
		if s.Distribution != "" {
			mode += ", " + s.Distribution
		}
		mode += ")"
	}
	add("Mode", mode)
	if s.Mode != result.Intervals {
		rng := num(s.RangeStart) + ":" + num(s.RangeEnd) + ":" + num(s.RangeStep)
		if s.BinarySearch {
			rng += " (binary search)"
		}
		add("Range", rng)
	}
	if s.BatchSize > 0 {
		add("Batch size", strconv.Itoa(s.BatchSize))
	}
	switch {
	case s.RequestCount > 0:
		add("Measurement", fmt.Sprintf("one window of %d requests", s.RequestCount))
	case s.MeasurementMode == "count_windows":
		add("Measurement", fmt.Sprintf("windows of %d requests", s.MeasurementRequestCount))
	case s.MeasurementInterval > 0:
		add("Measurement", fmt.Sprintf("windows of %v", s.MeasurementInterval))
	}
	if s.StabilityPercentage > 0 {
		on := "average latency"
		if s.Percentile != 0 {
			on = "p" + num(s.Percentile) + " latency"
		}
		add("Stability", fmt.Sprintf("within %s%% on %s", num(s.StabilityPercentage), on))
	}
	if s.LatencyThreshold > 0 {
		add("Latency limit", s.LatencyThreshold.String())
	}
	switch s.LatencyOrigin {
	case "intended":
		add("Latency from", "each request's intended send time (free of coordinated omission)")
	case "send":
		add("Latency from", "each request's send")
	}
	if s.Streaming {
		add("Streaming", "latency ends at the "+s.StreamLatency+" response")
	}
	return out
}

func stopText(r result.Run) string {
	t := strings.ReplaceAll(r.Stop.String(), "_", " ")
	if r.StopMessage != "" {
		t += ": " + r.StopMessage
	}
	return t
}

func isOpenLoop(s result.Settings) bool {
	return s.Mode == result.RequestRate || s.Mode == result.Intervals
}

func levelName(s result.Settings, v float64) string {
	if isOpenLoop(s) {
		return num(v) + " req/s"
	}
	return "concurrency " + num(v)
}

func levelShort(s result.Settings, v float64) string {
	if isOpenLoop(s) {
		return num(v) + "/s"
	}
	return "c=" + num(v)
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// levelTable is one row per level. Columns that no level has data for
// (server statistics, open loop, streams) are left out.
func levelTable(id, caption string, s result.Settings, levels []level) table {
	type column struct {
		head  string
		value func(lv *level) string
	}
	pct := func(d func(lv *level) *dist, p float64) func(lv *level) string {
		return func(lv *level) string {
			v, ok := d(lv).at(p)
			if !ok {
				return "–"
			}
			return millis(v)
		}
	}
	latency := func(lv *level) *dist { return lv.latency }
	levelHead := "Concurrency"
	if isOpenLoop(s) {
		levelHead = "Rate (req/s)"
	}
	cols := []column{
		{levelHead, func(lv *level) string { return num(lv.l.Value) }},
		{"Throughput (infer/s)", func(lv *level) string { return fixed1(lv.l.Client.Throughput) }},
	}
	for _, p := range report.ReportPercentiles(s.Percentile) {
		cols = append(cols, column{"p" + num(p) + " (ms)", pct(latency, p)})
	}
	cols = append(cols, column{"Failed", func(lv *level) string {
		t := lv.l.Total
		if t.Failed == 0 {
			return "0"
		}
		return fmt.Sprintf("%d (%s%%)", t.Failed, report.FormatShare(t.FailedPercent(), s.FailureLimit))
	}})
	has := func(f func(lv *level) bool) bool {
		return slices.ContainsFunc(levels, func(lv level) bool { return f(&lv) })
	}
	if has(func(lv *level) bool { return lv.l.Server != nil }) {
		// report's figures: an ensemble's are its composing models' sums.
		server := func(compute bool) func(lv *level) string {
			return func(lv *level) string {
				q, c, ok := report.ServerQueueCompute(lv.l.Server)
				switch {
				case !ok:
					return "–"
				case compute:
					return millis(c)
				}
				return millis(q)
			}
		}
		cols = append(cols,
			column{"Server queue (ms)", server(false)},
			column{"Server compute (ms)", server(true)})
	}
	if isOpenLoop(s) || has(func(lv *level) bool { return lv.scheduleLag != nil }) {
		cols = append(cols,
			column{"Send rate (req/s)", func(lv *level) string { return fixed1(lv.l.Client.SendRate) }},
			column{"Service p99 (ms)", pct(func(lv *level) *dist { return lv.serviceTime }, 99)},
			column{"Schedule lag p99 (ms)", pct(func(lv *level) *dist { return lv.scheduleLag }, 99)})
	}
	if has(func(lv *level) bool { return lv.first != nil }) {
		first := func(lv *level) *dist { return lv.first }
		between := func(lv *level) *dist { return lv.between }
		cols = append(cols,
			column{"First response p50 (ms)", pct(first, 50)},
			column{"First response p99 (ms)", pct(first, 99)},
			column{"Between responses p50 (ms)", pct(between, 50)},
			column{"Between responses p99 (ms)", pct(between, 99)})
	}
	t := table{ID: id, Caption: caption}
	for _, c := range cols {
		t.Head = append(t.Head, c.head)
	}
	for i := range levels {
		row := make([]string, len(cols))
		for j, c := range cols {
			row[j] = c.value(&levels[i])
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// millis prints a duration in milliseconds with about four significant
// digits, the unit every latency on the page is in.
func millis(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func fixed1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
