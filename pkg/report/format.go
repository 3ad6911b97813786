package report

import (
	"math"
	"strconv"
	"time"
)

// formatDouble formats f exactly as a C++ std::ostream does with its default
// flags (precision 6, neither fixed nor scientific), which is how
// perf_analyzer prints throughputs and request rates: printf's "%.6g". That
// means six significant digits, trailing zeros and a trailing point dropped,
// and exponent notation only below 1e-4 or from 1e+06 on ("1e+06",
// "1.23457e+06", "1e-05").
func formatDouble(f float64) string {
	return string(appendDouble(nil, f))
}

func appendDouble(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	// Go's 'g' with an explicit precision follows C's %g rules: %e when the
	// exponent is < -4 or >= precision, trailing zeros removed, at least two
	// exponent digits. The table test pins it against glibc's output.
	return strconv.AppendFloat(b, f, 'g', 6, 64)
}

// formatFixed2 is std::fixed << std::setprecision(2), perf_analyzer's format
// for percentages and the send request rate.
func formatFixed2(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// usec converts to whole microseconds, truncated, as perf_analyzer's
// uint64 "ns / 1000" does; negative durations (bad input) read as 0 because
// perf_analyzer's counters are unsigned.
func usec(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d) / 1000
}

// subClamp is a−b clamped at 0: perf_analyzer subtracts unsigned averages
// and would wrap around; perfgo prints 0 instead.
func subClamp(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// formatCount prints a load level (concurrency or rate) that perf_analyzer
// keeps as an integer: no exponent, no fraction for whole numbers.
func formatCount(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
