package loadgen

import (
	"math"
	"slices"
	"testing"
)

// TestSweepLevelCount checks how many linear levels a range has when the
// values are large or fractional, where a tolerance on the value rather
// than on the step added or dropped a level.
func TestSweepLevelCount(t *testing.T) {
	tests := []struct {
		name             string
		start, end, step float64
		integer          bool
		want             []float64
	}{
		{"0.1:0.3:0.1 ends at 0.3, not 0.30000000000000004", 0.1, 0.3, 0.1, false, []float64{0.1, 0.2, 0.3}},
		{"0.1:0.35:0.1 stops before the end", 0.1, 0.35, 0.1, false, []float64{0.1, 0.2, 0.3}},
		{"0.7:1:0.1", 0.7, 1, 0.1, false, []float64{0.7, 0.8, 0.9, 1}},
		{"fractional start and step", 0.5, 2, 0.25, false, []float64{0.5, 0.75, 1, 1.25, 1.5, 1.75, 2}},
		{"1e9 alone is one level", 1e9, 1e9, 1, false, []float64{1e9}},
		{"1e9:1e9+2 is three levels", 1e9, 1e9 + 2, 1, false, []float64{1e9, 1e9 + 1, 1e9 + 2}},
		{"1e15 alone is one level", 1e15, 1e15, 1, false, []float64{1e15}},
		{"1e7:3e7:1e7", 1e7, 3e7, 1e7, false, []float64{1e7, 2e7, 3e7}},
		{"tiny rates", 1e-3, 3e-3, 1e-3, false, []float64{1e-3, 2e-3, 3e-3}},
		{"step larger than the range", 1, 2, 5, false, []float64{1}},
		{"concurrency 100000 alone", 100000, 100000, 1, true, []float64{100000}},
		{"concurrency 1:10:3", 1, 10, 3, true, []float64{1, 4, 7, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSweep(tt.start, tt.end, tt.step, tt.integer, false)
			var got []float64
			for v, ok := s.next(); ok && len(got) < 20; v, ok = s.next() {
				got = append(got, v)
				s.report(true)
			}
			if !slices.EqualFunc(got, tt.want, func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }) {
				t.Errorf("levels %v; want %v", got, tt.want)
			}
			if len(got) > 0 && tt.end != 0 && got[len(got)-1] > tt.end {
				t.Errorf("last level %v is above the end %v", got[len(got)-1], tt.end)
			}
		})
	}
}
