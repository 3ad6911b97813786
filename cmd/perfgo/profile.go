package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/htmlreport"
	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/inputs"
	"github.com/perfgo/perfgo/pkg/loadgen"
	"github.com/perfgo/perfgo/pkg/loadgen/schedule"
	"github.com/perfgo/perfgo/pkg/report"
	"github.com/perfgo/perfgo/pkg/result"
	"github.com/perfgo/perfgo/pkg/slo"
)

// profile runs one perf_analyzer-style profile: discover the model, sweep,
// print and write the reports. Whatever was measured is printed and written
// even when the run stops early (Ctrl-C, dead server, unstable level).
func profile(ctx context.Context, o *profileOptions, stdout, stderr io.Writer) (err error) {
	// A report path that cannot be written fails now, not after the sweep.
	out, err := openOutputs(o)
	if err != nil {
		return err
	}
	defer func() {
		// A run that ended before its first level still writes its
		// reports: they say why (a CI job reads the JSON's stop reason).
		if out.pending() {
			run := result.Run{Settings: o.flagSettings(), Stop: result.StopError}
			if err != nil {
				run.StopMessage = err.Error()
			}
			if ctx.Err() != nil {
				run.Stop = result.StopCancelled
			}
			if werr := out.writeFiles(run, o); werr != nil {
				fmt.Fprintf(stderr, "Error: %v\n", werr)
			}
		}
	}()
	defer func() {
		// Ctrl-C while connecting or discovering is an interruption, not
		// a server failure.
		if err != nil && ctx.Err() != nil {
			if _, ok := errors.AsType[*exitErr](err); !ok {
				err = &exitErr{code: exitInterrupted, err: fmt.Errorf("interrupted before the first level: %w", err)}
			}
		}
	}()
	if os.Getenv("GOGC") == "" {
		// Loading data files makes a lot of short-lived garbage (the file
		// read whole, the encoding of every request): a tight collector
		// keeps the peak near what stays live. The load runs at gcPercent.
		defer debug.SetGCPercent(debug.SetGCPercent(setupGCPercent))
	}
	workers := int(max(o.Load.Start, o.Load.End))
	if o.Load.Mode != "concurrency" {
		workers = o.MaxThreads
	}
	copts := client.Options{
		Protocol:    client.Protocol(o.Protocol),
		URL:         o.URL,
		Workers:     workers,
		Connections: o.Connections,
		Headers:     o.Headers,
		Timeout:     o.Timeout,
		// Every control call has its own deadline, so a frozen server is
		// reported instead of hanging the command.
		ControlTimeout:     o.ControlTimeout,
		MaxResponseSize:    o.MaxResponseSize,
		InputTensorFormat:  o.InputTensorFormat,
		OutputTensorFormat: o.OutputTensorFormat,
		GRPCCompression:    o.GRPCCompression,
		TLS: client.TLSOptions{
			GRPCUseSSL:          o.SSLGRPCUseSSL,
			GRPCRootCerts:       o.SSLGRPCRoots,
			GRPCPrivateKey:      o.SSLGRPCKey,
			GRPCCertChain:       o.SSLGRPCCert,
			HTTPSSkipVerifyPeer: o.SSLHTTPSVerifyPeer == 0,
			HTTPSSkipVerifyHost: o.SSLHTTPSVerifyHost == 0,
			HTTPSCAFile:         o.SSLHTTPSCA,
			HTTPSClientCert:     o.SSLHTTPSCert,
			HTTPSClientKey:      o.SSLHTTPSKey,
			HTTPSClientCertType: o.SSLHTTPSCertType,
			HTTPSClientKeyType:  o.SSLHTTPSKeyType,
		},
	}
	cl, err := client.New(ctx, copts)
	if err != nil {
		return serverError(o, "connect", err)
	}
	defer cl.Close()
	// Discovery and the statistics snapshots at window edges get a
	// connection of their own: queued behind the load's requests, a
	// snapshot would arrive late and skew the server's per-window counts.
	copts.Workers, copts.Connections = 1, 1
	control, err := client.New(ctx, copts)
	if err != nil {
		return serverError(o, "connect", err)
	}
	defer control.Close()

	target, err := discover(ctx, control, o, stderr)
	if err != nil {
		return err
	}
	if target.data != nil {
		if s := target.data.Summary(); s != "" {
			fmt.Fprintln(stdout, s) // perf_analyzer prints it before the settings, for JSON data
		}
	}
	if o.SharedMemory == "system" {
		regions, err := o.placeInSharedMemory(ctx, control, target)
		// Deferred before the clients' Close: runs on every way out.
		defer regions.release(ctx, o.ControlTimeout, stderr)
		if err != nil {
			return err
		}
	}
	obs := &printer{stdout: stdout, stderr: stderr, verbose: o.Verbose > 0}
	observer, collecting, err := o.startMetrics(ctx, obs)
	if err != nil {
		return err
	}
	if collecting != nil {
		defer collecting.close() // on every way out
	}
	if out.hdr != nil {
		observer = observers{observer, out.hdr}
	}
	progress := newProgressLine(observer, stderr, o, os.Getenv("CI"))
	if progress != nil {
		observer = progress
	}
	lopts, err := o.loadgenOptions(target, cl, control, observer)
	if err != nil {
		return err
	}
	lopts.WindowHistograms = out.hdr != nil
	if out.export != nil {
		lopts.Export = out.export.start(target.exportRequests())
	}
	settings, err := loadgen.Settings(lopts)
	if err != nil {
		return err
	}
	settings = target.complete(settings, o)
	// Now that discovery says whether requests stream: an SLO on stream
	// figures is refused before the load, not failed after it.
	if err := slo.Check(o.SLOs, settings); err != nil {
		return &usageErr{err.Error()}
	}
	obs.settings = settings
	if err := report.Header(stdout, settings); err != nil {
		return err
	}
	if o.WarmupRequestCount > 0 && o.Load.Mode == "concurrency" {
		// perf_analyzer announces the warm-up level like a measured one.
		if err := report.LevelStart(stdout, settings, min(o.Load.Start, float64(o.WarmupRequestCount))); err != nil {
			return err
		}
	}

	// The requests are encoded: data files' bytes and decoded tensors are
	// garbage. Return them before the load.
	target.data, target.requests = nil, nil
	if os.Getenv("GOGC") == "" {
		debug.FreeOSMemory() // collects, so HeapAlloc is what stays live
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		debug.SetGCPercent(loadGCPercent(ms.HeapAlloc))
	}
	if out.hdr != nil {
		out.hdr.begin(time.Now())
	}
	if progress != nil {
		progress.start(time.Now())
	}
	run, runErr := loadgen.Run(ctx, lopts)
	if progress != nil {
		progress.close()
	}
	if out.export != nil {
		// Every request has returned: the export can end now, and say
		// what it left out before the summary.
		if err := out.export.close(); err != nil {
			obs.Warn(err.Error())
		}
		if w := out.export.warning(); w != "" {
			obs.Warn(w)
		}
	}
	if collecting != nil {
		collecting.finish(&run)
	}
	run.Settings = target.complete(run.Settings, o)
	for _, c := range run.DrainedFailures {
		if c.Class == "cancelled" {
			obs.Warn(fmt.Sprintf("%d requests still in flight when a level or the run ended were cancelled after the %v drain timeout; they are in no level's figures", c.Count, run.Settings.DrainTimeout))
		}
	}
	runExit := exitFor(run, runErr, obs.told)
	if err := out.write(run, o, stdout); err != nil {
		if runExit != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return runExit
		}
		return err
	}
	// The gate is judged on what was measured whatever stopped the run,
	// but the run's own exit code (2, 3, 4, 99, 130) comes first.
	gate := sloGate(run, stderr)
	if runExit != nil {
		return runExit
	}
	return gate
}

