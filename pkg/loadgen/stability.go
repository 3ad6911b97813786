package loadgen

import (
	"math"
	"time"
)

// stabilityWindows is perf_analyzer's fixed look-back: stability is judged,
// and a level reported, over the last 3 windows.
const stabilityWindows = 3

// sample is one window's stability input: throughput, and the stabilising
// latency in ns (+Inf for a window without a valid request).
type sample struct {
	throughput float64
	latency    float64
	// inFlight is how many requests were outstanding when the window
	// ended: a window without completions and with requests stuck in
	// flight is a stalled server, not a short window.
	inFlight uint64
}

// stable is perf_analyzer's test: at least 3 windows, none of the last 3
// with zero throughput, and over them max/min throughput and max/min latency
// both at most 1 + pct/100.
func stable(samples []sample, pct float64) bool {
	if len(samples) < stabilityWindows {
		return false
	}
	last := samples[len(samples)-stabilityWindows:]
	limit := 1 + pct/100
	minT, maxT := math.Inf(1), math.Inf(-1)
	minL, maxL := math.Inf(1), math.Inf(-1)
	for _, s := range last {
		if s.throughput == 0 || math.IsInf(s.latency, 1) {
			return false
		}
		minT, maxT = min(minT, s.throughput), max(maxT, s.throughput)
		minL, maxL = min(minL, s.latency), max(maxL, s.latency)
	}
	return within(minT, maxT, limit) && within(minL, maxL, limit)
}

// throughputStable is the same test on throughput alone: perf_analyzer
// accepts an open-loop level whose latency keeps moving when this holds.
func throughputStable(samples []sample, pct float64) bool {
	if len(samples) < stabilityWindows {
		return false
	}
	last := samples[len(samples)-stabilityWindows:]
	minT, maxT := math.Inf(1), math.Inf(-1)
	for _, s := range last {
		if s.throughput == 0 {
			return false
		}
		minT, maxT = min(minT, s.throughput), max(maxT, s.throughput)
	}
	return within(minT, maxT, 1+pct/100)
}

func within(lo, hi, limit float64) bool {
	if lo == hi { // also 0/0: two equal zero latencies are stable
		return true
	}
	return lo > 0 && hi/lo <= limit
}

// overThreshold reports whether any of the last 3 windows reached the
// latency threshold (0: no threshold).
func overThreshold(samples []sample, threshold time.Duration) bool {
	if threshold <= 0 {
		return false
	}
	for _, s := range samples[max(0, len(samples)-stabilityWindows):] {
		if s.latency >= float64(threshold) {
			return true
		}
	}
	return false
}
