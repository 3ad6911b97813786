package report

import (
	"strconv"
	"strings"

	"github.com/perfgo/perfgo/pkg/result"
)

// perf_analyzer's Prometheus section (--collect-metrics), after the
// server block; its numbers are C++ stream defaults, bytes are integers.
const (
	tmplMetrics       = "  Server Prometheus Metrics: \n"
	tmplGPUUtil       = "    Avg GPU Utilization:\n"
	tmplGPUPower      = "    Avg GPU Power Usage:\n"
	tmplGPUUsed       = "    Max GPU Memory Usage:\n"
	tmplGPUTotal      = "    Total GPU Memory:\n"
	tmplGPUPercent    = "      %s : %s%%\n"
	tmplGPUWatts      = "      %s : %s watts\n"
	tmplGPUBytes      = "      %s : %d bytes\n"
	tmplTooManyGPUs   = "Too many GPUs on system to print out individual Prometheus metrics, use the CSV output feature to see metrics.\n"
	maxGPUsInStdout   = 16
	tmplMetricCounter = "    %s%s: %s/sec\n"                 // perfgo: --metric counter, its rate
	tmplMetricGauge   = "    %s%s: avg %s, max %s\n"         // perfgo: --metric gauge
	tmplMetricHist    = "    %s%s: p50 %s, p90 %s, p99 %s\n" // perfgo: --metric histogram
	tmplMetricAbsent  = "    %s: not in the server's metrics\n"
	tmplMetricOther   = "    %s: a %s; perfgo summarises counters, gauges and histograms\n"
)

// writeMetrics prints perf_analyzer's GPU lines, then one line per series
// of each --metric family.
func writeMetrics(p *printer, m *result.Metrics) {
	p.printf(tmplMetrics)
	if len(m.GPUs) > maxGPUsInStdout {
		p.printf(tmplTooManyGPUs)
	} else {
		p.printf(tmplGPUUtil)
		for _, g := range m.GPUs {
			p.printf(tmplGPUPercent, g.UUID, formatDouble(g.Utilization*100))
		}
		p.printf(tmplGPUPower)
		for _, g := range m.GPUs {
			p.printf(tmplGPUWatts, g.UUID, formatDouble(g.PowerWatts))
		}
		p.printf(tmplGPUUsed)
		for _, g := range m.GPUs {
			p.printf(tmplGPUBytes, g.UUID, g.MemoryUsedBytes)
		}
		p.printf(tmplGPUTotal)
		for _, g := range m.GPUs {
			p.printf(tmplGPUBytes, g.UUID, g.MemoryTotalBytes)
		}
	}
	for _, f := range m.Families {
		switch f.Type {
		case "":
			p.printf(tmplMetricAbsent, f.Name)
		case result.MetricCounter:
			for _, s := range f.Series {
				p.printf(tmplMetricCounter, f.Name, s.Labels, formatDouble(s.Rate))
			}
		case result.MetricGauge:
			for _, s := range f.Series {
				p.printf(tmplMetricGauge, f.Name, s.Labels, formatDouble(s.Mean), formatDouble(s.Max))
			}
		case result.MetricHistogram:
			for _, s := range f.Series {
				p.printf(tmplMetricHist, f.Name, s.Labels, formatDouble(s.P50), formatDouble(s.P90), formatDouble(s.P99))
			}
		default:
			p.printf(tmplMetricOther, f.Name, f.Type)
		}
	}
}

// gpuCSVColumns are perf_analyzer's four verbose-CSV GPU columns: a cell
// is "<uuid>:<value>;" per GPU (utilization as a 0–1 fraction, power in
// W, memory in bytes); empty without metrics.
func gpuCSVColumns() []csvColumn {
	gpuCell := func(value func(b []byte, g result.GPUMetrics) []byte) func([]byte, *csvRow) []byte {
		return func(b []byte, r *csvRow) []byte {
			if r.level.Metrics == nil {
				return b
			}
			for _, g := range r.level.Metrics.GPUs {
				b = append(b, g.UUID...)
				b = append(b, ':')
				b = value(b, g)
				b = append(b, ';')
			}
			return b
		}
	}
	return []csvColumn{
		{"Avg GPU Utilization", gpuCell(func(b []byte, g result.GPUMetrics) []byte { return appendDouble(b, g.Utilization) })},
		{"Avg GPU Power Usage", gpuCell(func(b []byte, g result.GPUMetrics) []byte { return appendDouble(b, g.PowerWatts) })},
		{"Max GPU Memory Usage", gpuCell(func(b []byte, g result.GPUMetrics) []byte { return strconv.AppendUint(b, g.MemoryUsedBytes, 10) })},
		{"Total GPU Memory", gpuCell(func(b []byte, g result.GPUMetrics) []byte { return strconv.AppendUint(b, g.MemoryTotalBytes, 10) })},
	}
}

