package metrics

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/perfgo/perfgo/pkg/result"
)

// Aggregate summarises the samples of a level's merged windows (oldest
// first): the GPU families as perf_analyzer aggregates them (utilization
// and power: mean; used memory: max; total memory: the first value), and
// each of families per label set (counter: rate over the samples' span;
// gauge: mean and max; histogram: p50/p90/p99 of the observations in the
// span). It returns nil without samples.
func Aggregate(samples []Sample, families []string) *result.Metrics {
	if len(samples) == 0 {
		return nil
	}
	m := &result.Metrics{Scrapes: len(samples), Span: samples[len(samples)-1].At.Sub(samples[0].At)}
	m.GPUs = aggregateGPUs(samples)
	for _, name := range families {
		m.Families = append(m.Families, aggregateFamily(samples, name))
	}
	return m
}

type gpuSums struct {
	util, power         float64
	utilN, powerN       int
	used, total         float64
	usedSeen, totalSeen bool
}

func aggregateGPUs(samples []Sample) []result.GPUMetrics {
	byUUID := map[string]*gpuSums{}
	get := func(uuid string) *gpuSums {
		g := byUUID[uuid]
		if g == nil {
			g = &gpuSums{}
			byUUID[uuid] = g
		}
		return g
	}
	for _, s := range samples {
		for _, fam := range gpuFamilies {
			mf := s.Families[fam]
			for _, mt := range mf.GetMetric() {
				uuid, ok := labelValue(mt, GPULabel)
				v, vok := scalar(mt)
				if !ok || !vok {
					continue
				}
				g := get(uuid)
				switch fam {
				case GPUUtilization:
					g.util += v
					g.utilN++
				case GPUPower:
					g.power += v
					g.powerN++
				case GPUMemoryUsed:
					if !g.usedSeen || v > g.used {
						g.used = v
					}
					g.usedSeen = true
				case GPUMemoryTotal:
					if !g.totalSeen {
						g.total, g.totalSeen = v, true
					}
				}
			}
		}
	}
	out := make([]result.GPUMetrics, 0, len(byUUID))
	for uuid, g := range byUUID {
		out = append(out, result.GPUMetrics{
			UUID:             uuid,
			Utilization:      mean(g.util, g.utilN),
			PowerWatts:       mean(g.power, g.powerN),
			MemoryUsedBytes:  toUint(g.used),
			MemoryTotalBytes: toUint(g.total),
		})
	}
	slices.SortFunc(out, func(a, b result.GPUMetrics) int { return cmp.Compare(a.UUID, b.UUID) })
	return out
}

func mean(sum float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// toUint converts a byte count; negative and non-finite values read as 0.
func toUint(v float64) uint64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 0
	}
	if v >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(v)
}

// point is one series' metric in one sample.
type point struct {
	at time.Time
	m  *dto.Metric
}

func aggregateFamily(samples []Sample, name string) result.MetricFamily {
	f := result.MetricFamily{Name: name}
	series := map[string][]point{}
	for _, s := range samples {
		mf := s.Families[name]
		if mf == nil {
			continue
		}
		if f.Type == "" {
			f.Type = typeName(mf.GetType())
		}
		for _, mt := range mf.GetMetric() {
			k := Labels(mt)
			series[k] = append(series[k], point{s.At, mt})
		}
	}
	for k, pts := range series {
		sr := result.MetricSeries{Labels: k, Rate: math.NaN(), Mean: math.NaN(), Max: math.NaN(), P50: math.NaN(), P90: math.NaN(), P99: math.NaN()}
		switch f.Type {
		case result.MetricCounter:
			sr.Rate = counterRate(pts)
		case result.MetricGauge:
			sr.Mean, sr.Max = gaugeMeanMax(pts)
		case result.MetricHistogram:
			sr.P50, sr.P90, sr.P99 = histogramQuantiles(pts)
		default:
			continue
		}
		f.Series = append(f.Series, sr)
	}
	slices.SortFunc(f.Series, func(a, b result.MetricSeries) int { return cmp.Compare(a.Labels, b.Labels) })
	return f
}

func typeName(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return result.MetricCounter
	case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
		return result.MetricGauge
	case dto.MetricType_HISTOGRAM:
		return result.MetricHistogram
	}
	return strings.ToLower(t.String())
}