// sloGate judges the run on its SLOs: a miss prints one line on stderr
// and is exit code 5.
func sloGate(run result.Run, stderr io.Writer) error {
	v, ok, err := slo.JudgeRun(run)
	if err != nil || !ok || v.Pass {
		return err // err: the settings' SLOs came from parsed flags, so it cannot happen
	}
	msg := "SLO missed: " + v.Missed()
	fmt.Fprintln(stderr, "perfgo: "+msg)
	return &exitErr{code: exitGate, err: errors.New(msg), shown: true}
}

// target is what discovery learned about the server and the model.
type target struct {
	serverStats bool
	model       inputs.Model
	tensors     []client.Tensor
	outputs     []string
	// outputParams place outputs in shared memory (--shared-memory system).
	outputParams map[string]map[string]any
	// data and requests are the user's data files, when given.
	data     *inputs.DataSet
	requests []inputs.Request
	// streaming: requests go on streams (--streaming, or a decoupled model).
	streaming bool
	// sequence is set for a stateful model; spans place its data streams
	// among requests.
	sequence *sequenceModel
	spans    []streamSpan
	// composing are the models whose statistics are shown under the
	// profiled one's: an ensemble's steps and --bls-composing-models.
	composing []loadgen.ComposingModel
}

// sequenceModel is what discovery learned about a stateful model.
type sequenceModel struct {
	stringID bool // its correlation id (sequence_id) is a string
}