// familyCSVColumns are perfgo's verbose-CSV columns, one per --metric
// family, named after it: a cell is "<labels>:<summary>;" per series,
// labels as space-separated name=value (",;\"" in values become "_", so
// that the cell needs no CSV quoting), the summary a counter's rate, a
// gauge's "mean/max" or a histogram's "p50/p90/p99".
func familyCSVColumns(s result.Settings) []csvColumn {
	var cols []csvColumn
	for i, name := range s.Metrics.Families {
		cols = append(cols, csvColumn{name, func(b []byte, r *csvRow) []byte {
			m := r.level.Metrics
			if m == nil || i >= len(m.Families) {
				return b
			}
			f := m.Families[i]
			for _, sr := range f.Series {
				b = append(b, csvLabels(sr.Labels)...)
				b = append(b, ':')
				switch f.Type {
				case result.MetricCounter:
					b = appendDouble(b, sr.Rate)
				case result.MetricGauge:
					b = append(appendDouble(b, sr.Mean), '/')
					b = appendDouble(b, sr.Max)
				case result.MetricHistogram:
					b = append(appendDouble(b, sr.P50), '/')
					b = append(appendDouble(b, sr.P90), '/')
					b = appendDouble(b, sr.P99)
				}
				b = append(b, ';')
			}
			return b
		}})
	}
	return cols
}

// csvLabels turns {a="x",b="y"} into a=x b=y. Label values were escaped
// by the text format ("\"" for a quote): the escapes go with the rest.
func csvLabels(labels string) string {
	labels = strings.TrimSuffix(strings.TrimPrefix(labels, "{"), "}")
	var b strings.Builder
	inValue := false
	for i := 0; i < len(labels); i++ {
		c := labels[i]
		switch {
		case c == '\\' && inValue && i+1 < len(labels):
			i++
			b.WriteByte('_')
		case c == '"':
			inValue = !inValue
		case c == ',' && !inValue:
			b.WriteByte(' ')
		case c == ',' || c == ';' || c == '\n' || c == '\r':
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// jsonMetrics is a level's "metrics" (--collect-metrics).
type jsonMetrics struct {
	Scrapes  int             `json:"scrapes"`
	SpanUs   jsonFloat       `json:"span_us"`
	GPUs     []jsonGPU       `json:"gpus"`
	Families []jsonMetricFam `json:"families"`
}

type jsonGPU struct {
	UUID             string    `json:"uuid"`
	Utilization      jsonFloat `json:"utilization"`
	PowerWatts       jsonFloat `json:"power_watts"`
	MemoryUsedBytes  uint64    `json:"memory_used_bytes"`
	MemoryTotalBytes uint64    `json:"memory_total_bytes"`
}

type jsonMetricFam struct {
	Name   string             `json:"name"`
	Type   string             `json:"type"`
	Series []jsonMetricSeries `json:"series"`
}

type jsonMetricSeries struct {
	Labels string     `json:"labels"`
	Rate   *jsonFloat `json:"rate,omitempty"`
	Mean   *jsonFloat `json:"mean,omitempty"`
	Max    *jsonFloat `json:"max,omitempty"`
	P50    *jsonFloat `json:"p50,omitempty"`
	P90    *jsonFloat `json:"p90,omitempty"`
	P99    *jsonFloat `json:"p99,omitempty"`
}

type jsonMetricsSettings struct {
	URL        string    `json:"url"`
	IntervalMs jsonFloat `json:"interval_ms"`
	Families   []string  `json:"families"`
}

func newJSONMetricsSettings(m *result.MetricsSettings) *jsonMetricsSettings {
	if m == nil {
		return nil
	}
	return &jsonMetricsSettings{URL: m.URL, IntervalMs: ms(m.Interval), Families: append([]string{}, m.Families...)}
}

func newJSONMetrics(m *result.Metrics) *jsonMetrics {
	if m == nil {
		return nil
	}
	out := &jsonMetrics{Scrapes: m.Scrapes, SpanUs: us(m.Span), GPUs: []jsonGPU{}, Families: []jsonMetricFam{}}
	for _, g := range m.GPUs {
		out.GPUs = append(out.GPUs, jsonGPU{g.UUID, jsonFloat(g.Utilization), jsonFloat(g.PowerWatts), g.MemoryUsedBytes, g.MemoryTotalBytes})
	}
	for _, f := range m.Families {
		jf := jsonMetricFam{Name: f.Name, Type: f.Type, Series: []jsonMetricSeries{}}
		for _, s := range f.Series {
			v := func(f float64) *jsonFloat { j := jsonFloat(f); return &j }
			js := jsonMetricSeries{Labels: s.Labels}
			switch f.Type {
			case result.MetricCounter:
				js.Rate = v(s.Rate)
			case result.MetricGauge:
				js.Mean, js.Max = v(s.Mean), v(s.Max)
			case result.MetricHistogram:
				js.P50, js.P90, js.P99 = v(s.P50), v(s.P90), v(s.P99)
			}
			jf.Series = append(jf.Series, js)
		}
		out.Families = append(out.Families, jf)
	}
	return out
}
