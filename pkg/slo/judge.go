package slo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/perfgo/perfgo/pkg/result"
)

// Mode says how many reported levels must meet every objective.
type Mode string

const (
	// All: every reported level must meet every objective. The default:
	// a gate must not pass while part of what it measured missed, and in
	// the common CI case, one level at the expected load, All and Any agree.
	All Mode = "all"
	// Any: at least one reported level must meet every objective, for a
	// sweep that looks for the load the server can take.
	Any Mode = "any"
)

// ParseMode accepts "all" and "any".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(s)); m {
	case All, Any:
		return m, nil
	}
	return "", fmt.Errorf("SLO mode %q: use all (every reported level must meet every SLO) or any (at least one level must)", s)
}

// Check says whether a run with settings s can measure every objective:
// the error names the first that it cannot, and the fix.
func Check(objs []Objective, s result.Settings) error {
	for _, o := range objs {
		if reason, fix := o.Metric.unavailable(s); reason != "" {
			return fmt.Errorf("--slo %s: %s is %s: %s", o, o.Metric, reason, fix)
		}
	}
	return nil
}

// unavailable says why a run with settings s has no data for m, and the
// fix; "" when it has.
func (m Metric) unavailable(s result.Settings) (reason, fix string) {
	switch m.Source {
	case Service, Lag:
		if s.Mode == result.Concurrency {
			return "measured in open loop only", fmt.Sprintf("use --request-rate-range or --request-intervals, or limit the latency (%s)", Metric{Kind: Latency, Percentile: m.Percentile})
		}
	case First, Between:
		if !s.Streaming {
			return "measured on streams only", "add --streaming (decoupled models stream anyway)"
		}
	}
	return "", ""
}

// Result is one objective judged on one level.
type Result struct {
	Objective Objective
	// Value is what was measured, in the metric's unit (ns, inferences/s,
	// percent); Reason, when not empty, says why nothing could be
	// measured, and the objective is then missed.
	Value  float64
	Reason string
	Pass   bool
}

// Measured says a value was measured.
func (r Result) Measured() bool { return r.Reason == "" }

// Level is one reported level judged on every objective.
type Level struct {
	Mode       result.Mode
	Value      float64 // concurrency or requests per second
	Throughput float64 // inferences per second
	Results    []Result
	Pass       bool // every objective met
}

// Name is "concurrency 4" or "request rate 250.5", as the report names levels.
func (l Level) Name() string { return result.LevelName(l.Mode, l.Value) }

// Verdict is a run judged on its objectives.
type Verdict struct {
	Objectives []Objective
	Mode       Mode
	Levels     []Level
	Pass       bool
	// Best indexes Levels: the highest-throughput level that met every
	// objective (max throughput under SLO, goodput); -1 when none did.
	Best int
}

// MaxThroughput is the throughput of the best level, ok false when no level met every objective.
func (v Verdict) MaxThroughput() (throughput float64, ok bool) {
	if v.Best < 0 {
		return 0, false
	}
	return v.Levels[v.Best].Throughput, true
}

// Judge judges every reported level of run on objs. No reported level is
// a failed verdict in both modes: a gate must not pass on no data.
func Judge(run result.Run, objs []Objective, mode Mode) Verdict {
	v := Verdict{Objectives: objs, Mode: mode, Best: -1}
	passed := 0
	for _, l := range run.Levels {
		lv := Level{Mode: l.Mode, Value: l.Value, Throughput: l.Client.Throughput, Pass: true}
		for _, o := range objs {
			r := Result{Objective: o}
			value, err := o.measure(run.Settings, l)
			if err != nil {
				r.Reason = err.Error()
			} else {
				r.Value, r.Pass = value, o.Op.holds(value, o.Limit)
			}
			lv.Pass = lv.Pass && r.Pass
			lv.Results = append(lv.Results, r)
		}
		if lv.Pass {
			passed++
			if v.Best < 0 || lv.Throughput > v.Levels[v.Best].Throughput {
				v.Best = len(v.Levels)
			}
		}
		v.Levels = append(v.Levels, lv)
	}
	switch mode {
	case Any:
		v.Pass = passed > 0
	default:
		v.Pass = passed > 0 && passed == len(v.Levels)
	}
	return v
}

// JudgeRun judges run on the objectives its settings carry (Settings.SLOs,
// Settings.SLOMode), as a report read back from JSON does; ok is false
// when the run has none.
func JudgeRun(run result.Run) (v Verdict, ok bool, err error) {
	if len(run.Settings.SLOs) == 0 {
		return Verdict{}, false, nil
	}
	objs, err := ParseAll(run.Settings.SLOs)
	if err != nil {
		return Verdict{}, false, err
	}
	mode := All
	if run.Settings.SLOMode != "" {
		if mode, err = ParseMode(run.Settings.SLOMode); err != nil {
			return Verdict{}, false, err
		}
	}
	return Judge(run, objs, mode), true, nil
}

