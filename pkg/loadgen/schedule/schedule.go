// Package schedule says when open-loop requests are due: a Schedule maps a
// request's cursor to its intended send offset from the level start. It
// reads no clock and holds no state, so every schedule is a table test and
// many workers can claim requests from one schedule with a single atomic
// compare-and-swap on the cursor, without a lock or a dispatcher channel.
package schedule

import (
	"fmt"
	"math"
	"time"
)

// Schedule is a pure description of when requests are due. Cursors are
// opaque: the first request's cursor is 0 and Next gives the following one.
type Schedule interface {
	// Due is the intended send offset, from the level start, of the request at cursor c.
	Due(c uint64) time.Duration
	// Next returns the cursor of the request after c; Due(Next(c)) >= Due(c).
	Next(c uint64) uint64
}

var (
	_ Schedule = Constant{}
	_ Schedule = Poisson{}
	_ Schedule = Intervals{}
)

// Constant issues requests at a fixed rate: request i is due at i/rate.
// The cursor is the request index, so the offsets do not drift with rounding.
type Constant struct{ rate float64 }

// NewConstant returns a schedule of rate requests per second.
func NewConstant(rate float64) (Constant, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return Constant{}, fmt.Errorf("request rate %v is not a positive number: use a rate above 0", rate)
	}
	return Constant{rate: rate}, nil
}

func (s Constant) Due(c uint64) time.Duration { return time.Duration(float64(c) * 1e9 / s.rate) }
func (s Constant) Next(c uint64) uint64       { return c + 1 }

// Poisson issues requests as a Poisson process: exponential gaps of mean
// 1/rate. The cursor is the request's offset in nanoseconds, and each gap is
// drawn from a hash of (seed, offset), so the schedule is reproducible from
// the seed, needs no shared generator state, and never repeats (the offset
// only grows), unlike perf_analyzer's, which loops after max-trials windows.
// Request 0 is due at the level start.
type Poisson struct {
	mean float64 // mean gap in ns
	key  uint64
}

// NewPoisson returns a Poisson schedule of rate requests per second.
func NewPoisson(rate float64, seed int64) (Poisson, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return Poisson{}, fmt.Errorf("request rate %v is not a positive number: use a rate above 0", rate)
	}
	return Poisson{mean: 1e9 / rate, key: mix(uint64(seed) ^ 0x9e3779b97f4a7c15)}, nil
}

func (s Poisson) Due(c uint64) time.Duration { return time.Duration(c) }

func (s Poisson) Next(c uint64) uint64 {
	// 53 random bits, shifted off zero so that the logarithm is finite.
	u := (float64(mix(c^s.key)>>11) + 0.5) / (1 << 53)
	gap := -math.Log(u) * s.mean
	// At least 1 ns, so that the cursor always moves on.
	return c + max(1, uint64(math.Round(gap)))
}

// mix is SplitMix64's finaliser: distinct inputs give independent-looking outputs.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Intervals issues requests at user-given gaps, repeated: request 0 is due
// at the level start, request i+1 gaps[i mod n] after request i.
type Intervals struct {
	at    []time.Duration // at[i]: offset of request i within a cycle
	cycle time.Duration   // the sum of the gaps
}

// NewIntervals returns a schedule repeating gaps; it copies gaps.
func NewIntervals(gaps []time.Duration) (Intervals, error) {
	if len(gaps) == 0 {
		return Intervals{}, fmt.Errorf("no request intervals: give at least one gap")
	}
	at := make([]time.Duration, len(gaps))
	var sum time.Duration
	for i, g := range gaps {
		if g < 0 {
			return Intervals{}, fmt.Errorf("request interval %d is negative (%v): use gaps of 0 or more", i+1, g)
		}
		at[i] = sum
		if sum += g; sum < 0 {
			return Intervals{}, fmt.Errorf("request intervals add up to more than %v: use fewer or shorter gaps", time.Duration(math.MaxInt64))
		}
	}
	if sum == 0 {
		return Intervals{}, fmt.Errorf("request intervals are all zero: at least one gap must be positive")
	}
	return Intervals{at: at, cycle: sum}, nil
}

func (s Intervals) Due(c uint64) time.Duration {
	n := uint64(len(s.at))
	return time.Duration(c/n)*s.cycle + s.at[c%n]
}

func (s Intervals) Next(c uint64) uint64 { return c + 1 }

// Rate is perf_analyzer's reported rate of an intervals schedule: the number
// of gaps divided by their sum in seconds, truncated to an integer.
func (s Intervals) Rate() float64 {
	return math.Trunc(float64(len(s.at)) / s.cycle.Seconds())
}

// Offsets returns the first n due offsets of s, for tests and previews.
func Offsets(s Schedule, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	var c uint64
	for range n {
		out = append(out, s.Due(c))
		c = s.Next(c)
	}
	return out
}
