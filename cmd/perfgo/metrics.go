package main

import (
	"context"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/perfgo/perfgo/pkg/loadgen"
	"github.com/perfgo/perfgo/pkg/metrics"
	"github.com/perfgo/perfgo/pkg/result"
)

// metricsOptions are perf_analyzer's --collect-metrics, --metrics-url and
// --metrics-interval, and perfgo's --metric.
type metricsOptions struct {
	Collect    bool
	URL        string
	IntervalMs int
	// Families are the --metric families summarised beside the GPU ones.
	Families []string
}

// defaultMetricsIntervalMs is perf_analyzer's --metrics-interval.
const defaultMetricsIntervalMs = 1000

func (m *metricsOptions) bind(fs *pflag.FlagSet) {
	fs.BoolVar(&m.Collect, "collect-metrics", false, "scrape the server's Prometheus metrics during the windows: GPU utilization, power and memory per level (and --metric families)")
	fs.StringVar(&m.URL, "metrics-url", "", "Prometheus metrics URL (default: the host of -u, port 8002, path /metrics)")
	fs.IntVar(&m.IntervalMs, "metrics-interval", defaultMetricsIntervalMs, "milliseconds between scrapes during the windows")
	fs.StringArrayVar(&m.Families, "metric", nil, "also summarise this metric family per level (repeatable): a counter as its rate, a gauge as mean and max, a histogram as p50/p90/p99")
}

// metricName is the Prometheus text format's metric name.
var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// finish checks the flags; serverURL is -u (already defaulted).
func (m *metricsOptions) finish(fs *pflag.FlagSet, serverURL string) error {
	if !m.Collect {
		for _, f := range []string{"metrics-url", "metrics-interval", "metric"} {
			if fs.Changed(f) {
				return usagef("--%s needs --collect-metrics", f)
			}
		}
		return nil
	}
	if m.IntervalMs <= 0 || m.IntervalMs > maxIntervalMs {
		return usagef("--metrics-interval %d: use 1 to %d milliseconds", m.IntervalMs, maxIntervalMs)
	}
	for i, f := range m.Families {
		if !metricName.MatchString(f) {
			return usagef("--metric %q: not a Prometheus metric name (letters, digits, _ and :, not starting with a digit), e.g. nv_inference_request_success", f)
		}
		if slices.Contains(m.Families[:i], f) {
			return usagef("--metric %s is given twice; give each family once", f)
		}
	}
	if m.URL == "" {
		m.URL = defaultMetricsURL(serverURL)
		return nil
	}
	u := m.URL
	if !strings.Contains(u, "://") {
		u = "http://" + u // perf_analyzer's form: host:port/path
	}
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return usagef("--metrics-url %q: want an http URL such as localhost:8002/metrics or http://host:8002/metrics", m.URL)
	}
	m.URL = parsed.String()
	return nil
}

// defaultMetricsURL is Triton's metrics port on the host of -u. Unlike
// perf_analyzer, which cuts -u at its first colon, a scheme or an IPv6
// address is understood.
func defaultMetricsURL(serverURL string) string {
	host := serverURL
	if u, err := url.Parse(serverURL); err == nil && u.Host != "" {
		host = u.Hostname()
	} else if h, _, err := net.SplitHostPort(serverURL); err == nil {
		host = h
	} else {
		host = strings.Trim(host, "[]")
	}
	if host == "" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, "8002") + "/metrics"
}

// settings are the collection's settings for the reports; nil when off.
func (m *metricsOptions) settings() *result.MetricsSettings {
	if !m.Collect {
		return nil
	}
	return &result.MetricsSettings{URL: m.URL, Interval: time.Duration(m.IntervalMs) * time.Millisecond, Families: m.Families}
}

