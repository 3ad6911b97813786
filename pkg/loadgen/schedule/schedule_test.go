package schedule

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestOffsets(t *testing.T) {
	constant := func(r float64) Schedule { s, _ := NewConstant(r); return s }
	intervals := func(g ...time.Duration) Schedule { s, _ := NewIntervals(g); return s }
	tests := []struct {
		name string
		s    Schedule
		want []time.Duration
	}{
		{"constant 100/s", constant(100), []time.Duration{0, 10 * ms, 20 * ms, 30 * ms}},
		{"constant 3/s does not drift", constant(3), []time.Duration{0, 333333333, 666666666, time.Second}},
		{"constant 0.5/s", constant(0.5), []time.Duration{0, 2 * time.Second, 4 * time.Second}},
		{"intervals wrap around", intervals(ms, 3*ms), []time.Duration{0, ms, 4 * ms, 5 * ms, 8 * ms, 9 * ms}},
		{"one interval", intervals(2 * ms), []time.Duration{0, 2 * ms, 4 * ms}},
		{"zero gaps allowed", intervals(0, 5*ms), []time.Duration{0, 0, 5 * ms, 5 * ms, 10 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Offsets(tt.s, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("offsets %v; want %v", got, tt.want)
			}
		})
	}
}

func TestConstantFarCursor(t *testing.T) {
	s, _ := NewConstant(1000)
	// An hour of requests later the offset is still exact.
	if got := s.Due(3_600_000); got != time.Hour {
		t.Errorf("due %v; want 1h", got)
	}
}

func TestNewErrors(t *testing.T) {
	for _, r := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := NewConstant(r); err == nil {
			t.Errorf("NewConstant(%v): no error", r)
		}
		if _, err := NewPoisson(r, 1); err == nil {
			t.Errorf("NewPoisson(%v): no error", r)
		}
	}
	for _, g := range [][]time.Duration{nil, {-ms}, {0, 0}, {math.MaxInt64, 1}} {
		if _, err := NewIntervals(g); err == nil {
			t.Errorf("NewIntervals(%v): no error", g)
		}
	}
}

func TestIntervalsRate(t *testing.T) {
	s, _ := NewIntervals([]time.Duration{ms, 2 * ms, 3 * ms})
	if r := s.Rate(); r != 500 {
		t.Errorf("rate %v; want 3 / 6ms = 500", r)
	}
	s, _ = NewIntervals([]time.Duration{300 * ms})
	if r := s.Rate(); r != 3 {
		t.Errorf("rate %v; want trunc(3.33) = 3", r)
	}
}

func TestPoissonReproducible(t *testing.T) {
	a, _ := NewPoisson(1000, 7)
	b, _ := NewPoisson(1000, 7)
	c, _ := NewPoisson(1000, 8)
	oa, ob, oc := Offsets(a, 100), Offsets(b, 100), Offsets(c, 100)
	if !slices.Equal(oa, ob) {
		t.Error("same seed, different schedules")
	}
	if slices.Equal(oa, oc) {
		t.Error("different seeds, same schedule")
	}
	if oa[0] != 0 {
		t.Errorf("first request due at %v; want 0", oa[0])
	}
}

func TestPoissonStatistics(t *testing.T) {
	const rate, n = 2000.0, 200_000
	s, _ := NewPoisson(rate, 12345)
	var sum, sumSq, lag1 float64
	prevGap := 0.0
	var c uint64
	for i := range n {
		next := s.Next(c)
		if next <= c {
			t.Fatalf("cursor did not move at %d", i)
		}
		gap := float64(s.Due(next)-s.Due(c)) / 1e9
		sum += gap
		sumSq += gap * gap
		lag1 += gap * prevGap
		prevGap, c = gap, next
	}
	mean := sum / n
	variance := sumSq/n - mean*mean
	// Exponential gaps: mean 1/rate, variance 1/rate²; the standard error
	// of the mean over 200k draws is 0.22%, so 1% is 4.5 sigma.
	if want := 1 / rate; math.Abs(mean-want)/want > 0.01 {
		t.Errorf("mean gap %v; want %v within 1%%", mean, want)
	}
	if want := 1 / (rate * rate); math.Abs(variance-want)/want > 0.03 {
		t.Errorf("gap variance %v; want %v within 3%%", variance, want)
	}
	// Consecutive gaps are independent: their correlation is about 0.
	corr := (lag1/(n-1) - mean*mean) / variance
	if math.Abs(corr) > 0.01 {
		t.Errorf("lag-1 correlation %v; want |r| < 0.01", corr)
	}
	// Counts per 10 ms (mean 20) are Poisson: variance equals mean.
	var counts [1000]float64
	c = 0
	for s.Due(c) < 10*time.Second {
		counts[s.Due(c)/(10*ms)]++
		c = s.Next(c)
	}
	var m, v float64
	for _, k := range counts {
		m += k
	}
	m /= float64(len(counts))
	for _, k := range counts {
		v += (k - m) * (k - m)
	}
	v /= float64(len(counts) - 1)
	if math.Abs(m-20) > 0.5 || math.Abs(v/m-1) > 0.15 {
		t.Errorf("counts per 10ms: mean %v variance %v; want 20 and a variance/mean near 1", m, v)
	}
}

func TestParseIntervals(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []time.Duration
		wantErr string
	}{
		{"lines", "1000\n2000\n500\n", []time.Duration{ms, 2 * ms, ms / 2}, ""},
		{"no final newline, blanks and spaces", "  10 \n\n\t20", []time.Duration{10 * time.Microsecond, 20 * time.Microsecond}, ""},
		{"CRLF", "5\r\n6\r\n", []time.Duration{5 * time.Microsecond, 6 * time.Microsecond}, ""},
		{"zero", "0\n1\n", []time.Duration{0, time.Microsecond}, ""},
		{"empty", "", nil, "no interval found"},
		{"blank only", "\n \n", nil, "no interval found"},
		{"negative", "10\n-5\n", nil, "line 2"},
		{"fraction", "1.5\n", nil, "line 1"},
		{"words", "10\n\nabc\n", nil, `line 3: "abc"`},
		{"too large", "99999999999999999999\n", nil, "line 1"},
		{"overflows a duration", "9223372036854776\n", nil, "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIntervals(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseIntervals(f *testing.F) {
	for _, s := range []string{"1000\n2000\n", "", "x", "-1", "1\r\n2", " 7 \n\n", "18446744073709551615", strings.Repeat("9", 400)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		gaps, err := ParseIntervals(strings.NewReader(in))
		if err != nil {
			if gaps != nil {
				t.Fatalf("gaps %v with error %v", gaps, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		if len(gaps) == 0 {
			t.Fatal("no gaps and no error")
		}
		for _, g := range gaps {
			if g < 0 || g%time.Microsecond != 0 {
				t.Fatalf("gap %v is negative or not whole microseconds", g)
			}
		}
		// Whatever parses makes a schedule or a clear error, never a panic.
		if s, err := NewIntervals(gaps); err == nil {
			Offsets(s, 3)
			_ = s.Rate()
		}
	})
}