// stringCorrelationID reports whether a sequence model's correlation id
// control is a string (Triton's CONTROL_SEQUENCE_CORRID of TYPE_STRING);
// otherwise it is a uint64.
func stringCorrelationID(sb *inferencepb.ModelSequenceBatching) bool {
	for _, in := range sb.GetControlInput() {
		for _, c := range in.GetControl() {
			if c.GetKind() == inferencepb.ModelSequenceBatching_Control_CONTROL_SEQUENCE_CORRID {
				return c.GetDataType() == inferencepb.DataType_TYPE_STRING
			}
		}
	}
	return false
}

// complete adds to the engine's settings what only the CLI knows.
func (t *target) complete(s result.Settings, o *profileOptions) result.Settings {
	s = o.completeSettings(s)
	s.ServerStats = t.serverStats
	s.Decoupled = t.model.Config.GetModelTransactionPolicy().GetDecoupled()
	// perf_analyzer uses its asynchronous API on streams and for sequence
	// models unless --sync: so says the header.
	s.Async = o.Async || ((t.streaming || t.sequence != nil) && !o.Sync)
	s.ResponseCache = t.model.Config.GetResponseCache().GetEnable()
	s.NoModelConfig = t.model.Config == nil
	return s
}

// completeSettings adds to the engine's settings what the flags alone say.
func (o *profileOptions) completeSettings(s result.Settings) result.Settings {
	s.Protocol = o.Protocol
	s.URL = o.URL
	s.ServiceKind = "TRITON"
	// Each perfgo worker keeps one request outstanding, which is what
	// perf_analyzer calls synchronous mode; --async only changes the label.
	s.Async = o.Async
	s.RequestTimeout = o.Timeout
	for _, obj := range o.SLOs {
		s.SLOs = append(s.SLOs, obj.String())
	}
	if len(s.SLOs) > 0 {
		s.SLOMode = string(o.SLOMode)
	}
	s.Metrics = o.Metrics.settings()
	return s
}

