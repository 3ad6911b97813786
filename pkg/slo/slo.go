// Package slo parses service-level objectives ("p99<=20ms",
// "throughput>=1000", "errors<=0.1%") and judges a run's levels against them.
//
// An objective is METRIC OP NUMBER[UNIT]: k6's thresholds without the
// aggregation syntax, because perfgo's levels already are the aggregation.
// Judging is a pure function of a result.Run, so a run read back from its
// JSON report is judged exactly as the run that wrote it.
package slo

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Grammar is the one-line grammar every parse error shows.
const Grammar = "METRIC OP NUMBER[UNIT]: METRIC avg, pN (e.g. p99, p99.9), throughput, errors, or lag.|service. (open loop) or first.|between. (streams) before avg or pN; OP <, <=, > or >=; latencies need a unit ns, us, µs, ms or s, throughput is inferences/s (optional /s), errors percent of completed requests (optional %), e.g. p99<=20ms"

// Kind is what a metric measures, which fixes its unit.
type Kind int

const (
	// Latency is a duration; limits and values are in nanoseconds.
	Latency Kind = iota
	// Throughput is inferences per second.
	Throughput
	// Errors is the share of failed requests in percent of the completed ones.
	Errors
)

// Source names the distribution a latency metric is read from.
type Source string

// Latency sources: the reported latency, and the distributions only some
// runs have (open loop: service time and schedule lag; streams: first
// response and between responses).
const (
	Client  Source = ""
	Service Source = "service"
	Lag     Source = "lag"
	First   Source = "first"
	Between Source = "between"
)

// Metric is what an objective limits.
type Metric struct {
	Kind   Kind
	Source Source // latency only
	// Percentile is 0 for the average, else 0 < p < 100 (latency only).
	Percentile float64
}

func (m Metric) String() string {
	switch m.Kind {
	case Throughput:
		return "throughput"
	case Errors:
		return "errors"
	}
	stat := "avg"
	if m.Percentile != 0 {
		stat = "p" + strconv.FormatFloat(m.Percentile, 'f', -1, 64)
	}
	if m.Source == Client {
		return stat
	}
	return string(m.Source) + "." + stat
}

// Op compares a measured value with a limit.
type Op string

// The comparisons an objective may use.
const (
	Less      Op = "<"
	LessEq    Op = "<="
	Greater   Op = ">"
	GreaterEq Op = ">="
)

func (op Op) holds(value, limit float64) bool {
	switch op {
	case Less:
		return value < limit
	case LessEq:
		return value <= limit
	case Greater:
		return value > limit
	case GreaterEq:
		return value >= limit
	}
	return false
}

// Objective is one parsed SLO.
type Objective struct {
	Metric Metric
	Op     Op
	// Limit is in the metric's unit: ns, inferences/s or percent.
	Limit float64
	// written and unit are the number and latency unit as given, so that
	// the normalised expression reads as the user wrote it.
	written float64
	unit    string
}

// String is the normalised expression: no spaces, "us" for µs, no "/s".
func (o Objective) String() string {
	switch o.Metric.Kind {
	case Latency:
		return o.Metric.String() + string(o.Op) + formatNumber(o.written) + o.unit
	case Errors:
		return o.Metric.String() + string(o.Op) + formatNumber(o.Limit) + "%"
	}
	return o.Metric.String() + string(o.Op) + formatNumber(o.Limit)
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

var latencyUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "ms": time.Millisecond, "s": time.Second,
}

// ParseError is a bad expression; its message is one line ending in the grammar.
type ParseError struct {
	Expr, Problem string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%q: %s; want %s", e.Expr, e.Problem, Grammar)
}

// Parse parses one expression. Spaces are ignored and case does not matter.
func Parse(expr string) (Objective, error) {
	bad := func(format string, args ...any) (Objective, error) {
		return Objective{}, &ParseError{Expr: expr, Problem: fmt.Sprintf(format, args...)}
	}
	s := strings.ToLower(strings.Join(strings.Fields(expr), ""))
	i := strings.IndexAny(s, "<>")
	if i < 0 {
		return bad("no comparison")
	}
	name, rest := s[:i], s[i:]
	if strings.ContainsAny(name, "=!") {
		return bad("the comparison is <, <=, > or >=")
	}
	op := Op(rest[:1])
	if strings.HasPrefix(rest[1:], "=") {
		op += "="
	}
	num := rest[len(op):]
	metric, err := parseMetric(name)
	if err != nil {
		return bad("%v", err)
	}
	o := Objective{Metric: metric, Op: op}
	switch metric.Kind {
	case Latency:
		digits, unit := splitUnit(num)
		unit = strings.NewReplacer("µ", "u", "μ", "u").Replace(unit) // micro sign or Greek mu
		scale, ok := latencyUnits[unit]
		if !ok {
			if unit == "" {
				return bad("a latency needs a unit")
			}
			return bad("unknown latency unit %q", unit)
		}
		v, err := parseLimit(digits)
		if err != nil {
			return bad("%v", err)
		}
		o.Limit, o.written, o.unit = v*float64(scale), v, unit
		if o.Limit > math.MaxInt64 {
			return bad("%s is longer than a time.Duration can hold", num)
		}
	case Throughput:
		v, err := parseLimit(strings.TrimSuffix(num, "/s"))
		if err != nil {
			return bad("throughput: %v", err)
		}
		o.Limit = v
	case Errors:
		v, err := parseLimit(strings.TrimSuffix(num, "%"))
		if err != nil {
			return bad("errors: %v", err)
		}
		if v > 100 {
			return bad("errors are a percentage, 0 to 100")
		}
		o.Limit = v
	}
	return o, nil
}

// ParseAll parses every expression; the first bad one is the error.
func ParseAll(exprs []string) ([]Objective, error) {
	out := make([]Objective, 0, len(exprs))
	for _, e := range exprs {
		o, err := Parse(e)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func parseMetric(name string) (Metric, error) {
	switch name {
	case "throughput":
		return Metric{Kind: Throughput}, nil
	case "errors":
		return Metric{Kind: Errors}, nil
	case "":
		return Metric{}, errors.New("no metric before the comparison")
	}
	m := Metric{Kind: Latency}
	stat := name
	if src, st, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "p") {
		switch Source(src) {
		case Service, Lag, First, Between:
			m.Source, stat = Source(src), st
		default:
			return Metric{}, fmt.Errorf("unknown metric %q", name)
		}
	}
	if stat == "avg" {
		return m, nil
	}
	digits, ok := strings.CutPrefix(stat, "p")
	if !ok {
		return Metric{}, fmt.Errorf("unknown metric %q", name)
	}
	p, err := strconv.ParseFloat(digits, 64)
	if err != nil || !isPlainNumber(digits) || !(p > 0 && p < 100) {
		return Metric{}, fmt.Errorf("%q: a percentile is p followed by a number between 0 and 100, e.g. p99 or p99.9", name)
	}
	m.Percentile = p
	return m, nil
}

// splitUnit splits "20ms" into "20" and "ms".
func splitUnit(s string) (number, unit string) {
	i := strings.LastIndexAny(s, "0123456789.")
	return s[:i+1], s[i+1:]
}

func parseLimit(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !isPlainNumber(s) || v < 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number of 0 or more", s)
	}
	return v, nil
}

// isPlainNumber accepts digits with at most one point: ParseFloat would
// also take "1e3", "0x10", "inf" and "1_000", which no one means in a gate.
func isPlainNumber(s string) bool {
	digits, points := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1
}
