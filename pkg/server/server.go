// Package server is perfgo's reference KServe v2 / Open Inference Protocol
// server: HTTP/REST (with Triton's binary tensor extension), gRPC
// (inference.GRPCInferenceService) and Prometheus metrics over one core that
// runs a handful of built-in models and keeps Triton-style statistics.
//
// Models (all version "1", platform and backend "perfgo"):
//   - identity: FP32 INPUT0 [-1] -> OUTPUT0, batching up to 8, inline; the
//     request parameters come back as response parameters.
//   - identity_<type> for every datatype (identity_bool ... identity_bytes).
//   - simple: Triton's example; INT32 INPUT0, INPUT1 [16] -> OUTPUT0 = sum,
//     OUTPUT1 = difference, batching up to 8, inline.
//   - delay: FP32 INPUT0 [-1] -> OUTPUT0 after a configured service time, on
//     a fixed number of instances behind a real queue, optionally with
//     dynamic batching (see DelayOptions).
//   - With Options.ResponseCache, the identity models answer repeated
//     requests from a response cache (cache_hit / cache_miss statistics).
//   - ensemble: Triton's ensemble platform; FP32 INPUT0 [-1] through
//     identity, then delay. Each step is a request to that model, which
//     keeps its own statistics (a client sees them as composing models);
//     the ensemble's queue and compute are the sums of its steps'.
//   - sequence: stateful; INT32 INPUT [1] -> OUTPUT, the running sum of the
//     sequence named by the sequence_id parameter, with Triton's rules (a
//     request that is not a start needs an open sequence, a start on an
//     open sequence restarts it, idle sequences expire). Its config's
//     CORRID control is TYPE_UINT64; sequence_string is the same model
//     with a TYPE_STRING correlation id. Server.Sequences and the
//     perfgo_sequence_* metrics report requests per id, open sequences,
//     expirations and serial violations (Options.SequenceHold).
//   - repeat: decoupled; INT32 IN [-1] -> one response per value (OUT,
//     IDX) over gRPC ModelStreamInfer only.
//   - generate: decoupled LLM stand-in; BYTES text_input [1] -> one BYTES
//     text_output token per response, timed by GenerateOptions; request
//     parameter max_tokens (or an INT32 max_tokens input); stream=false
//     gives one response with every token. Over gRPC ModelStreamInfer or
//     HTTP's generate extension (see http_generate.go).
//
// "Inline" models run in the request's goroutine: no queue, no instance
// limit, so they measure the transport rather than a scheduler.
//
// Server metadata lists the extensions implemented: binary_tensor_data,
// statistics, model_configuration (not with Options.HideModelConfig),
// sequence and system_shared_memory (see shm.go; regions are unregistered
// at shutdown). The repository index is served but load/unload are not, so
// model_repository is not listed; CUDA shared memory, tracing, logging
// settings and classification answer 501 / codes.Unimplemented with a
// message. The generate extension is served (for every model whose inputs
// JSON can give) but not listed: Triton calls it provisional.
//
// Where perfgo serve knowingly differs from Triton:
//   - System shared memory is always allowed (Triton needs
//     --allow-client-shm=true); a key it cannot open is INVALID_ARGUMENT
//     (Triton: INTERNAL); shared-memory inputs are copied, not read in place.
//   - JSON request data may be FP16/BF16 (converted); Triton refuses it.
//   - Request bodies may be gzip or deflate encoded; responses are never
//     compressed (Accept-Encoding is ignored), so a Go client's default
//     "Accept-Encoding: gzip" costs nothing.
//   - Every decoupled response carries triton_final_response (false until
//     the last); with triton_enable_empty_final_response the last is an
//     empty response marked true. A repeat request with no values and
//     without that parameter gets no response at all, as with Triton.
//   - A request that fails decoding or validation for a known model counts
//     in that model's fail statistic; unknown models count nowhere.
//   - A decoupled model answers HTTP /generate when it sends exactly one
//     response (generate does with "stream": false); a second one fails
//     the request ("expected a single response"). Some Triton releases
//     refuse decoupled models on /generate outright (501).
//   - The sequence model takes string correlation ids too, although its
//     CORRID control says TYPE_UINT64 (Triton would refuse them);
//     sequence_string refuses numeric ones.
//   - nv_inference_pending_request_count counts requests waiting for an
//     instance of the delay model (inline models never wait).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed gRPC requests, as Triton does
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/sysconn"
)