// discover checks the server and the model and builds the request inputs.
// Every failure names the problem and what to do about it.
func discover(ctx context.Context, cl client.Client, o *profileOptions, stderr io.Writer) (*target, error) {
	// Each call is bounded by ControlTimeout in the client; the whole
	// discovery by a few of them.
	cctx, cancel := context.WithTimeout(ctx, 4*o.ControlTimeout)
	defer cancel()
	where := fmt.Sprintf("%s (%s)", o.URL, o.Protocol)
	meta, err := cl.ServerMetadata(cctx)
	if err != nil {
		return nil, serverError(o, "server metadata", err)
	}
	t := &target{serverStats: slices.Contains(meta.GetExtensions(), "statistics")}
	ready, err := cl.ModelReady(cctx, o.Model, o.Version)
	switch {
	case errors.Is(err, client.ErrModelNotFound) || (err == nil && !ready && modelMissing(cctx, cl, o)):
		return nil, fmt.Errorf("model %q%s is not on the server at %s; check -m/-x (the server's repository index lists its models)", o.Model, versionSuffix(o.Version), where)
	case err != nil:
		return nil, fmt.Errorf("model %q readiness from %s: %w", o.Model, where, err)
	case !ready:
		return nil, fmt.Errorf("model %q%s is not ready on %s; wait until it has loaded", o.Model, versionSuffix(o.Version), where)
	}
	md, err := cl.ModelMetadata(cctx, o.Model, o.Version)
	if err != nil {
		return nil, fmt.Errorf("model %q metadata from %s: %w", o.Model, where, err)
	}
	cfg, err := cl.ModelConfig(cctx, o.Model, o.Version)
	if err != nil {
		if !errors.Is(err, client.ErrUnsupported) {
			return nil, fmt.Errorf("model %q configuration from %s: %w", o.Model, where, err)
		}
		fmt.Fprintln(stderr, "warning: the server gives no model configuration: the leading -1 of each input is taken as the batch dimension (-b N fills it)")
		cfg = nil
	}
	t.model = inputs.Model{Metadata: md, Config: cfg}
	if t.composing, err = ensembleSteps(cctx, cl, cfg, 0); err != nil {
		return nil, err
	}
	t.composing = append(t.composing, o.BLSComposing...)
	// A decoupled model answers on streams only: its requests go on them
	// without --streaming (perf_analyzer demands the flag).
	t.streaming = o.Streaming || cfg.GetModelTransactionPolicy().GetDecoupled()
	if sb := cfg.GetSequenceBatching(); sb != nil {
		t.sequence = &sequenceModel{stringID: stringCorrelationID(sb)}
		if o.BatchSize > 1 {
			return nil, fmt.Errorf("model %q is stateful (sequence batching): each request is one step of a sequence, so -b %d is not allowed; use -b 1", o.Model, o.BatchSize)
		}
	}
	iopts := inputs.Options{
		BatchSize:    o.BatchSize,
		Data:         o.InputData,
		Shapes:       o.Shapes,
		StringLength: o.StringLength,
		StringData:   o.StringData,
		Seed:         uint64(o.Seed),
	}
	if len(o.DataPaths) > 0 {
		// The files give every input (variable dims per step), so
		// nothing is generated; each request is encoded once, here.
		t.data, err = inputs.LoadData(t.model, o.DataPaths, iopts)
		if err != nil {
			return nil, err
		}
		if t.requests, err = t.data.Requests(t.model, o.BatchSize); err != nil {
			return nil, err
		}
		t.spans = streamSpans(t.data)
		for _, out := range md.GetOutputs() {
			t.outputs = append(t.outputs, out.GetName())
		}
		return t, nil
	}
	t.tensors, t.outputs, err = inputs.Build(t.model, iopts)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// maxEnsembleDepth bounds how deep nested ensembles are followed (a
// server whose ensemble names itself must not loop).
const maxEnsembleDepth = 8

// ensembleSteps lists an ensemble's step models from its configuration,
// each with its own steps when it is an ensemble too; nil for a model that
// is not an ensemble. A model several steps use is listed once.
func ensembleSteps(ctx context.Context, cl client.Client, cfg *inferencepb.ModelConfig, depth int) ([]loadgen.ComposingModel, error) {
	steps := cfg.GetEnsembleScheduling().GetStep()
	if len(steps) == 0 {
		return nil, nil
	}
	if depth >= maxEnsembleDepth {
		return nil, fmt.Errorf("ensemble %q nests ensembles more than %d deep (does one name itself as a step?); fix the model repository", cfg.GetName(), maxEnsembleDepth)
	}
	var out []loadgen.ComposingModel
	for _, st := range steps {
		m := loadgen.ComposingModel{Name: st.GetModelName()}
		if v := st.GetModelVersion(); v > 0 { // -1: the latest
			m.Version = strconv.FormatInt(v, 10)
		}
		if slices.ContainsFunc(out, func(c loadgen.ComposingModel) bool { return c.Name == m.Name && c.Version == m.Version }) {
			continue
		}
		sub, err := cl.ModelConfig(ctx, m.Name, m.Version)
		if err != nil {
			return nil, fmt.Errorf("configuration of model %q, a step of ensemble %q: %w", m.Name, cfg.GetName(), err)
		}
		if m.Composing, err = ensembleSteps(ctx, cl, sub, depth+1); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// serverError explains a failure to talk to the server at all.
func serverError(o *profileOptions, what string, err error) error {
	if errors.Is(err, client.ErrUnreachable) || errors.Is(err, client.ErrTimeout) {
		return fmt.Errorf("cannot reach a v2 inference server at %s (%s): %w", o.URL, o.Protocol, err)
	}
	return fmt.Errorf("%s from %s (%s): %w", what, o.URL, o.Protocol, err)
}

// modelMissing tells a model that is not loaded from one that does not
// exist, for servers that answer "not ready" for unknown models.
func modelMissing(ctx context.Context, cl client.Client, o *profileOptions) bool {
	_, err := cl.ModelMetadata(ctx, o.Model, o.Version)
	return errors.Is(err, client.ErrModelNotFound)
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " version " + v
}

// loadgenOptions maps the flags onto the engine's options.
func (o *profileOptions) loadgenOptions(t *target, cl, control client.Client, obs loadgen.Observer) (loadgen.Options, error) {
	// Every request is encoded once and shared by the workers; each
	// worker cycles through them from its own starting point.
	reqs := t.exportRequests()
	prepare := cl.Prepare
	if t.streaming {
		sp, ok := cl.(client.StreamPreparer)
		if !ok {
			return loadgen.Options{}, fmt.Errorf("the %s client cannot send requests on streams", o.Protocol)
		}
		prepare = sp.PrepareStream
	}
	prepared := make([]client.Prepared, len(reqs))
	for i, r := range reqs {
		p, err := prepare(&client.InferRequest{Model: o.Model, Version: o.Version, Inputs: r.Inputs, Outputs: t.outputs, OutputParams: t.outputParams, Expected: r.Expected, Parameters: o.RequestParams})
		if err != nil {
			return loadgen.Options{}, fmt.Errorf("prepare request %d of %d: %w", i+1, len(reqs), err)
		}
		prepared[i] = p
	}
	lo := o.engineOptions()
	lo.NewCaller = func(worker int) (loadgen.Caller, error) {
		if len(prepared) == 1 {
			return prepared[0].NewCall()
		}
		c, err := client.Cycle(prepared, worker)
		if err != nil || t.sequence == nil {
			return c, err
		}
		return newSequenceData(c, t.spans, !o.sequenceLengthSet, uint64(worker)+uint64(o.Seed))
	}
	lo.Streaming = t.streaming
	if t.streaming {
		lo.StreamLatency = o.StreamLatency
	}
	if t.sequence != nil {
		lo.Sequences = o.sequenceOptions(t)
	}
	lo.Observer = obs
	if lo.Seed == 0 && o.Load.Mode == "request_rate" && o.Distribution == "poisson" {
		// Chosen here, not by the engine, so that the header can print it.
		lo.Seed = rand.Int64N(1<<53) + 1
	}
	if t.serverStats {
		lo.Stats = control
		lo.Composing = t.composing
	}
	if o.Load.Mode == "intervals" {
		f, err := os.Open(o.IntervalsFile)
		if err != nil {
			return lo, fmt.Errorf("--request-intervals: %w", err)
		}
		defer f.Close()
		lo.Intervals, err = schedule.ParseIntervals(f)
		if err != nil {
			return lo, fmt.Errorf("--request-intervals %s: %w", o.IntervalsFile, err)
		}
	}
	return lo, nil
}

// engineOptions maps the flags onto the engine's options; the run adds
// the requests, the observer and the server statistics.
func (o *profileOptions) engineOptions() loadgen.Options {
	lo := loadgen.Options{
		Mode:                    result.Mode(o.Load.Mode),
		Start:                   o.Load.Start,
		End:                     o.Load.End,
		Step:                    o.Load.Step,
		BinarySearch:            o.BinarySearch,
		BatchSize:               o.BatchSize,
		MeasurementMode:         o.MeasurementMode,
		MeasurementInterval:     time.Duration(o.MeasurementIntervalMs) * time.Millisecond,
		MeasurementRequestCount: o.MeasurementRequestCount,
		StabilityPercentage:     o.StabilityPercentage,
		MaxTrials:               o.MaxTrials,
		LatencyThreshold:        time.Duration(o.LatencyThresholdMs * float64(time.Millisecond)),
		RequestCount:            o.RequestCount,
		WarmupRequestCount:      o.WarmupRequestCount,
		Model:                   o.Model,
		Version:                 o.Version,
		Distribution:            o.Distribution,
		Seed:                    o.Seed,
		MaxInFlight:             o.MaxThreads,
		Abandon:                 o.abandon,
		DrainTimeout:            o.DrainTimeout,
		FailureLimit:            o.FailureLimit,
	}
	if lo.DrainTimeout == 0 {
		lo.DrainTimeout = -1 // --drain-timeout 0: cancel at once (the engine's 0 means its default)
	}
	if o.Percentile > 0 {
		lo.Percentile = o.Percentile
	}
	return lo
}

// printer streams perf_analyzer's stdout as the sweep goes, and its stderr
// lines when a level is not reported.
type printer struct {
	stdout, stderr io.Writer
	verbose        bool
	settings       result.Settings
	// told: why the run stopped is already on stderr.
	told bool
	// shown: the failure classes whose first error was printed.
	shown map[string]bool
}

var _ loadgen.Observer = (*printer)(nil)

func (p *printer) LevelStart(_ result.Mode, value float64) {
	_ = report.LevelStart(p.stdout, p.settings, value)
}

func (p *printer) Window(pass int, w loadgen.WindowSummary) {
	if !p.verbose {
		return
	}
	if w.Err != nil {
		_ = report.PassError(p.stdout, pass, w.Err)
		return
	}
	_ = report.Pass(p.stdout, p.settings, pass, w.Throughput, w.Latency, w.StdDev)
}

func (p *printer) LevelEnd(l result.Level, err error) {
	if err != nil {
		fmt.Fprintln(p.stderr, err.Error())
		p.told = true
		for _, f := range l.Failures {
			if f.First != "" && strings.Contains(err.Error(), f.First) {
				p.markShown(f.Class) // the line above quotes it already
			}
		}
		p.firstFailures(l)
		var stop *loadgen.StopError
		if !errors.As(err, &stop) || stop.Reason != result.StopCancelled || l.Windows == 0 {
			// A level that failed still shows its failures by class.
			_ = report.FailedLevel(p.stdout, p.settings, l)
			return
		}
		// An interrupted level's finished windows are reported (unstable).
	}
	p.firstFailures(l)
	_ = report.Level(p.stdout, p.settings, l, p.verbose)
}

func (p *printer) markShown(class string) {
	if p.shown == nil {
		p.shown = map[string]bool{}
	}
	p.shown[class] = true
}

// firstFailures shows the first error of each failure class once per
// run: the class counts say how many, this says why (and the error's
// hint says what to do, e.g. raise ulimit -n).
func (p *printer) firstFailures(l result.Level) {
	for _, f := range l.Failures {
		if f.First == "" || p.shown[f.Class] {
			continue
		}
		p.markShown(f.Class)
		fmt.Fprintf(p.stderr, "warning: %s %v: %d requests failed (%s); the first: %s\n", l.Mode, l.Value, f.Count, f.Class, f.First)
	}
}

func (p *printer) Warn(msg string) { fmt.Fprintln(p.stderr, "warning: "+msg) }

// outputs are the report files, opened before the first request so that
// a path that cannot be written is refused before anything is measured.
type outputs struct {
	files []*outputFile
	// hdr is --hdr-log's file, written as windows end; nil without it.
	hdr *hdrLog
	// export is --profile-export-file's, written as the run goes; nil without it.
	export *exportFile
}

type outputFile struct {
	flag, path string
	f          *os.File
	written    bool
	write      func(io.Writer, result.Run, *profileOptions) error
	// after, if set, writes the files that go beside this one.
	after func(path string, run result.Run) error
}

func openOutputs(o *profileOptions) (*outputs, error) {
	out := &outputs{}
	for _, spec := range []outputFile{
		{flag: "-f", path: o.CSVFile, write: func(w io.Writer, run result.Run, o *profileOptions) error {
			return report.CSV(w, run, report.CSVOptions{Verbose: o.VerboseCSV})
		}, after: writeComposingCSVs},
		{flag: "--json", path: o.JSONFile, write: func(w io.Writer, run result.Run, _ *profileOptions) error { return report.JSON(w, run) }},
		{flag: "--html", path: o.HTMLFile, write: func(w io.Writer, run result.Run, _ *profileOptions) error { return htmlreport.Write(w, run) }},
	} {
		if spec.path == "" {
			continue
		}
		f, err := openReport(spec.flag, spec.path)
		if err != nil {
			out.closeUnwritten()
			return nil, err
		}
		spec.f = f
		out.files = append(out.files, &spec)
	}
	if o.HDRLogFile != "" {
		f, err := openReport("--hdr-log", o.HDRLogFile)
		if err != nil {
			out.closeUnwritten()
			return nil, err
		}
		out.hdr = &hdrLog{path: o.HDRLogFile, f: f}
	}
	if o.ExportFile != "" {
		x, err := openExport(o.ExportFile)
		if err != nil {
			out.closeUnwritten()
			return nil, err
		}
		out.export = x
	}
	return out, nil
}

// openReport opens a report file for writing, not truncated yet: an
// earlier report survives bad flags.
func openReport(flag, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, usagef("%s %s: cannot write the report there (%v); give a path in a writable directory", flag, path, unwrapPath(err))
	}
	return f, nil
}

// closeUnwritten closes the files opened so far, leaving them as they were.
func (out *outputs) closeUnwritten() {
	for _, of := range out.files {
		_ = of.f.Close()
	}
	if out.hdr != nil {
		_ = out.hdr.f.Close()
	}
}

// unwrapPath drops the path from a *PathError: the message names it already.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err
	}
	return err
}

