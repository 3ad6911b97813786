package server

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// GPU is a synthetic GPU whose gauges the metrics endpoint exports under
// Triton's nv_gpu_* families, so that metric collection can be tested
// without a GPU. Utilization and MemoryUsedBytes are cycled one value per
// scrape (a single value is constant), so that a client's mean and max
// have something to aggregate.
type GPU struct {
	UUID             string
	Utilization      []float64 // 0–1
	PowerWatts       float64
	MemoryUsedBytes  []uint64
	MemoryTotalBytes uint64
}

// GPUFormat is the text form ParseGPU reads, for error messages and help.
const GPUFormat = "UUID:UTIL:POWER_W:USED_BYTES:TOTAL_BYTES (UTIL 0-1; UTIL and USED_BYTES may be lists like 0.2/0.6, cycled one value per scrape)"

// ParseGPU reads a GPU from GPUFormat, e.g. "GPU-0:0.2/0.6:120:1000/3000:16000".
func ParseGPU(spec string) (GPU, error) {
	bad := func(why string) (GPU, error) {
		return GPU{}, fmt.Errorf("%q: %s; want %s", spec, why, GPUFormat)
	}
	parts := strings.Split(spec, ":")
	if len(parts) != 5 {
		return bad(fmt.Sprintf("%d fields", len(parts)))
	}
	g := GPU{UUID: parts[0]}
	if g.UUID == "" || strings.ContainsAny(g.UUID, " \t\n\"\\") {
		return bad("the UUID is empty or holds spaces, quotes or backslashes")
	}
	for _, s := range strings.Split(parts[1], "/") {
		u, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(u) || u < 0 || u > 1 {
			return bad(fmt.Sprintf("utilization %q is not a number from 0 to 1", s))
		}
		g.Utilization = append(g.Utilization, u)
	}
	p, err := strconv.ParseFloat(parts[2], 64)
	if err != nil || math.IsNaN(p) || p < 0 || math.IsInf(p, 0) {
		return bad(fmt.Sprintf("power %q is not a number of watts, 0 or more", parts[2]))
	}
	g.PowerWatts = p
	if g.MemoryTotalBytes, err = strconv.ParseUint(parts[4], 10, 64); err != nil {
		return bad(fmt.Sprintf("total memory %q is not a whole number of bytes", parts[4]))
	}
	for _, s := range strings.Split(parts[3], "/") {
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil || u > g.MemoryTotalBytes {
			return bad(fmt.Sprintf("used memory %q is not a whole number of bytes up to the total", s))
		}
		g.MemoryUsedBytes = append(g.MemoryUsedBytes, u)
	}
	return g, nil
}

// gpuCollector exports the synthetic GPUs.
type gpuCollector struct {
	gpus                     []GPU
	util, power, used, total *prometheus.Desc
	scrapes                  atomic.Uint64 // picks each cycled value
}

func newGPUCollector(gpus []GPU) *gpuCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"gpu_uuid"}, nil)
	}
	return &gpuCollector{
		gpus:  gpus,
		util:  d("nv_gpu_utilization", "GPU utilization rate [0.0 - 1.0)"),
		power: d("nv_gpu_power_usage", "GPU power usage in watts"),
		used:  d("nv_gpu_memory_used_bytes", "GPU used memory in bytes"),
		total: d("nv_gpu_memory_total_bytes", "GPU total memory in bytes"),
	}
}

func (gc *gpuCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{gc.util, gc.power, gc.used, gc.total} {
		ch <- d
	}
}

func (gc *gpuCollector) Collect(ch chan<- prometheus.Metric) {
	n := gc.scrapes.Add(1) - 1
	for _, g := range gc.gpus {
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, g.UUID)
		}
		gauge(gc.util, g.Utilization[n%uint64(len(g.Utilization))])
		gauge(gc.power, g.PowerWatts)
		gauge(gc.used, float64(g.MemoryUsedBytes[n%uint64(len(g.MemoryUsedBytes))]))
		gauge(gc.total, float64(g.MemoryTotalBytes))
	}
}
