package result

import "time"

// MetricsSettings say how the server's metrics were collected.
type MetricsSettings struct {
	URL      string
	Interval time.Duration
	// Families are the --metric families asked beside the GPU ones.
	Families []string
}

// Metrics are the server's Prometheus metrics over a level's merged
// windows (--collect-metrics): the scrapes taken while they were measured.
type Metrics struct {
	// Scrapes is how many scrapes fell in the windows; Span is the time
	// from the first to the last of them (rates are over it).
	Scrapes int
	Span    time.Duration
	// GPUs are Triton's nv_gpu_* gauges by gpu_uuid, sorted by UUID,
	// aggregated as perf_analyzer does.
	GPUs []GPUMetrics
	// Families are the --metric families, in the order asked.
	Families []MetricFamily
}

// GPUMetrics aggregate one GPU's gauges: Utilization (0–1) and PowerWatts
// are means over the scrapes, MemoryUsedBytes the maximum and
// MemoryTotalBytes the first value.
type GPUMetrics struct {
	UUID             string
	Utilization      float64
	PowerWatts       float64
	MemoryUsedBytes  uint64
	MemoryTotalBytes uint64
}

// Metric family types, as the Prometheus text format names them.
const (
	MetricCounter   = "counter"
	MetricGauge     = "gauge"
	MetricHistogram = "histogram"
)

// MetricFamily summarises one asked family, per label set. Type is
// MetricCounter, MetricGauge (untyped families read as gauges) or
// MetricHistogram; "" when no scrape had the family; another type
// (summary) is named but has no series.
type MetricFamily struct {
	Name, Type string
	Series     []MetricSeries
}

// MetricSeries is one label set's summary. Labels is Prometheus's
// notation, `{model="simple",version="1"}` ("" without labels), sorted by
// name. A counter has Rate (per second over the scrapes' span, resets
// counted as Prometheus's rate does); a gauge Mean and Max; a histogram
// the quantiles P50, P90 and P99 of the observations within the span
// (histogram_quantile's linear interpolation in the bucket). A figure the
// scrapes cannot give (one scrape, an empty histogram) is NaN.
type MetricSeries struct {
	Labels        string
	Rate          float64
	Mean, Max     float64
	P50, P90, P99 float64
}