// write prints the summary and writes every report file, each on its
// own: one that fails does not keep the others from being written.
func (out *outputs) write(run result.Run, o *profileOptions, stdout io.Writer) error {
	var errs []error
	if err := report.Summary(stdout, run); err != nil {
		errs = append(errs, fmt.Errorf("print the summary: %w", err))
	}
	if err := writeSummaryTable(stdout, run, o.Summary); err != nil {
		errs = append(errs, fmt.Errorf("print the summary table: %w", err))
	}
	return errors.Join(append(errs, out.writeFiles(run, o))...)
}

// writeSummaryTable prints perfgo's table (and SLO verdict) after
// perf_analyzer's report, a blank line between, unless format is "none".
func writeSummaryTable(stdout io.Writer, run result.Run, format string) error {
	if format == "none" {
		return nil
	}
	var b bytes.Buffer
	if err := report.Table(&b, run, report.TableOptions{Format: format}); err != nil || b.Len() == 0 {
		return err
	}
	_, err := stdout.Write(append([]byte("\n"), b.Bytes()...))
	return err
}

// writeFiles writes every report file not written yet, each on its own.
func (out *outputs) writeFiles(run result.Run, o *profileOptions) error {
	var errs []error
	for _, of := range out.files {
		if of.written {
			continue
		}
		of.written = true
		err := of.f.Truncate(0)
		if err == nil {
			err = of.write(of.f, run, o)
		}
		if cerr := of.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("write report %s (%s): %w", of.path, of.flag, err))
		}
		if of.after != nil {
			errs = append(errs, of.after(of.path, run))
		}
	}
	if out.hdr != nil {
		errs = append(errs, out.hdr.close())
		out.hdr = nil
	}
	if out.export != nil {
		errs = append(errs, out.export.close())
	}
	return errors.Join(errs...)
}