// maxMisses bounds the misses Missed lists, to keep it one line.
const maxMisses = 3

// Missed is the one-line account of a failed verdict, e.g.
// "p99<=5ms at concurrency 4 (p99 8.12 ms)"; "" when the verdict passed.
func (v Verdict) Missed() string {
	if v.Pass {
		return ""
	}
	if len(v.Levels) == 0 {
		return "no level was reported, so none met " + v.objectiveList()
	}
	var misses []string
	for _, l := range v.Levels {
		for _, r := range l.Results {
			if r.Pass {
				continue
			}
			what := r.Objective.Metric.String() + " " + r.Objective.Metric.Format(r.Value)
			if !r.Measured() {
				what = r.Reason
			}
			misses = append(misses, fmt.Sprintf("%s at %s (%s)", r.Objective, l.Name(), what))
		}
	}
	line := strings.Join(misses[:min(len(misses), maxMisses)], ", ")
	if n := len(misses) - maxMisses; n > 0 {
		line += fmt.Sprintf(" and %d more", n)
	}
	if v.Mode == Any {
		line = "no level met every SLO (--slo-mode any): " + line
	}
	return line
}

func (v Verdict) objectiveList() string {
	s := make([]string, len(v.Objectives))
	for i, o := range v.Objectives {
		s[i] = o.String()
	}
	return strings.Join(s, ", ")
}

// measure reads the objective's metric from one level.
func (o Objective) measure(s result.Settings, l result.Level) (float64, error) {
	switch o.Metric.Kind {
	case Throughput:
		return l.Client.Throughput, nil
	case Errors:
		return l.Total.FailedPercent(), nil
	}
	if reason, _ := o.Metric.unavailable(s); reason != "" {
		return 0, errors.New(reason)
	}
	d, err := o.Metric.distribution(l.Client)
	if err != nil {
		return 0, err
	}
	if o.Metric.Percentile == 0 {
		if d.Count == 0 {
			return 0, errNoSamples
		}
		return float64(d.Mean), nil
	}
	v, err := percentile(d, o.Metric.Percentile)
	return float64(v), err
}

var errNoSamples = errors.New("no samples")

func (m Metric) distribution(c result.ClientStats) (*result.Distribution, error) {
	var d *result.Distribution
	switch m.Source {
	case Client:
		d = &c.Latency
	case Service:
		d = c.ServiceTime
	case Lag:
		d = c.ScheduleLag
	case First, Between:
		if c.Stream != nil {
			d = &c.Stream.First
			if m.Source == Between {
				d = &c.Stream.Between
			}
		}
	}
	if d == nil {
		return nil, fmt.Errorf("the level has no %s data", m.Source)
	}
	return d, nil
}

// percentile answers from the cached quantiles, else from the histogram,
// validated first: a run read back from a file must not panic the judge.
func percentile(d *result.Distribution, p float64) (time.Duration, error) {
	q := result.Quantiles{D: d}
	v, ok, err := q.At(p)
	switch {
	case err != nil:
		return 0, err
	case ok:
		return v, nil
	case d.Hist == nil && d.Count > 0:
		return 0, fmt.Errorf("no histogram to read p%s from", strconv.FormatFloat(p, 'f', -1, 64))
	}
	return 0, errNoSamples
}

// Format prints a value of the metric's unit: "8.12 ms", "1250 infer/s", "0.12%".
func (m Metric) Format(v float64) string {
	switch m.Kind {
	case Throughput:
		return strconv.FormatFloat(v, 'f', -1, 64) + " infer/s"
	case Errors:
		return strconv.FormatFloat(v, 'f', 2, 64) + "%"
	}
	return FormatDuration(time.Duration(v))
}

// FormatDuration prints d with three significant digits in the largest
// unit that keeps it at 1 or more: "812 us", "8.12 ms", "1.20 s". ASCII
// "us", so that table columns line up whatever the terminal's width of µ.
func FormatDuration(d time.Duration) string {
	v, unit := float64(d), "ns"
	for _, u := range []struct {
		name  string
		scale time.Duration
	}{{"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}} {
		if d >= u.scale {
			v, unit = float64(d)/float64(u.scale), u.name
			break
		}
	}
	prec := 2
	switch {
	case unit == "ns" || v >= 100:
		prec = 0
	case v >= 10:
		prec = 1
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + unit
}