// Default listen addresses: Triton's ports, on loopback only.
const (
	DefaultHTTPAddr    = "127.0.0.1:8000"
	DefaultGRPCAddr    = "127.0.0.1:8001"
	DefaultMetricsAddr = "127.0.0.1:8002"
)

// Options configure a Server. The zero value is not useful for addresses:
// use DefaultOptions and change what differs.
type Options struct {
	// HTTPAddr, GRPCAddr and MetricsAddr are listen addresses; "" disables
	// that listener and a port of 0 picks a free one (see HTTPAddr()).
	HTTPAddr, GRPCAddr, MetricsAddr string
	// Delay configures the delay model.
	Delay DelayOptions
	// Name and Version are reported by server metadata; defaults "perfgo"
	// and "dev".
	Name, Version string
	// MaxRequestBytes bounds one request body or gRPC message; default 64 MiB.
	MaxRequestBytes int
	// StreamInFlight bounds how many requests of one gRPC stream run at once;
	// default 256.
	StreamInFlight int
	// MaxSequences bounds live sequences of the sequence model; default 4096.
	MaxSequences int
	// SequenceIdle ends a sequence unused for this long (its next
	// non-start request fails); default 5s, reported as the model's
	// max_sequence_idle_microseconds.
	SequenceIdle time.Duration
	// SequenceHold is how long each request of the sequence models keeps
	// its sequence busy (default 0), so that a client sending a
	// sequence's requests without waiting shows as serial violations
	// (see Sequences).
	SequenceHold time.Duration
	// Generate configures the generate model.
	Generate GenerateOptions
	// Logger receives lifecycle messages; nil means discard.
	Logger *slog.Logger
	// HideModelConfig makes the server look like one without the
	// model_configuration extension, as KServe's and MLServer's model
	// servers are: the extension is not listed, HTTP .../config answers
	// 404 without a v2 error body and gRPC ModelConfig Unimplemented.
	HideModelConfig bool
	// ResponseCache enables Triton's response cache on the identity
	// models: a request equal to an earlier one (inputs and requested
	// outputs) is answered from the cache, counted as a cache hit and not
	// computed. Each model's cache holds up to 64 MiB.
	ResponseCache bool
	// GPUs are synthetic GPUs whose gauges the metrics endpoint exports
	// (nv_gpu_utilization, nv_gpu_power_usage, nv_gpu_memory_used_bytes,
	// nv_gpu_memory_total_bytes, label gpu_uuid), as Triton does for real
	// ones.
	GPUs []GPU
}

// DelayOptions configure the delay model.
type DelayOptions struct {
	// ServiceTime is the mean compute time of one execution; default 2ms.
	// An execution costs the same whatever its batch size, as on a GPU with
	// room to spare, so batching raises throughput.
	ServiceTime time.Duration
	// Distribution of service times: "fixed" (default), "exponential",
	// "uniform" (mean ±50%) or "lognormal" (sigma 0.5). Each instance has
	// its own seeded generator.
	Distribution string
	// Seed seeds the instances' generators (instance i uses Seed+i).
	Seed uint64
	// Instances is the number of model instances executing in parallel;
	// default 1.
	Instances int
	// MaxBatchSize is the model's max_batch_size; default 8.
	MaxBatchSize int
	// DynamicBatching lets an instance take queued requests up to
	// MaxBatchSize batch elements per execution.
	DynamicBatching bool
	// MaxQueueDelay is how long an instance holding a partial batch waits
	// for more requests (dynamic batching only); default 0: take what is
	// queued and go.
	MaxQueueDelay time.Duration
}