// writeComposingCSVs writes perf_analyzer's CSV of each composing model
// beside the -f file.
func writeComposingCSVs(csvPath string, run result.Run) error {
	var errs []error
	for _, m := range report.ComposingModels(run) {
		path := report.ComposingFileName(csvPath, m)
		var b bytes.Buffer
		err := report.ComposingCSV(&b, run, m)
		if err == nil {
			err = os.WriteFile(path, b.Bytes(), 0o644)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("write the CSV of composing model %s version %s (%s): %w", m.Model, m.Version, path, err))
		}
	}
	return errors.Join(errs...)
}

// pending says some report file was opened and not written yet.
func (out *outputs) pending() bool {
	if out.hdr != nil || (out.export != nil && !out.export.closed) {
		return true
	}
	for _, of := range out.files {
		if !of.written {
			return true
		}
	}
	return false
}

// exitFor maps how the run ended onto perf_analyzer's exit codes.
func exitFor(run result.Run, runErr error, told bool) error {
	switch run.Stop {
	case result.StopCompleted, result.StopLatencyThreshold:
		return overFailureLimit(run)
	case result.StopUnstable:
		if len(run.Levels) > 0 {
			return overFailureLimit(run) // as perf_analyzer: a later level failing still reports the earlier ones
		}
		return &exitErr{code: exitUnstable, err: errors.New(run.StopMessage), shown: true}
	case result.StopNoValidRequests:
		return &exitErr{code: exitNoValidRequests, err: errors.New(run.StopMessage), shown: true}
	case result.StopCancelled:
		return &exitErr{code: exitInterrupted, err: errors.New(run.StopMessage), shown: told}
	}
	if runErr == nil {
		runErr = errors.New(run.StopMessage)
	}
	return &exitErr{code: exitError, err: runErr, shown: told}
}

