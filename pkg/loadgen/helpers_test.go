package loadgen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// call is one request a fake server saw.
type call struct {
	worker     int
	start, end time.Time
	ctxErr     error // the request context's error when the request ended
}

// fakeServer serves fake Callers on the synctest clock: each request
// sleeps its service time. It records every call.
type fakeServer struct {
	// service returns the service time of the n-th call (from 0) of worker w.
	service func(w, n int) time.Duration
	// fail, when set, returns the error of the n-th call overall.
	fail func(n int) error
	// sem, when set, serialises service: a single-server queue.
	sem chan struct{}
	// stall, when set, says the n-th call overall is never answered: it
	// waits for its context and fails as the client does when cancelled.
	stall func(n int) bool

	inflight atomic.Int32

	mu    sync.Mutex
	calls []call
	n     int
	ok    uint64 // successful calls, for fake server statistics
}

func (s *fakeServer) newCaller(w int) (Caller, error) { return &fakeCaller{s: s, w: w}, nil }

func (s *fakeServer) all() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

type fakeCaller struct {
	s *fakeServer
	w int
	n int
}

func (c *fakeCaller) Do(ctx context.Context) (client.Timing, error) {
	s := c.s
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	start := time.Now()
	s.mu.Lock()
	idx := s.n
	s.n++
	s.mu.Unlock()
	d := s.service(c.w, c.n)
	c.n++
	if s.stall != nil && s.stall(idx) {
		<-ctx.Done()
		end := time.Now()
		s.mu.Lock()
		s.calls = append(s.calls, call{worker: c.w, start: start, end: end, ctxErr: ctx.Err()})
		s.mu.Unlock()
		return client.Timing{Total: end.Sub(start)}, &client.Error{Op: "infer", Kind: context.Canceled, Class: "cancelled", Err: ctx.Err()}
	}
	if s.sem != nil {
		s.sem <- struct{}{}
	}
	time.Sleep(d)
	if s.sem != nil {
		<-s.sem
	}
	var err error
	if s.fail != nil {
		err = s.fail(idx)
	}
	end := time.Now()
	s.mu.Lock()
	s.calls = append(s.calls, call{worker: c.w, start: start, end: end, ctxErr: ctx.Err()})
	if err == nil {
		s.ok++
	}
	s.mu.Unlock()
	total := end.Sub(start)
	return client.Timing{Send: total / 10, Recv: total / 20, Total: total}, err
}

func constService(d time.Duration) func(int, int) time.Duration {
	return func(int, int) time.Duration { return d }
}

// events records what an Observer is told.
type events struct {
	mu      sync.Mutex
	starts  []float64
	windows [][]WindowSummary // per level
	ends    []error
	warns   []string
	// onStart, when set, runs at each LevelStart.
	onStart func(v float64)
}

func (o *events) LevelStart(_ result.Mode, v float64) {
	o.mu.Lock()
	o.starts = append(o.starts, v)
	o.windows = append(o.windows, nil)
	f := o.onStart
	o.mu.Unlock()
	if f != nil {
		f(v)
	}
}

func (o *events) Window(pass int, w WindowSummary) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := len(o.windows) - 1
	o.windows[i] = append(o.windows[i], w)
}

func (o *events) LevelEnd(_ result.Level, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ends = append(o.ends, err)
}

func (o *events) Warn(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.warns = append(o.warns, msg)
}

// baseOptions is a single concurrency level with 100 ms windows.
func baseOptions(s *fakeServer, n float64) Options {
	return Options{
		Mode:                result.Concurrency,
		Start:               n,
		End:                 n,
		MeasurementInterval: 100 * time.Millisecond,
		StabilityPercentage: 10,
		MaxTrials:           10,
		NewCaller:           s.newCaller,
	}
}

func stopReason(t *testing.T, err error) result.StopReason {
	t.Helper()
	var se *StopError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *StopError", err, err)
	}
	return se.Reason
}

func values(levels []result.Level) []float64 {
	var vs []float64
	for _, l := range levels {
		vs = append(vs, l.Value)
	}
	return vs
}
