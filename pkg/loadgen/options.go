package loadgen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/perfgo/perfgo/pkg/loadgen/schedule"
	"github.com/perfgo/perfgo/pkg/result"
)

// Defaults for zero values perf_analyzer would reject.
const (
	defaultInterval     = 5 * time.Second
	defaultRequestCount = 50
	defaultMaxTrials    = 10
	defaultMaxInFlight  = 1024
	defaultDrainTimeout = 5 * time.Second
)

// normalize fills defaults and validates; errors say what to change.
func (o Options) normalize() (Options, error) {
	if o.Mode == "" {
		o.Mode = result.Concurrency
	}
	if o.MeasurementMode == "" {
		o.MeasurementMode = TimeWindows
	}
	if o.Distribution == "" {
		o.Distribution = Constant
	}
	if o.Start == 0 {
		o.Start = 1
	}
	if o.Step == 0 {
		o.Step = 1
	}
	if o.Streaming && o.StreamLatency == "" {
		o.StreamLatency = StreamFirst
	}
	zeroDefault(&o.BatchSize, 1)
	zeroDefault(&o.MeasurementInterval, defaultInterval)
	zeroDefault(&o.MeasurementRequestCount, defaultRequestCount)
	zeroDefault(&o.MaxTrials, defaultMaxTrials)
	zeroDefault(&o.MaxInFlight, defaultMaxInFlight)
	zeroDefault(&o.DrainTimeout, defaultDrainTimeout)

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch o.Mode {
	case result.Concurrency, result.RequestRate, result.Intervals:
	default:
		bad("unknown load mode %q: use %q, %q or %q", o.Mode, result.Concurrency, result.RequestRate, result.Intervals)
	}
	if o.NewCaller == nil {
		bad("no NewCaller: give a function that makes each worker's Caller")
	}
	if o.Mode != result.Intervals {
		for _, f := range []struct {
			name string
			v    float64
		}{{"start", o.Start}, {"end", o.End}, {"step", o.Step}} {
			if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
				bad("range %s %v is not a number of 0 or more: use e.g. 1:8:1", f.name, f.v)
			} else if o.Mode == result.Concurrency && f.v != math.Trunc(f.v) {
				bad("concurrency range %s %v is not a whole number: use whole numbers", f.name, f.v)
			}
		}
		if o.End != 0 && o.End < o.Start {
			bad("range end %v is below its start %v: swap them or raise the end", o.End, o.Start)
		}
		if o.End == 0 && o.LatencyThreshold <= 0 {
			bad("range end 0 (open-ended sweep) needs a latency threshold to stop it: set a latency threshold or an end")
		}
		if o.BinarySearch && (o.End == 0 || o.LatencyThreshold <= 0) {
			bad("binary search needs a range end and a latency threshold: set both")
		}
	}
	if o.BatchSize < 0 {
		bad("batch size %d is negative: use 1 or more", o.BatchSize)
	}
	if o.MeasurementMode != TimeWindows && o.MeasurementMode != CountWindows {
		bad("unknown measurement mode %q: use %q or %q", o.MeasurementMode, TimeWindows, CountWindows)
	}
	if o.MeasurementInterval < 0 {
		bad("measurement interval %v is negative: use a positive duration", o.MeasurementInterval)
	}
	if o.MeasurementRequestCount < 0 {
		bad("measurement request count %d is negative: use 1 or more", o.MeasurementRequestCount)
	}
	if math.IsNaN(o.StabilityPercentage) || o.StabilityPercentage < 0 {
		bad("stability percentage %v is not 0 or more: use e.g. 10", o.StabilityPercentage)
	}
	if o.MaxTrials < 0 {
		bad("max trials %d is negative: use 1 or more", o.MaxTrials)
	}
	if math.IsNaN(o.Percentile) || o.Percentile < 0 || o.Percentile > 100 {
		bad("percentile %v is outside 0-100: use e.g. 95 or 99.9 (0 stabilises on the average)", o.Percentile)
	}
	if o.LatencyThreshold < 0 {
		bad("latency threshold %v is negative: use 0 (no limit) or more", o.LatencyThreshold)
	}
	if o.RequestCount < 0 || o.WarmupRequestCount < 0 {
		bad("request counts (%d, warm-up %d) must be 0 or more", o.RequestCount, o.WarmupRequestCount)
	}
	if math.IsNaN(o.FailureLimit) || o.FailureLimit < 0 || o.FailureLimit > 100 {
		bad("failure limit %v%% is outside 0-100: use e.g. 1", o.FailureLimit)
	}
	if o.MaxInFlight < 0 {
		bad("max in flight %d is negative: use 1 or more", o.MaxInFlight)
	}
	if o.StreamLatency != "" && (!o.Streaming || (o.StreamLatency != StreamFirst && o.StreamLatency != StreamFinal)) {
		bad("stream latency %q needs streaming and is %q or %q", o.StreamLatency, StreamFirst, StreamFinal)
	}
	if o.Sequences != nil {
		seq := *o.Sequences // the caller's stays as given
		if err := seq.normalize(&o); err != nil {
			errs = append(errs, err)
		}
		o.Sequences = &seq
	}
	if o.Stats != nil && o.Model == "" {
		bad("server statistics need the model name: set Model")
	}
	switch o.Mode {
	case result.RequestRate:
		if o.Distribution != Constant && o.Distribution != Poisson {
			bad("unknown request distribution %q: use %q or %q", o.Distribution, Constant, Poisson)
		}
		if o.Distribution == Poisson && o.Seed == 0 {
			// Chosen here and reported in Settings.Seed, so the run can be replayed.
			for o.Seed == 0 {
				o.Seed = rand.Int64()
			}
		}
	case result.Intervals:
		if _, err := schedule.NewIntervals(o.Intervals); err != nil {
			errs = append(errs, err)
		}
	}
	return o, errors.Join(errs...)
}

func zeroDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// measures says which quantities the run records.
func (o *Options) measures() measures {
	return measures{open: o.open(), stream: o.Streaming, firstIsLatency: o.StreamLatency == StreamFirst}
}

// open reports whether levels follow a schedule (open loop).
func (o *Options) open() bool { return o.Mode != result.Concurrency }

// schedule returns the open-loop schedule of level v.
func (o *Options) schedule(v float64) (schedule.Schedule, error) {
	switch {
	case o.Mode == result.Intervals:
		return schedule.NewIntervals(o.Intervals)
	case o.Distribution == Poisson:
		return schedule.NewPoisson(v, o.Seed)
	}
	return schedule.NewConstant(v)
}

// settings are the measurement settings a report header prints; the
// caller adds what the engine does not know (protocol, URL, service kind...).
func (o *Options) settings() result.Settings {
	s := result.Settings{
		Model:                   o.Model,
		Version:                 o.Version,
		BatchSize:               o.BatchSize,
		Mode:                    o.Mode,
		WarmupRequests:          o.WarmupRequestCount,
		RequestCount:            o.RequestCount,
		MeasurementMode:         o.MeasurementMode,
		MeasurementInterval:     o.MeasurementInterval,
		MeasurementRequestCount: o.MeasurementRequestCount,
		StabilityPercentage:     o.StabilityPercentage,
		MaxTrials:               o.MaxTrials,
		Percentile:              o.Percentile,
		LatencyThreshold:        o.LatencyThreshold,
		RangeStart:              o.Start,
		RangeEnd:                o.End,
		RangeStep:               o.Step,
		BinarySearch:            o.BinarySearch,
		LatencyOrigin:           "send",
		ServerStats:             o.Stats != nil,
		FailureLimit:            o.FailureLimit,
		DrainTimeout:            max(o.DrainTimeout, 0),
		Streaming:               o.Streaming,
		Sequence:                o.sequenceSettings(),
		StreamLatency:           o.StreamLatency,
	}
	_, s.CPUs = o.cpuClock()
	if o.open() {
		s.LatencyOrigin = "intended"
		s.Distribution = o.Distribution
		s.Seed = o.Seed
	}
	if o.Mode == result.Intervals {
		s.RangeStart, s.RangeEnd, s.RangeStep, s.BinarySearch = 0, 0, 0, false
		s.Distribution, s.Seed = "", 0
	}
	return s
}

func (o *Options) sequenceSettings() *result.SequenceSettings {
	s := o.Sequences
	if s == nil {
		return nil
	}
	ss := &result.SequenceSettings{Length: s.Length, Variation: s.Variation, IDStart: s.IDStart, IDEnd: s.IDEnd, StringID: s.StringID, Serial: s.Serial}
	ss.Live = s.Live
	if !o.open() {
		ss.Live = int(max(o.Start, o.End))
		ss.Serial = true // one request per worker: never two of a sequence
	}
	return ss
}
