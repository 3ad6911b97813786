package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/perfgo/perfgo/pkg/inputs"
)

// perf_analyzer's options that perfgo does not implement are still known:
// a script written for perf_analyzer gets either perf_analyzer's meaning
// (where perfgo already behaves that way, or where perf_analyzer itself
// ignores the option for the triton kind) or one line saying what is not
// implemented yet, never cobra's "unknown flag". They are hidden from
// --help, which lists what works; compatHelp summarises them.

// compatFlag is one such option.
type compatFlag struct {
	name string
	// arg names the value in messages; "" for a switch. A flag that takes
	// a value always requires one, so --shared-memory none reads "none".
	arg string
	// values are perf_analyzer's choices, when it has a fixed set.
	values []string
	// accept is the value whose perf_analyzer meaning perfgo already has;
	// "*" accepts any (perf_analyzer ignores the option for the triton
	// kind); "" refuses every use.
	accept string
	// missing says what perfgo lacks, for the refusal.
	missing string
	// refuse overrides the refusal for one value.
	refuse map[string]string
}

// compatFlags follow perf_analyzer's option list (reference §1), in order.
var compatFlags = []compatFlag{
	// General / target selection.
	{name: "service-kind", arg: "KIND", values: []string{"triton", "triton_c_api", "tfserving", "torchserve", "openai", "dynamic_grpc"}, accept: "triton", missing: "only the triton kind (KServe v2 / Open Inference Protocol) is implemented"},
	{name: "endpoint", arg: "PATH", accept: "*"},
	{name: "model-signature-name", arg: "NAME", accept: "*"},
	{name: "triton-server-directory", arg: "DIR", accept: "*"},
	{name: "model-repository", arg: "DIR", accept: "*"},
	{name: "enable-mpi", missing: "multi-model runs under mpiexec"},
	// Load modes.
	{name: "periodic-concurrency-range", arg: "RANGE", missing: "the periodic concurrency mode (streaming)"},
	{name: "request-period", arg: "N", missing: "the periodic concurrency mode (streaming)"},
	{name: "fixed-schedule", missing: "fixed schedules from --input-data files"},
	{name: "session-concurrency", arg: "N", missing: "multi-turn sessions (openai kind)"},
	// Input data.
	// Protocol and transport.
	{name: "grpc-method", arg: "METHOD", accept: "*"},
	{name: "proto", arg: "FILE", missing: "the dynamic_grpc kind"},
	// Server metrics and tracing.
	{name: "trace-level", arg: "LEVEL", missing: "server trace settings"},
	{name: "trace-rate", arg: "N", missing: "server trace settings"},
	{name: "trace-count", arg: "N", missing: "server trace settings"},
	{name: "log-frequency", arg: "N", missing: "server trace settings"},
}

// bindCompat binds perf_analyzer's deprecated and not yet implemented
// options, all hidden from --help.
func (o *profileOptions) bindCompat(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.zeroInput, "zero-input", "z", false, "perf_analyzer's deprecated -z: --input-data zero")
	o.deprecated.bind(fs)
	for _, f := range compatFlags {
		if f.arg == "" {
			fs.Bool(f.name, false, "perf_analyzer's; not implemented yet")
		} else {
			fs.String(f.name, "", "perf_analyzer's; "+f.state())
		}
	}
	for _, name := range append([]string{"zero-input"}, deprecatedNames...) {
		_ = fs.MarkHidden(name)
	}
	for _, f := range compatFlags {
		_ = fs.MarkHidden(f.name)
	}
}

// state says in a few words what perfgo does with the option.
func (f compatFlag) state() string {
	switch f.accept {
	case "":
		return "not implemented yet"
	case "*":
		return "accepted and ignored, as perf_analyzer does for the triton kind"
	}
	return "accepted as " + f.accept + "; other values not implemented yet"
}

