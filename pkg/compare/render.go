package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/perfgo/perfgo/pkg/result"
)

// tableHeader names the columns of Table and Markdown.
var tableHeader = []string{"Level", "Metric", "Base", "New", "Change", "Noise band", "Verdict"}

// rows are the report as text cells: one row per level and metric, one
// row for a level in one run only.
func (r Report) rows() [][]string {
	var rows [][]string
	for _, l := range r.Levels {
		name := result.LevelName(l.Mode, l.Value)
		if l.Presence != Both {
			rows = append(rows, []string{name, "", "", "", "", "", string(l.Presence)})
			continue
		}
		for _, m := range l.Metrics {
			rows = append(rows, []string{
				name, m.Name + " (" + m.Unit + ")", formatValue(m.Base), formatValue(m.New),
				formatPercent(m.Change, true), formatBand(m.Band), string(m.Verdict),
			})
		}
	}
	return rows
}

func formatValue(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func formatBand(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "too few samples"
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	}
	return "±" + formatPercent(v, false)
}

func formatPercent(v float64, sign bool) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	if sign {
		return fmt.Sprintf("%+.1f%%", v)
	}
	return fmt.Sprintf("%.1f%%", v)
}

// Table writes the report as an aligned text table.
func Table(w io.Writer, r Report) error {
	// ASCII, as the summary table after a run: it survives any log or terminal.
	return writeTable(w, r.rows(), renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)}))
}

// Markdown writes the report as a Markdown table (CI job summaries,
// pull-request comments).
func Markdown(w io.Writer, r Report) error {
	return writeTable(w, r.rows(), renderer.NewMarkdown())
}

// writeTable is the one place that knows tablewriter's v1 API: headers as
// given (not upper-cased), numbers right-aligned.
func writeTable(w io.Writer, rows [][]string, rend tw.Renderer) error {
	right := tw.CellAlignment{PerColumn: []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}}
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(rend),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignmentConfig(right),
	)
	t.Header(tableHeader)
	if err := t.Bulk(rows); err != nil {
		return fmt.Errorf("compare: table: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("compare: table: %w", err)
	}
	return nil
}

// JSON writes the report with keys in a fixed order:
//
//	{"max_regression_percent", "regression" (any metric regressed),
//	 "warnings": [string, ...],
//	 "levels": [{"mode", "value", "presence" ("both"|"base only"|"new only"),
//	   "metrics": [{"name", "unit", "base", "new", "change_percent",
//	     "noise_band_percent", "verdict"}, ...] ([] unless in both)}, ...]}
//
// A number that cannot be computed (change from a base of 0, the band of
// a percentile with too few samples) is null.
func JSON(w io.Writer, r Report) error {
	type jsonMetric struct {
		Name          string   `json:"name"`
		Unit          string   `json:"unit"`
		Base          *float64 `json:"base"`
		New           *float64 `json:"new"`
		ChangePercent *float64 `json:"change_percent"`
		BandPercent   *float64 `json:"noise_band_percent"`
		Verdict       Verdict  `json:"verdict"`
	}
	type jsonLevel struct {
		Mode     string       `json:"mode"`
		Value    *float64     `json:"value"`
		Presence Presence     `json:"presence"`
		Metrics  []jsonMetric `json:"metrics"`
	}
	doc := struct {
		MaxRegression *float64    `json:"max_regression_percent"`
		Regression    bool        `json:"regression"`
		Warnings      []string    `json:"warnings"`
		Levels        []jsonLevel `json:"levels"`
	}{MaxRegression: number(r.MaxRegression), Regression: len(r.Regressions()) > 0, Warnings: append([]string{}, r.Warnings...), Levels: []jsonLevel{}}
	for _, l := range r.Levels {
		jl := jsonLevel{Mode: string(l.Mode), Value: number(l.Value), Presence: l.Presence, Metrics: []jsonMetric{}}
		for _, m := range l.Metrics {
			jl.Metrics = append(jl.Metrics, jsonMetric{m.Name, m.Unit, number(m.Base), number(m.New), number(m.Change), number(m.Band), m.Verdict})
		}
		doc.Levels = append(doc.Levels, jl)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("compare: write json: %w", err)
	}
	return nil
}

// number is v for JSON: nil (null) when NaN or infinite, which
// encoding/json would refuse.
func number(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
