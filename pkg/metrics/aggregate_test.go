package metrics

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/result"
)

// samples parses one text exposition per scrape, a second apart.
func samples(t *testing.T, texts ...string) []Sample {
	t.Helper()
	t0 := time.Unix(1000, 0)
	var out []Sample
	for i, text := range texts {
		fams, err := Parse(strings.NewReader(text))
		if err != nil {
			t.Fatalf("scrape %d: %v", i, err)
		}
		out = append(out, Sample{At: t0.Add(time.Duration(i) * time.Second), Families: fams})
	}
	return out
}

func gpuText(util, power, used, total string) string {
	return "# TYPE nv_gpu_utilization gauge\nnv_gpu_utilization{gpu_uuid=\"GPU-b\"} " + util + "\n" +
		"# TYPE nv_gpu_power_usage gauge\nnv_gpu_power_usage{gpu_uuid=\"GPU-b\"} " + power + "\n" +
		"# TYPE nv_gpu_memory_used_bytes gauge\nnv_gpu_memory_used_bytes{gpu_uuid=\"GPU-b\"} " + used + "\n" +
		"# TYPE nv_gpu_memory_total_bytes gauge\nnv_gpu_memory_total_bytes{gpu_uuid=\"GPU-b\"} " + total + "\n" +
		"nv_gpu_utilization{gpu_uuid=\"GPU-a\"} 1\n"
}

func TestAggregateGPUs(t *testing.T) {
	tests := []struct {
		name  string
		texts []string
		want  []result.GPUMetrics
	}{
		{"one scrape", []string{gpuText("0.5", "100", "10", "1000")}, []result.GPUMetrics{
			{UUID: "GPU-a", Utilization: 1},
			{UUID: "GPU-b", Utilization: 0.5, PowerWatts: 100, MemoryUsedBytes: 10, MemoryTotalBytes: 1000},
		}},
		{"mean, max and first", []string{gpuText("0.2", "100", "30", "1000"), gpuText("0.6", "200", "50", "2000"), gpuText("0.4", "300", "20", "3000")}, []result.GPUMetrics{
			{UUID: "GPU-a", Utilization: 1},
			{UUID: "GPU-b", Utilization: 0.4, PowerWatts: 200, MemoryUsedBytes: 50, MemoryTotalBytes: 1000},
		}},
		{"no gpu", []string{"# TYPE x counter\nx 1\n"}, []result.GPUMetrics{}},
		{"gpu family without uuid", []string{"nv_gpu_utilization 0.5\n"}, []result.GPUMetrics{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Aggregate(samples(t, tt.texts...), nil)
			if len(got.GPUs) != len(tt.want) {
				t.Fatalf("GPUs %+v, want %+v", got.GPUs, tt.want)
			}
			for i, g := range got.GPUs {
				w := tt.want[i]
				if g.UUID != w.UUID || math.Abs(g.Utilization-w.Utilization) > 1e-9 || math.Abs(g.PowerWatts-w.PowerWatts) > 1e-9 ||
					g.MemoryUsedBytes != w.MemoryUsedBytes || g.MemoryTotalBytes != w.MemoryTotalBytes {
					t.Errorf("GPU %d: %+v, want %+v", i, g, w)
				}
			}
			if got.Scrapes != len(tt.texts) || got.Span != time.Duration(len(tt.texts)-1)*time.Second {
				t.Errorf("scrapes %d over %v", got.Scrapes, got.Span)
			}
		})
	}
	if Aggregate(nil, []string{"x"}) != nil {
		t.Error("no samples: want nil")
	}
}

