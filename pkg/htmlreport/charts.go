package htmlreport

import (
	"bytes"
	"cmp"
	"fmt"
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/perfgo/perfgo/pkg/result"
)

// Chart size in points; the page scales the SVG to its column width.
const (
	chartWidth  = 720
	chartHeight = 420
)

// ninesMax is the right end of the nines axis at least: 99.99%, as
// 1/(1−q). A level with more samples extends it to its last one.
const ninesMax = 1e4

// legendMargin is the space around the legend beside the plot.
const legendMargin = 20

// drawCharts draws both charts for the reported levels; notes say what
// could not be drawn (levels without percentiles or histograms).
func drawCharts(s result.Settings, levels []level) ([]chart, []string, error) {
	var charts []chart
	var notes []string
	svg, missing, err := curveChart(s, levels)
	if err != nil {
		return nil, nil, err
	}
	if svg != "" {
		charts = append(charts, chart{ID: curveID, Title: CurveTitle, SVG: svg,
			Caption: "p50 and p99 latency against throughput, one point per reported level, labelled with its " + loadWord(s) + "."})
	}
	if len(missing) > 0 {
		notes = append(notes, "Not in the throughput chart (no latency percentiles): "+strings.Join(missing, ", ")+".")
	}
	svg, missing, err = distributionChart(s, levels)
	if err != nil {
		return nil, nil, err
	}
	if svg != "" {
		charts = append(charts, chart{ID: distributionID, Title: DistributionTitle, SVG: svg,
			Caption: "Each level's latency at every percentile, from its full HDR histogram; the x axis spreads the tail: each step right is one more nine."})
	}
	if len(missing) > 0 {
		notes = append(notes, "Not in the percentile chart (no histogram): "+strings.Join(missing, ", ")+".")
	}
	return charts, notes, nil
}

func loadWord(s result.Settings) string {
	if isOpenLoop(s) {
		return "request rate"
	}
	return "concurrency"
}

func sans(size vg.Length) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
}

// newPlot is a plot with perfgo's fonts and sizes (sans-serif, large
// enough to read when the page scales the chart down) and a legend of its
// own, drawn beside the plot by renderSVG: inside, it would hide data. The
// page's heading holds the title.
func newPlot(xLabel, yLabel string) (*plot.Plot, *plot.Legend) {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(13)
		a.Tick.Label.Font = sans(11)
		a.Tick.Marker = linearTicks{}
		a.AutoRescale = true
	}
	p.Add(plotter.NewGrid())
	legend := plot.NewLegend()
	legend.TextStyle.Font = sans(12)
	legend.Top, legend.Left = true, true
	legend.Padding = vg.Points(5)
	legend.ThumbnailWidth = vg.Points(24)
	return p, &legend
}

// curveChart draws p50 and p99 latency against throughput, one point per
// level in order of load. It returns "" when no level has either
// percentile, and the names of levels left out.
func curveChart(s result.Settings, levels []level) (template.HTML, []string, error) {
	ordered := slices.Clone(levels)
	slices.SortStableFunc(ordered, func(a, b level) int { return cmp.Compare(a.l.Value, b.l.Value) })
	var p50, p99 plotter.XYs
	var labels []string
	var missing []string
	for _, lv := range ordered {
		x := lv.l.Client.Throughput
		v50, ok50 := lv.latency.at(50)
		v99, ok99 := lv.latency.at(99)
		if !finite(x) || !ok50 && !ok99 {
			missing = append(missing, lv.name)
			continue
		}
		if ok50 {
			p50 = append(p50, plotter.XY{X: x, Y: ms(v50)})
		}
		if ok99 {
			p99 = append(p99, plotter.XY{X: x, Y: ms(v99)})
			labels = append(labels, lv.short)
		}
	}
	if len(p50)+len(p99) == 0 {
		return "", missing, nil
	}
	p, legend := newPlot("Throughput (inferences/s)", "Latency (ms)")
	p.Y.Min = 0
	for i, series := range []struct {
		name string
		xys  plotter.XYs
	}{{"p50", p50}, {"p99", p99}} {
		if len(series.xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(series.xys)
		if err != nil {
			return "", nil, fmt.Errorf("htmlreport: %s: %s line: %w", CurveTitle, series.name, err)
		}
		line.Color = plotutil.Color(2 - 2*i) // p50 blue, p99 red
		line.Width = vg.Points(2)
		points.Color = line.Color
		points.Shape = plotutil.Shape(i)
		points.Radius = vg.Points(3.5)
		p.Add(line, points)
		legend.Add(series.name+" latency", line, points)
	}
	if len(p99) > 0 {
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: p99, Labels: thinLabels(labels)})
		if err != nil {
			return "", nil, fmt.Errorf("htmlreport: %s: labels: %w", CurveTitle, err)
		}
		for i := range l.TextStyle {
			l.TextStyle[i].Font = sans(10)
			l.TextStyle[i].XAlign = draw.XCenter
		}
		l.Offset = vg.Point{Y: vg.Points(7)}
		p.Add(l)
	}
	svg, err := renderSVG(p, legend)
	return svg, missing, err
}

// maxPointLabels is how many point labels fit side by side on the
// throughput chart; a longer sweep labels every k-th point and the last.
const maxPointLabels = 12

func thinLabels(labels []string) []string {
	k := (len(labels) + maxPointLabels - 1) / maxPointLabels
	if k <= 1 {
		return labels
	}
	out := make([]string, len(labels))
	for i := range labels {
		if i%k == 0 || i == len(labels)-1 {
			out[i] = labels[i]
		}
	}
	return out
}