// finishCompat refuses what is not implemented and applies -z.
func (o *profileOptions) finishCompat(fs *pflag.FlagSet) error {
	for _, f := range compatFlags {
		if !fs.Changed(f.name) {
			continue
		}
		if err := f.check(fs.Lookup(f.name).Value.String()); err != nil {
			return err
		}
	}
	if o.zeroInput {
		if len(o.DataPaths) > 0 || (fs.Changed("input-data") && o.InputData != inputs.Zero) {
			return usagef("-z means --input-data zero: it cannot be used with --input-data %s", strings.Join(o.inputData, " "))
		}
		o.InputData = inputs.Zero
	}
	return nil
}

// check accepts value or says, in one line, why perfgo cannot.
func (f compatFlag) check(value string) error {
	if f.arg == "" {
		return usagef("--%s is not implemented yet in perfgo: %s", f.name, f.missing)
	}
	if len(f.values) > 0 && !slices.Contains(f.values, value) {
		return usagef("--%s %q: perf_analyzer's values are %s", f.name, value, strings.Join(f.values, ", "))
	}
	if f.accept == "*" || f.accept == value {
		return nil
	}
	if why, ok := f.refuse[value]; ok {
		return usagef("--%s %s is not implemented in perfgo: %s", f.name, value, why)
	}
	if f.accept != "" {
		return usagef("--%s %s is not implemented yet in perfgo (only %s is): %s", f.name, value, f.accept, f.missing)
	}
	return usagef("--%s is not implemented yet in perfgo: %s", f.name, f.missing)
}

// compatHelp lists perf_analyzer's options that --help does not show, for
// the command's long help.
func compatHelp() string {
	var accepted, refused []string
	for _, f := range compatFlags {
		switch f.accept {
		case "":
			refused = append(refused, "--"+f.name)
		case "*":
			accepted = append(accepted, "--"+f.name)
		default:
			accepted = append(accepted, "--"+f.name+" "+f.accept)
		}
	}
	return fmt.Sprintf("perf_analyzer's other options are known too. Accepted with its meaning: -z (--input-data zero), "+
		"-t N, -c N, -d (deprecated: --concurrency-range N:M), %s (the last ones are ignored for the triton kind, as by "+
		"perf_analyzer). Not implemented yet, refused with a one-line reason: %s.",
		strings.Join(accepted, ", "), strings.Join(refused, ", "))
}

// deprecatedConcurrency is perf_analyzer's old concurrency setting, mapped
// as perf_analyzer maps it: -t N is the start (default 1); -c M the end;
// -d alone sweeps up to -c, whose default 0 is open-ended (needs -l).
// perfgo also takes -c without -d as the end, where perf_analyzer ignores
// it, since a user who wrote -c meant a maximum.
type deprecatedConcurrency struct {
	start, max int
	dynamic    bool
}

var deprecatedNames = []string{"concurrent-request-count", "max-concurrency", "dynamic-concurrency"}

func (d *deprecatedConcurrency) bind(fs *pflag.FlagSet) {
	fs.IntVarP(&d.start, deprecatedNames[0], "t", 1, "perf_analyzer's deprecated -t: the concurrency (range start)")
	fs.IntVarP(&d.max, deprecatedNames[1], "c", 0, "perf_analyzer's deprecated -c: the highest concurrency (range end)")
	fs.BoolVarP(&d.dynamic, deprecatedNames[2], "d", false, "perf_analyzer's deprecated -d: sweep from -t up to -c")
}

// given says whether any of -t, -c, -d is on the command line.
func (d *deprecatedConcurrency) given(fs *pflag.FlagSet) bool {
	return slices.ContainsFunc(deprecatedNames, fs.Changed)
}

// rangeValue is the --concurrency-range the deprecated options stand for.
func (d *deprecatedConcurrency) rangeValue(fs *pflag.FlagSet) string {
	end := d.start
	switch {
	case fs.Changed(deprecatedNames[1]):
		end = d.max
	case d.dynamic:
		end = 0
	}
	return fmt.Sprintf("%d:%d", d.start, end)
}
