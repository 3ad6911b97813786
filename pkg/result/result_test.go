package result

import (
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func TestLevelName(t *testing.T) {
	for _, tt := range []struct {
		mode  Mode
		value float64
		want  string
	}{
		{Concurrency, 4, "concurrency 4"},
		{RequestRate, 250.5, "request rate 250.5"},
		{RequestRate, 1.0 / 3, "request rate 0.333333"},
		{Intervals, 333, "request rate 333"},
	} {
		if got := LevelName(tt.mode, tt.value); got != tt.want {
			t.Errorf("LevelName(%s, %v) = %q, want %q", tt.mode, tt.value, got, tt.want)
		}
	}
}

// Quantiles answers from the cached quantiles first, then the histogram;
// an empty histogram answers nothing, and a corrupt one is an error.
func TestQuantiles(t *testing.T) {
	h := hdrhistogram.New(1, int64(time.Minute), 3)
	for v := int64(1); v <= 100; v++ {
		_ = h.RecordValue(v * int64(time.Millisecond))
	}
	full := Distribution{Count: 100, Hist: h.Export(), Quantiles: []Quantile{{50, 7 * time.Second}}}
	empty := Distribution{Hist: hdrhistogram.New(1, 1000, 3).Export()}
	bad := h.Export()
	bad.Counts[0] = -1
	corrupt := Distribution{Count: 1, Hist: bad}

	q := Quantiles{D: &full}
	if v, ok, err := q.At(50); v != 7*time.Second || !ok || err != nil {
		t.Errorf("cached p50 = %v, %v, %v; want 7s", v, ok, err)
	}
	if v, ok, err := q.At(90); !ok || err != nil || v < 89*time.Millisecond || v > 91*time.Millisecond {
		t.Errorf("p90 from the histogram = %v, %v, %v; want about 90ms", v, ok, err)
	}
	q = Quantiles{D: &empty}
	if v, ok, err := q.At(99); ok || err != nil || v != 0 {
		t.Errorf("p99 of an empty histogram = %v, %v, %v; want none", v, ok, err)
	}
	q = Quantiles{D: &corrupt}
	if _, ok, err := q.At(99); ok || err == nil || !strings.Contains(err.Error(), "histogram snapshot is invalid") {
		t.Errorf("p99 of a corrupt histogram: ok %v, %v; want an error", ok, err)
	}
}