// DefaultOptions returns options with Triton's loopback ports and the
// defaults documented on each field.
func DefaultOptions() Options {
	return Options{HTTPAddr: DefaultHTTPAddr, GRPCAddr: DefaultGRPCAddr, MetricsAddr: DefaultMetricsAddr}
}

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = "perfgo"
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = 64 << 20
	}
	if o.StreamInFlight == 0 {
		o.StreamInFlight = 256
	}
	if o.MaxSequences == 0 {
		o.MaxSequences = 4096
	}
	if o.SequenceIdle == 0 {
		o.SequenceIdle = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.MaxRequestBytes < 0:
		return o, fmt.Errorf("max request bytes is %d; it must be positive", o.MaxRequestBytes)
	case o.StreamInFlight < 0:
		return o, fmt.Errorf("stream in-flight limit is %d; it must be positive", o.StreamInFlight)
	case o.MaxSequences < 0:
		return o, fmt.Errorf("max sequences is %d; it must be positive", o.MaxSequences)
	case o.SequenceIdle < 0:
		return o, fmt.Errorf("sequence idle timeout is %v; it must be positive", o.SequenceIdle)
	case o.SequenceHold < 0:
		return o, fmt.Errorf("sequence hold time is %v; it must be 0 or positive", o.SequenceHold)
	}
	for i, g := range o.GPUs {
		if g.UUID == "" || len(g.Utilization) == 0 || len(g.MemoryUsedBytes) == 0 {
			return o, fmt.Errorf("GPU %q needs a UUID, a utilization and a used memory", g.UUID)
		}
		if slices.ContainsFunc(o.GPUs[:i], func(h GPU) bool { return h.UUID == g.UUID }) {
			return o, fmt.Errorf("GPU %q is given twice; each GPU needs its own UUID", g.UUID)
		}
	}
	g, err := o.Generate.withDefaults()
	if err != nil {
		return o, err
	}
	o.Generate = g
	d, err := o.Delay.withDefaults()
	o.Delay = d
	return o, err
}

func (d DelayOptions) withDefaults() (DelayOptions, error) {
	if d.ServiceTime == 0 {
		d.ServiceTime = 2 * time.Millisecond
	}
	if d.Distribution == "" {
		d.Distribution = "fixed"
	}
	if d.Instances == 0 {
		d.Instances = 1
	}
	if d.MaxBatchSize == 0 {
		d.MaxBatchSize = 8
	}
	switch {
	case d.ServiceTime < 0:
		return d, fmt.Errorf("delay service time is %v; it must be positive", d.ServiceTime)
	case d.Instances < 0 || d.Instances > 1024:
		return d, fmt.Errorf("delay instances is %d; use 1 to 1024", d.Instances)
	case d.MaxBatchSize < 0 || d.MaxBatchSize > 1<<16:
		return d, fmt.Errorf("delay max batch size is %d; use 1 to 65536", d.MaxBatchSize)
	case d.MaxQueueDelay < 0:
		return d, fmt.Errorf("delay max queue delay is %v; it must be 0 or positive", d.MaxQueueDelay)
	}
	if _, err := newServiceTimes(d.Distribution, d.ServiceTime, 0); err != nil {
		return d, err
	}
	return d, nil
}

// serverMeta is the server metadata response.
type serverMeta struct {
	name, version string
	extensions    []string
	// noConfig: the model configuration endpoints act as absent
	// (Options.HideModelConfig).
	noConfig bool
}

func (m *serverMeta) proto() *inferencepb.ServerMetadataResponse {
	return &inferencepb.ServerMetadataResponse{Name: m.name, Version: m.version, Extensions: m.extensions}
}

// Server is the reference v2 server. Create it with New, then Start it and
// finally Shutdown.
type Server struct {
	opts  Options
	core  *core
	meta  *serverMeta
	delay *delayBackend

	httpSrv, metricsSrv *http.Server
	grpcSrv             *grpc.Server
	health              *health.Server
	httpLn, grpcLn      net.Listener
	metricsLn           net.Listener

	// coreCancel stops the model instances; group owns every goroutine.
	coreCancel context.CancelFunc
	group      *errgroup.Group
	started    bool
	stopOnce   sync.Once
	stopErr    error
}