// metricsRun collects the server's metrics while the engine measures and
// attaches each level's aggregate. It is the engine's Observer in front of
// the printer: it cuts the scrapes at window edges and sets a level's
// Metrics before the printer prints it. Its collector's warnings are
// printed from the engine's goroutine, so that stderr has one writer.
type metricsRun struct {
	loadgen.Observer
	collector *metrics.Collector
	families  []string
	stop      context.CancelFunc
	group     errgroup.Group
	// windows are the current level's scrapes, one slice per window.
	windows [][]metrics.Sample
	// levels are every ended level's metrics, in order, for the result.
	levels []levelMetrics
	// toldEmpty: the warning that no scrape fell in a level was given.
	toldEmpty bool
}

type levelMetrics struct {
	mode    result.Mode
	value   float64
	metrics *result.Metrics
}

// startMetrics starts collecting when --collect-metrics is set; otherwise
// it returns inner unchanged and a nil run. The caller calls finish.
func (o *profileOptions) startMetrics(ctx context.Context, inner loadgen.Observer) (loadgen.Observer, *metricsRun, error) {
	if !o.Metrics.Collect {
		return inner, nil, nil
	}
	interval := time.Duration(o.Metrics.IntervalMs) * time.Millisecond
	sc, err := metrics.NewScraper(metrics.ScraperOptions{
		URL:      o.Metrics.URL,
		Timeout:  max(interval, time.Second), // a longer one is a slow scrape, warned of
		Families: o.Metrics.Families,
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := metrics.NewCollector(sc, interval)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	mr := &metricsRun{Observer: inner, collector: c, families: o.Metrics.Families, stop: cancel}
	mr.group.Go(func() error { return c.Run(cctx) })
	return mr, mr, nil
}

// close stops the collection and waits for it; a second call does nothing.
func (mr *metricsRun) close() {
	mr.stop()
	_ = mr.group.Wait() // Run returns nil: failures are warnings
}

// finish stops the collection, prints its last warnings and attaches each
// level's metrics to the run's levels.
func (mr *metricsRun) finish(run *result.Run) {
	mr.close()
	mr.warnings()
	for _, levels := range [][]result.Level{run.Levels, run.Unreported} {
		for i := range levels {
			l := &levels[i]
			for _, lm := range slices.Backward(mr.levels) {
				if lm.mode == l.Mode && lm.value == l.Value {
					l.Metrics = lm.metrics
					break
				}
			}
		}
	}
}

func (mr *metricsRun) warnings() {
	for _, w := range mr.collector.Warnings() {
		mr.Observer.Warn(w)
	}
}

func (mr *metricsRun) LevelStart(mode result.Mode, value float64) {
	mr.warnings()
	mr.collector.Take() // scraped between levels: in no window
	mr.windows = mr.windows[:0]
	mr.Observer.LevelStart(mode, value)
}

func (mr *metricsRun) Window(pass int, w loadgen.WindowSummary) {
	mr.warnings()
	mr.windows = append(mr.windows, mr.collector.Take())
	mr.Observer.Window(pass, w)
}

// LevelEnd aggregates the scrapes of the windows the level merged: its
// last min(3, windows), as the engine merges them.
func (mr *metricsRun) LevelEnd(l result.Level, err error) {
	mr.warnings()
	var samples []metrics.Sample
	for _, w := range mr.windows[max(0, len(mr.windows)-loadgen.MergedWindows):] {
		samples = append(samples, w...)
	}
	l.Metrics = metrics.Aggregate(samples, mr.families)
	mr.levels = append(mr.levels, levelMetrics{l.Mode, l.Value, l.Metrics})
	if l.Metrics == nil && err == nil && !mr.toldEmpty {
		mr.toldEmpty = true
		mr.Observer.Warn("no metrics scrape succeeded during the windows of " + string(l.Mode) + " " + strconv.FormatFloat(l.Value, 'f', -1, 64) + ": its Prometheus metrics are not reported (a shorter --metrics-interval gives more scrapes per window)")
	}
	mr.Observer.LevelEnd(l, err)
}