// overFailureLimit is exit code 4 when a reported level had more failed
// requests than --failure-limit allows: its figures describe a failing
// server, and a CI gate must not pass on them.
func overFailureLimit(run result.Run) error {
	var over []string
	for _, l := range run.Levels {
		if l.OverFailureLimit {
			over = append(over, fmt.Sprintf("%s %v (%.2f%% of %d failed)", l.Mode, l.Value, l.Total.FailedPercent(), l.Total.Requests+l.Total.Failed))
		}
	}
	if len(over) == 0 {
		return nil
	}
	return &exitErr{code: exitFailures, err: fmt.Errorf("more than %v%% of the requests failed at %s (--failure-limit)", run.Settings.FailureLimit, strings.Join(over, ", "))}
}

// flagSettings are the settings the flags alone give, for the reports of
// a run that ended before the engine reported its own: the engine's view
// of the same options, without what discovery would have added.
func (o *profileOptions) flagSettings() result.Settings {
	lo := o.engineOptions()
	lo.NewCaller = func(int) (loadgen.Caller, error) { return nil, errors.New("no request was prepared") }
	if lo.Mode == result.Intervals {
		lo.Intervals = []time.Duration{time.Second} // not read yet; settings show no intervals
	}
	s, _ := loadgen.Settings(lo) // the flags were checked: it cannot fail
	return o.completeSettings(s)
}

// loadGCPercent is GOGC for the load, given the heap live once the
// requests are prepared: gcPercent, whose point is headroom for grpc-go's
// garbage between collections, but no more headroom than gcHeadroom or
// the live heap itself, so that large prepared data (a 92 MB data file
// leaves ~45 MB of encoded requests) does not let the heap grow to five
// times its size (peak RSS 265 MB instead of ~150 MB).
func loadGCPercent(live uint64) int {
	if live == 0 {
		return gcPercent
	}
	pct := int(max(live, gcHeadroom) * 100 / live)
	return min(max(pct, 100), gcPercent)
}