// distributionChart draws each level's latency at every percentile its
// histogram resolves (HdrHistogram's percentile iteration, five ticks per
// half distance) on a log scale of 1/(1−q): 50% at 2, 90% at 10, 99% at 100.
func distributionChart(s result.Settings, levels []level) (template.HTML, []string, error) {
	p, legend := newPlot("Percentile (log scale of 1/(1−q))", "Latency (ms)")
	p.X.Scale, p.X.AutoRescale = plot.LogScale{}, false
	p.X.Min, p.X.Max, p.Y.Min = 1, ninesMax, 0
	var missing []string
	drawn := 0
	for _, lv := range levels {
		h := lv.latency.hist()
		if h == nil {
			missing = append(missing, lv.name)
			continue
		}
		xys := ninesPoints(h)
		p.X.Max = math.Max(p.X.Max, xys[len(xys)-1].X)
		line, err := plotter.NewLine(xys)
		if err != nil {
			return "", nil, fmt.Errorf("htmlreport: %s: %s: %w", DistributionTitle, lv.name, err)
		}
		line.Color = plotutil.Color(drawn)
		// Past the palette's seven colours, dashes tell levels apart.
		line.Dashes = plotutil.Dashes(drawn / 7)
		line.Width = vg.Points(2)
		p.Add(line)
		legend.Add(lv.name, line)
		drawn++
	}
	if drawn == 0 {
		return "", missing, nil
	}
	p.X.Tick.Marker = ninesTicks{}
	svg, err := renderSVG(p, legend)
	return svg, missing, err
}

// ninesPoints are (1/(1−q), latency in ms) for each percentile step of h.
// The 100th percentile, at infinity on this axis, is drawn at
// 1/(1−q) = the sample count: the last of n samples is the 1−1/n quantile.
func ninesPoints(h *hdrhistogram.Histogram) plotter.XYs {
	n := float64(h.TotalCount())
	var xys plotter.XYs
	for _, b := range h.CumulativeDistributionWithTicks(5) {
		x := n
		if b.Quantile < 100 {
			x = 100 / (100 - b.Quantile)
		}
		if len(xys) > 0 && x <= xys[len(xys)-1].X {
			// A step finer than one sample (few samples): keep the
			// axis increasing; the later value is the higher one.
			xys[len(xys)-1].Y = ms(time.Duration(b.ValueAt))
			continue
		}
		xys = append(xys, plotter.XY{X: x, Y: ms(time.Duration(b.ValueAt))})
	}
	return xys
}

// linearTicks are about six labelled ticks at steps of 1, 2, 2.5 or 5
// times a power of ten, with a minor tick between: gonum's default gives
// as few as two labels.
type linearTicks struct{}

func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || !finite(lo) || !finite(hi) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / 6
	if !finite(raw) || raw <= 0 || math.Max(math.Abs(lo), math.Abs(hi))/raw > 1e12 {
		// A range too wide or too narrow for float steps: gonum's ticks.
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	exp := math.Floor(math.Log10(raw))
	mag := math.Pow(10, exp)
	step, decimals := 10*mag, max(0, -int(exp)-1)
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step, decimals = m*mag, max(0, -int(exp))
			if m == 2.5 {
				decimals = max(0, 1-int(exp)) // 2.5, 0.25; but 25
			}
			break
		}
	}
	// From the major tick at or below lo to the one at or above hi: with
	// AutoRescale the axis ends on labelled ticks.
	var ticks []plot.Tick
	last := math.Ceil(hi/step - 1e-9)
	for i := math.Floor(lo/step + 1e-9); i <= last; i += 0.5 {
		t := plot.Tick{Value: i * step}
		if t.Value == 0 {
			t.Value = 0 // not -0, which would print as "-0"
		}
		if i == math.Trunc(i) {
			t.Label = strconv.FormatFloat(t.Value, 'f', decimals, 64)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// ninesTicks labels the log axis in percentiles: 0%, 50%, 90%, 99%, 99.9%...
type ninesTicks struct{}

func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := []plot.Tick{{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}}
	for x := 10.0; x <= hi*1.0001; x *= 10 {
		ticks = append(ticks, plot.Tick{Value: x, Label: percentLabel(x)})
	}
	return slices.DeleteFunc(ticks, func(t plot.Tick) bool { return t.Value < lo })
}

// percentLabel is the percentile at 1/(1−q) = x, for x a power of ten: "99.9%".
func percentLabel(x float64) string {
	return strconv.FormatFloat(100-100/x, 'f', -1, 64) + "%"
}

// renderSVG draws p with its legend on the right, as an SVG element for
// inline use: without the XML declaration and generator comment, which mean
// nothing inside HTML.
func renderSVG(p *plot.Plot, legend *plot.Legend) (template.HTML, error) {
	// The legend's size depends on its text only, not on the canvas: a
	// long sweep's legend makes the chart taller rather than spill over.
	r := legend.Rectangle(draw.Canvas{})
	legendWidth := r.Max.X - r.Min.X + legendMargin
	height := max(vg.Length(chartHeight), r.Max.Y-r.Min.Y+legendMargin)
	c := vgsvg.New(chartWidth, height)
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	legend.Draw(draw.Crop(dc, chartWidth-legendWidth+legendMargin/2, 0, 0, -legendMargin/2))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("htmlreport: render a chart: %w", err)
	}
	svg := buf.String()
	if i := strings.Index(svg, "<svg"); i >= 0 {
		svg = svg[i:]
	}
	// vgsvg escapes every text it writes, and the rest is its own markup.
	return template.HTML(svg), nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

var (
	_ plot.Ticker = ninesTicks{}
	_ plot.Ticker = linearTicks{}
)