// New builds a server and its models; nothing listens until Start.
func New(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("server options: %w", err)
	}
	delay := newDelayBackend(opts.Delay)
	models := identityModels(opts.ResponseCache)
	delayModel := delay.model()
	ensemble, steps := ensembleModel(models[0], delayModel)
	models = append(models, simpleModel(), delayModel, ensemble, sequenceModel("sequence", false, opts), sequenceModel("sequence_string", true, opts),
		repeatModel(), generateModel(opts.Generate))
	extensions := []string{"binary_tensor_data", "statistics", "model_configuration", "sequence", "system_shared_memory"}
	if opts.HideModelConfig {
		extensions = slices.DeleteFunc(extensions, func(e string) bool { return e == "model_configuration" })
	}
	s := &Server{
		opts:  opts,
		core:  newCore(models),
		delay: delay,
		meta:  &serverMeta{name: opts.Name, version: opts.Version, extensions: extensions, noConfig: opts.HideModelConfig},
	}
	steps.infer = s.core.infer
	return s, nil
}

// Start binds every configured listener (so the addresses are known when it
// returns) and serves in goroutines the server owns until Shutdown. ctx
// bounds only the start itself.
func (s *Server) Start(ctx context.Context) error {
	if s.started {
		return errors.New("server already started; create a new one with New")
	}
	var lc net.ListenConfig
	listen := func(what, addr string) (net.Listener, error) {
		if addr == "" {
			return nil, nil
		}
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen for %s on %s: %w (is another server using the port? pick another address)", what, addr, err)
		}
		return sysconn.Listener(ln), nil
	}
	var err error
	closeAll := func() {
		for _, ln := range []*net.Listener{&s.httpLn, &s.grpcLn, &s.metricsLn} {
			if *ln != nil {
				_ = (*ln).Close()
				*ln = nil
			}
		}
	}
	if s.httpLn, err = listen("HTTP", s.opts.HTTPAddr); err != nil {
		return err
	}
	if s.grpcLn, err = listen("gRPC", s.opts.GRPCAddr); err != nil {
		closeAll()
		return err
	}
	if s.metricsLn, err = listen("metrics", s.opts.MetricsAddr); err != nil {
		closeAll()
		return err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(newMetricsCollector(s.core)); err != nil {
		closeAll()
		return fmt.Errorf("register metrics: %w", err)
	}
	if len(s.opts.GPUs) > 0 {
		if err := reg.Register(newGPUCollector(s.opts.GPUs)); err != nil {
			closeAll()
			return fmt.Errorf("register GPU metrics: %w", err)
		}
	}
	s.started = true

	coreCtx, cancel := context.WithCancel(context.Background())
	s.coreCancel = cancel
	s.group = &errgroup.Group{}
	s.delay.start(coreCtx, s.group)

	if s.httpLn != nil {
		s.httpSrv = &http.Server{
			Handler:           newHTTPFrontend(s.core, s.meta, int64(s.opts.MaxRequestBytes)),
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       5 * time.Minute,
		}
		s.serve("HTTP", func() error { return s.httpSrv.Serve(s.httpLn) })
	}
	if s.grpcLn != nil {
		s.grpcSrv = grpc.NewServer(
			grpc.MaxRecvMsgSize(s.opts.MaxRequestBytes),
			grpc.MaxSendMsgSize(s.opts.MaxRequestBytes),
			// A pool of stream goroutines instead of one new goroutine per
			// call: +8-10% requests/s with a connection per worker (see the
			// commit). A call that finds every worker busy still gets its own.
			grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		)
		inferencepb.RegisterGRPCInferenceServiceServer(s.grpcSrv, &grpcFrontend{core: s.core, meta: s.meta, streamInFlight: s.opts.StreamInFlight, final: newFinalParams()})
		s.health = health.NewServer()
		healthpb.RegisterHealthServer(s.grpcSrv, s.health)
		s.serve("gRPC", func() error { return s.grpcSrv.Serve(s.grpcLn) })
	}
	if s.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		s.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
		s.serve("metrics", func() error { return s.metricsSrv.Serve(s.metricsLn) })
	}
	s.core.ready.Store(true)
	s.opts.Logger.Info("perfgo serve started", "http", s.HTTPAddr(), "grpc", s.GRPCAddr(), "metrics", s.MetricsAddr())
	return nil
}