func TestAggregateFamilies(t *testing.T) {
	const counter = "# TYPE req counter\nreq{model=\"a\",version=\"1\"} %s\nreq{version=\"1\",model=\"b\"} 5\n"
	const gauge = "# TYPE pending gauge\npending %s\n"
	const untyped = "pending %s\n"
	hist := func(b1, b2, inf string) string {
		return "# TYPE lat histogram\nlat_bucket{le=\"1\"} " + b1 + "\nlat_bucket{le=\"2\"} " + b2 + "\nlat_bucket{le=\"+Inf\"} " + inf + "\nlat_sum 0\nlat_count " + inf + "\n"
	}
	f := func(format string, vs ...string) []string {
		var out []string
		for _, v := range vs {
			out = append(out, strings.ReplaceAll(format, "%s", v))
		}
		return out
	}
	nan := math.NaN()
	tests := []struct {
		name   string
		family string
		texts  []string
		typ    string
		want   []result.MetricSeries
	}{
		{"counter rate", "req", f(counter, "10", "30", "70"), result.MetricCounter, []result.MetricSeries{
			{Labels: `{model="a",version="1"}`, Rate: 30}, {Labels: `{model="b",version="1"}`, Rate: 0},
		}},
		{"counter reset counts from zero", "req", f(counter, "100", "120", "15"), result.MetricCounter, []result.MetricSeries{
			{Labels: `{model="a",version="1"}`, Rate: 17.5}, {Labels: `{model="b",version="1"}`, Rate: 0},
		}},
		{"counter one scrape", "req", f(counter, "10"), result.MetricCounter, []result.MetricSeries{
			{Labels: `{model="a",version="1"}`, Rate: nan}, {Labels: `{model="b",version="1"}`, Rate: nan},
		}},
		{"gauge", "pending", f(gauge, "1", "7", "4"), result.MetricGauge, []result.MetricSeries{{Mean: 4, Max: 7}}},
		{"untyped reads as gauge", "pending", f(untyped, "-1", "-3"), result.MetricGauge, []result.MetricSeries{{Mean: -2, Max: -1}}},
		// Deltas: le=1: 50, le=2: 90, +Inf: 100. p50 = 1*(50/50); p90 = 1+1*(40/40);
		// p99 in the +Inf bucket = the highest finite bound.
		{"histogram delta", "lat", []string{hist("10", "10", "10"), hist("30", "50", "60"), hist("60", "100", "110")}, result.MetricHistogram, []result.MetricSeries{{P50: 1, P90: 2, P99: 2}}},
		// Deltas 20, 20, 40: p50 at rank 20 = 1; p90 in +Inf.
		{"histogram interpolates", "lat", []string{hist("0", "0", "0"), hist("20", "20", "40")}, result.MetricHistogram, []result.MetricSeries{{P50: 1, P90: 2, P99: 2}}},
		// Deltas 10, 20, 20: p50 at rank 10 = 1... rank 10 hits le=1 exactly; p90 rank 18 → 1+(8/10).
		{"histogram within bucket", "lat", []string{hist("0", "0", "0"), hist("10", "20", "20")}, result.MetricHistogram, []result.MetricSeries{{P50: 1, P90: 1.8, P99: 1.98}}},
		{"histogram reset uses the last", "lat", []string{hist("100", "100", "100"), hist("10", "20", "20")}, result.MetricHistogram, []result.MetricSeries{{P50: 1, P90: 1.8, P99: 1.98}}},
		{"histogram empty", "lat", []string{hist("5", "5", "5"), hist("5", "5", "5")}, result.MetricHistogram, []result.MetricSeries{{P50: nan, P90: nan, P99: nan}}},
		{"absent family", "nope", f(gauge, "1"), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Aggregate(samples(t, tt.texts...), []string{tt.family})
			if len(got.Families) != 1 {
				t.Fatalf("families %+v", got.Families)
			}
			fam := got.Families[0]
			if fam.Name != tt.family || fam.Type != tt.typ || len(fam.Series) != len(tt.want) {
				t.Fatalf("family %+v, want %s of type %q with %d series", fam, tt.family, tt.typ, len(tt.want))
			}
			for i, s := range fam.Series {
				w := tt.want[i]
				check := func(what string, got, want float64) {
					if what == "rate" && tt.typ != result.MetricCounter || (what == "mean" || what == "max") && tt.typ != result.MetricGauge ||
						what[0] == 'p' && tt.typ != result.MetricHistogram {
						if !math.IsNaN(got) {
							t.Errorf("series %d: %s %v, want NaN for a %s", i, what, got, tt.typ)
						}
						return
					}
					if !(math.IsNaN(got) && math.IsNaN(want)) && math.Abs(got-want) > 1e-9 {
						t.Errorf("series %d %s: %s %v, want %v", i, s.Labels, what, got, want)
					}
				}
				if s.Labels != w.Labels {
					t.Errorf("series %d labels %q, want %q", i, s.Labels, w.Labels)
				}
				check("rate", s.Rate, w.Rate)
				check("mean", s.Mean, w.Mean)
				check("max", s.Max, w.Max)
				check("p50", s.P50, w.P50)
				check("p90", s.P90, w.P90)
				check("p99", s.P99, w.P99)
			}
		})
	}
}

func TestBucketQuantileEdges(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name string
		q    float64
		bs   []bucket
		want float64
	}{
		{"only +Inf", 0.5, []bucket{{inf, 10}}, math.NaN()},
		{"negative first bound", 0.1, []bucket{{-1, 5}, {1, 10}, {inf, 10}}, -1},
		{"non-monotonic made monotonic", 0.6, []bucket{{1, 10}, {2, 5}, {3, 15}, {inf, 20}}, 2.4},
		{"first bucket from zero", 0.25, []bucket{{4, 10}, {inf, 10}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bucketQuantile(tt.q, tt.bs)
			if !(math.IsNaN(got) && math.IsNaN(tt.want)) && got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
