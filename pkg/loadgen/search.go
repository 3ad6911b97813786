package loadgen

import "math"

// sweep yields the levels to measure, linear or binary, as perf_analyzer
// does (§4.4), and learns from each whether it passed: measured, stable
// and under the latency threshold. It is pure: no clock, no I/O.
type sweep struct {
	start, end, step float64 // end 0: open-ended (linear only)
	integer          bool    // concurrency: levels are whole numbers
	binary           bool
	done             bool

	k      int     // linear: levels passed so far
	phase  int     // binary: 0 probe start, 1 probe end, 2 bisect
	lo, hi float64 // binary: passing and failing bounds
	last   float64 // binary: the level being measured
}

func newSweep(start, end, step float64, integer, binary bool) *sweep {
	return &sweep{start: start, end: end, step: step, integer: integer, binary: binary}
}

// next returns the next level to measure, or false when the sweep is over.
func (s *sweep) next() (float64, bool) {
	if s.done {
		return 0, false
	}
	if !s.binary {
		// Count the levels in steps, not by comparing values: a tolerance
		// on the value (start+k*step <= end+eps) lets a step smaller than
		// eps through, so 1e9 alone ran 1e9 and 1e9+1. In steps, the
		// tolerance is relative to the step and 0.1:0.3:0.1, whose
		// (0.3-0.1)/0.1 is 1.9999999999999998, still has three levels.
		if s.end != 0 && float64(s.k) > math.Floor((s.end-s.start)/s.step+1e-9) {
			s.done = true
			return 0, false
		}
		// Multiply rather than accumulate, so that float steps do not drift.
		v := s.start + float64(s.k)*s.step
		if s.integer {
			v = math.Round(v)
		}
		if s.end != 0 {
			v = min(v, s.end) // 0.30000000000000004 is reported as the 0.3 asked for
		}
		return v, true
	}
	switch s.phase {
	case 0:
		s.last = s.start
	case 1:
		s.last = s.end
	default:
		mid := (s.lo + s.hi) / 2
		if s.integer {
			mid = math.Floor(mid)
		}
		if s.hi-s.lo <= s.step || mid <= s.lo || mid >= s.hi {
			s.done = true
			return 0, false
		}
		s.last = mid
	}
	return s.last, true
}

// report says whether the level last returned by next passed.
func (s *sweep) report(pass bool) {
	if !s.binary {
		s.k++
		s.done = s.done || !pass
		return
	}
	switch s.phase {
	case 0:
		s.phase, s.done = 1, !pass
	case 1:
		s.lo, s.hi, s.phase, s.done = s.start, s.end, 2, pass
	default:
		if pass {
			s.lo = s.last
		} else {
			s.hi = s.last
		}
	}
}