// serve runs one listener's loop; a normal close after Shutdown is not an error.
func (s *Server) serve(what string, run func() error) {
	s.group.Go(func() error {
		err := run()
		if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) || errors.Is(err, net.ErrClosed) {
			return nil
		}
		return fmt.Errorf("%s server: %w", what, err)
	})
}

// Shutdown stops accepting work, lets in-flight requests finish until ctx is
// done (then cuts them off), stops the model instances and waits for every
// goroutine the server started. It returns the serving errors, if any.
// Calling it again returns the same result. Start and Shutdown are meant to
// be called from one goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started {
		return nil
	}
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.core.ready.Store(false)
	if s.health != nil {
		s.health.Shutdown()
	}
	var errs []error
	// Past ctx, requests waiting in the delay model are failed (cancelling
	// the core) so that handlers return and the servers can stop.
	stopHTTP := func(srv *http.Server) {
		if srv == nil {
			return
		}
		if err := srv.Shutdown(ctx); err != nil {
			s.coreCancel()
			_ = srv.Close()
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				errs = append(errs, err)
			}
		}
	}
	stopHTTP(s.httpSrv)
	stopHTTP(s.metricsSrv)
	if s.grpcSrv != nil {
		done := make(chan struct{})
		go func() { // owned here: we wait on done, or Stop makes it return
			s.grpcSrv.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.coreCancel()
			s.grpcSrv.Stop()
			<-done
		}
	}
	s.coreCancel()
	if err := s.group.Wait(); err != nil {
		errs = append(errs, err)
	}
	if err := s.core.shm.unregister(""); err != nil {
		errs = append(errs, err)
	}
	s.opts.Logger.Info("perfgo serve stopped")
	return errors.Join(errs...)
}

// HTTPAddr is the bound HTTP address ("" when disabled).
func (s *Server) HTTPAddr() string { return addr(s.httpLn) }

// GRPCAddr is the bound gRPC address ("" when disabled).
func (s *Server) GRPCAddr() string { return addr(s.grpcLn) }

// MetricsAddr is the bound metrics address ("" when disabled).
func (s *Server) MetricsAddr() string { return addr(s.metricsLn) }

func addr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Statistics returns a model's cumulative statistics, as the statistics
// extension reports them; "" returns every model's.
func (s *Server) Statistics(model string) (*inferencepb.ModelStatisticsResponse, error) {
	return s.core.statistics(model, "")
}

// Models lists the served model names, sorted.
func (s *Server) Models() []string { return append([]string(nil), s.core.names...) }

// Sequences returns what a stateful model (sequence, sequence_string) has
// seen: requests per sequence id, open sequences (idle ones are expired
// first), and the counts of starts, restarts, ends, expirations and serial
// violations. ok is false for a model that is not stateful.
func (s *Server) Sequences(model string) (stats SequenceStats, ok bool) {
	m, found := s.core.models[model]
	if !found {
		return SequenceStats{}, false
	}
	b, ok := m.backend.(*sequenceBackend)
	if !ok {
		return SequenceStats{}, false
	}
	return b.snapshot(), true
}

// InFlight is the number of requests for model inside the server now
// (queued, executing or being answered); unknown models have none.
func (s *Server) InFlight(model string) int {
	m, ok := s.core.models[model]
	if !ok {
		return 0
	}
	return int(m.stats.inflight.Load())
}
