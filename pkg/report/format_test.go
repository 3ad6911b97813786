package report

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The expected strings were printed by `std::cout << d` (g++ 14, glibc) for
// the same doubles; formatDouble also matched it on 200 000 random and
// boundary values when this table was made.
func TestFormatDouble(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{1407.84, "1407.84"},
		{2160.5, "2160.5"},
		{35002.1, "35002.1"},
		{35002.123456, "35002.1"},
		{1200, "1200"},
		{0.5, "0.5"},
		{1e6, "1e+06"},
		{999999.5, "1e+06"},  // rounds up into exponent form
		{999999.4, "999999"}, // six digits, no exponent yet
		{99999.95, "99999.9"},
		{100000, "100000"},
		{123456.5, "123456"}, // exact binary tie: round half to even
		{1234565, "1.23456e+06"},
		{41422.0 / 18, "2301.22"},
		{1.0 / 3, "0.333333"},
		{0.1, "0.1"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{2.5e-5, "2.5e-05"},
		{0.00012345678, "0.000123457"},
		{9.999995, "10"},
		{9.9999949999, "9.99999"},
		{10, "10"},
		{0, "0"},
		{math.Copysign(0, -1), "-0"},
		{-2.5, "-2.5"},
		{1e21, "1e+21"},
		{1e-300, "1e-300"},
		{5e-324, "4.94066e-324"},
		{math.MaxFloat64, "1.79769e+308"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
		{math.NaN(), "nan"},
	} {
		if got := formatDouble(tc.in); got != tc.want {
			t.Errorf("formatDouble(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatFixed2(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{290.553, "290.55"},
		{100, "100.00"},
		{7.6481835, "7.65"},
		{2.675, "2.67"}, // 2.67499999… in binary, as printf sees it
		{0, "0.00"},
		{1e6, "1000000.00"},
		{math.NaN(), "nan"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
	} {
		if got := formatFixed2(tc.in); got != tc.want {
			t.Errorf("formatFixed2(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUsec(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want uint64
	}{
		{micro(829, 999), 829},
		{999, 0},
		{1000, 1},
		{0, 0},
		{-5 * time.Microsecond, 0},
	} {
		if got := usec(tc.in); got != tc.want {
			t.Errorf("usec(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestReportPercentiles(t *testing.T) {
	for _, tc := range []struct {
		p      float64
		want   []float64
		labels string
	}{
		{0, []float64{50, 90, 95, 99}, "p50 p90 p95 p99"},
		{95, []float64{50, 90, 95, 99}, "p50 p90 p95 p99"},
		{97, []float64{50, 90, 95, 97, 99}, "p50 p90 p95 p97 p99"},
		{99.9, []float64{50, 90, 95, 99, 99.9}, "p50 p90 p95 p99 p99.9"},
		{99.99, []float64{50, 90, 95, 99, 99.99}, "p50 p90 p95 p99 p99.99"},
		{10, []float64{10, 50, 90, 95, 99}, "p10 p50 p90 p95 p99"},
		{100, []float64{50, 90, 95, 99, 100}, "p50 p90 p95 p99 p100"},
	} {
		got := ReportPercentiles(tc.p)
		if !slices.Equal(got, tc.want) {
			t.Errorf("ReportPercentiles(%v) = %v, want %v", tc.p, got, tc.want)
		}
		var labels []string
		for _, p := range got {
			labels = append(labels, percentileLabel(p))
		}
		if l := strings.Join(labels, " "); l != tc.labels {
			t.Errorf("labels for %v = %q, want %q", tc.p, l, tc.labels)
		}
	}
}

// FuzzFormatDouble checks what %.6g promises for any double: at most six
// significant digits, within half a unit of the sixth digit of the input.
func FuzzFormatDouble(f *testing.F) {
	for _, v := range []float64{1407.84, 2160.5, 1e6, 999999.5, 0.00001, 5e-324, math.MaxFloat64, -0.5} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		s := formatDouble(x)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		y, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("formatDouble(%v) = %q does not parse: %v", x, s, err)
		}
		mant := strings.TrimLeft(strings.SplitN(strings.TrimPrefix(s, "-"), "e", 2)[0], "0.")
		if digits := len(strings.ReplaceAll(mant, ".", "")); digits > 6 {
			t.Fatalf("formatDouble(%v) = %q has %d significant digits", x, s, digits)
		}
		if x != 0 && math.Abs(y-x) > math.Abs(x)*5.0000001e-6 {
			t.Fatalf("formatDouble(%v) = %q is off by %g", x, s, math.Abs(y-x))
		}
	})
}
