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
		// Multiply rather than accumulate, so that float steps do not drift.
		v := s.start + float64(s.k)*s.step
		if s.integer {
			v = math.Round(v)
		}
		// Tolerate rounding: 0.1-steps from 0.1 must still reach an end of 0.3.
		if s.end != 0 && v > s.end+1e-9*math.Max(1, math.Abs(s.end)) {
			s.done = true
			return 0, false
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