// scalar is a counter's, gauge's or untyped metric's value.
func scalar(m *dto.Metric) (float64, bool) {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// counterRate is the increase per second from the first point to the
// last. As Prometheus's rate: a value below the previous one is a reset,
// after which the counter counted from 0.
func counterRate(pts []point) float64 {
	if len(pts) < 2 {
		return math.NaN()
	}
	span := pts[len(pts)-1].at.Sub(pts[0].at).Seconds()
	if span <= 0 {
		return math.NaN()
	}
	var inc float64
	prev, _ := scalar(pts[0].m)
	for _, p := range pts[1:] {
		v, _ := scalar(p.m)
		if v < prev {
			inc += v
		} else {
			inc += v - prev
		}
		prev = v
	}
	return inc / span
}

func gaugeMeanMax(pts []point) (mean, maxV float64) {
	maxV = math.Inf(-1)
	var sum float64
	for _, p := range pts {
		v, _ := scalar(p.m)
		sum += v
		maxV = max(maxV, v)
	}
	return sum / float64(len(pts)), maxV
}

// bucket is a cumulative histogram bucket.
type bucket struct {
	upper, count float64
}

// histogramQuantiles are p50, p90 and p99 of the observations between the
// first point and the last (a reset in between: those since the reset).
func histogramQuantiles(pts []point) (p50, p90, p99 float64) {
	nan := math.NaN()
	if len(pts) < 2 {
		return nan, nan, nan
	}
	first, last := buckets(pts[0].m.GetHistogram()), buckets(pts[len(pts)-1].m.GetHistogram())
	delta := last
	if !resetBetween(pts) {
		delta = make([]bucket, len(last))
		for i, b := range last {
			delta[i] = bucket{b.upper, b.count - countAt(first, b.upper)}
		}
	}
	return bucketQuantile(0.5, delta), bucketQuantile(0.9, delta), bucketQuantile(0.99, delta)
}

// resetBetween says a histogram's count fell between consecutive points.
func resetBetween(pts []point) bool {
	for i := 1; i < len(pts); i++ {
		if pts[i].m.GetHistogram().GetSampleCount() < pts[i-1].m.GetHistogram().GetSampleCount() {
			return true
		}
	}
	return false
}

// buckets lists h's cumulative buckets by upper bound, ending with +Inf
// holding every observation.
func buckets(h *dto.Histogram) []bucket {
	out := make([]bucket, 0, len(h.GetBucket())+1)
	for _, b := range h.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) && !math.IsNaN(b.GetUpperBound()) {
			out = append(out, bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
		}
	}
	slices.SortStableFunc(out, func(a, b bucket) int { return cmp.Compare(a.upper, b.upper) })
	return append(out, bucket{math.Inf(1), float64(h.GetSampleCount())})
}

// countAt is the cumulative count of bs at upper bound u (0 without it).
func countAt(bs []bucket, u float64) float64 {
	for _, b := range bs {
		if b.upper == u {
			return b.count
		}
	}
	return 0
}

// bucketQuantile is Prometheus's histogram_quantile over cumulative
// buckets sorted by upper bound and ending with +Inf: the quantile's
// bucket is found by rank and the value interpolated linearly within it
// (the first bucket starts at 0; a quantile in the +Inf bucket is the
// highest finite bound). NaN without observations.
func bucketQuantile(q float64, bs []bucket) float64 {
	if len(bs) < 2 {
		return math.NaN()
	}
	// Counts must not fall with the bound; a scrape between bucket
	// updates could make them, so they are made monotonic as Prometheus does.
	for i := 1; i < len(bs); i++ {
		bs[i].count = max(bs[i].count, bs[i-1].count)
	}
	total := bs[len(bs)-1].count
	if !(total > 0) {
		return math.NaN()
	}
	rank := q * total
	b := slices.IndexFunc(bs, func(x bucket) bool { return x.count >= rank })
	if b == len(bs)-1 {
		return bs[len(bs)-2].upper
	}
	if b == 0 && bs[0].upper <= 0 {
		return bs[0].upper
	}
	start, end, count := 0.0, bs[b].upper, bs[b].count
	if b > 0 {
		start = bs[b-1].upper
		count -= bs[b-1].count
		rank -= bs[b-1].count
	}
	if count == 0 {
		return end
	}
	return start + (end-start)*(rank/count)
}

// labelValue is m's value of label name.
func labelValue(m *dto.Metric, name string) (string, bool) {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return "", false
}

// Labels writes m's label set in Prometheus's notation, sorted by name:
// {model="simple",version="1"}; "" without labels.
func Labels(m *dto.Metric) string {
	ls := slices.Clone(m.GetLabel())
	if len(ls) == 0 {
		return ""
	}
	slices.SortFunc(ls, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.GetName())
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(l.GetValue()))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// labelEscaper escapes a label value as the text format does.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
