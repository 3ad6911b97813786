package server

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// delayBackend is the delay model: a real queue in front of a fixed number
// of instances, each taking one request (or, with dynamic batching, up to
// MaxBatchSize batch elements) per execution and holding it for a service
// time. Throughput saturates at Instances × batch / ServiceTime and queue
// time grows past that, as on a real server.
type delayBackend struct {
	opts  DelayOptions
	queue chan *pending
	// exited is closed once every instance has returned; a request still
	// waiting then fails instead of waiting forever.
	exited chan struct{}
	free   sync.Pool // *pending, reused with its done channel
	m      *model
}

// pending is one queued request and the place its result goes.
type pending struct {
	r        *request
	res      *response
	pt       *phaseTimes
	enqueued time.Time
	err      error
	done     chan struct{} // capacity 1; signalled once per use
}

func newDelayBackend(opts DelayOptions) *delayBackend {
	d := &delayBackend{
		opts:   opts,
		queue:  make(chan *pending, 4096),
		exited: make(chan struct{}),
	}
	d.free.New = func() any { return &pending{done: make(chan struct{}, 1)} }
	return d
}

// model builds the delay model's description around this backend.
func (d *delayBackend) model() *model {
	spec := modelSpec{
		name:      "delay",
		maxBatch:  d.opts.MaxBatchSize,
		inputs:    []tensorSpec{{name: "INPUT0", dt: datatype.FP32, dims: []int64{-1}}},
		outputs:   []tensorSpec{{name: "OUTPUT0", dt: datatype.FP32, dims: []int64{-1}}},
		instances: instanceGroup("delay", d.opts.Instances),
		parameters: map[string]string{
			"service_time_us": strconv.FormatInt(d.opts.ServiceTime.Microseconds(), 10),
			"distribution":    d.opts.Distribution,
		},
	}
	if d.opts.DynamicBatching {
		spec.dynamic = &inferencepb.ModelDynamicBatching{MaxQueueDelayMicroseconds: uint64(d.opts.MaxQueueDelay.Microseconds())}
	}
	d.m = newModel(spec, d, nil)
	return d.m
}

// start runs the instances in g until ctx is cancelled.
func (d *delayBackend) start(ctx context.Context, g *errgroup.Group) {
	var wg sync.WaitGroup
	for i := range d.opts.Instances {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			d.instance(ctx, uint64(i))
			return nil
		})
	}
	g.Go(func() error {
		wg.Wait()
		close(d.exited)
		return nil
	})
}

func (d *delayBackend) execute(ctx context.Context, _ *model, r *request, pt *phaseTimes, res *response) error {
	p := d.free.Get().(*pending)
	p.r, p.res, p.pt, p.err, p.enqueued = r, res, pt, nil, time.Now()
	queued := &d.m.stats.queued
	queued.Add(1) // before the send: an instance may take it at once
	select {
	case d.queue <- p:
	case <-d.exited:
		queued.Add(-1)
		return errorf(kindUnavailable, "server is shutting down; retry on another server")
	case <-ctx.Done():
		queued.Add(-1)
		return errorf(kindUnavailable, "request cancelled while the delay model's queue was full: %v", ctx.Err())
	}
	select {
	case <-p.done:
		err := p.err
		*p = pending{done: p.done}
		d.free.Put(p)
		return err
	case <-d.exited:
		// p may still sit in the queue: leave it to the garbage collector.
		return errorf(kindUnavailable, "server shut down before the request ran; retry on another server")
	}
}

// instance is one model instance's loop.
func (d *delayBackend) instance(ctx context.Context, idx uint64) {
	times, _ := newServiceTimes(d.opts.Distribution, d.opts.ServiceTime, d.opts.Seed+idx) // checked by New
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*pending, 0, d.opts.MaxBatchSize)
	var carry *pending
	fail := func(ps ...*pending) {
		for _, p := range ps {
			if p != nil {
				p.err = errorf(kindUnavailable, "server shut down while the request was queued; retry on another server")
				p.done <- struct{}{}
			}
		}
	}
	for {
		batch = batch[:0]
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-d.queue:
				d.m.stats.queued.Add(-1)
			case <-ctx.Done():
				return
			}
		}
		batch = append(batch, first)
		size := first.r.batch
		if d.opts.DynamicBatching {
			var stop bool
			batch, size, carry, stop = d.fill(ctx, timer, batch, size)
			if stop {
				fail(batch...)
				fail(carry)
				return
			}
		}
		if !d.run(ctx, timer, times, batch, size) {
			fail(carry)
			return
		}
	}
}

// fill adds queued requests to batch up to MaxBatchSize elements, waiting
// until MaxQueueDelay after the oldest request's arrival for more to come.
// A request that does not fit is returned as carry, for the next batch.
func (d *delayBackend) fill(ctx context.Context, timer *time.Timer, batch []*pending, size int) (_ []*pending, _ int, carry *pending, stop bool) {
	deadline := batch[0].enqueued.Add(d.opts.MaxQueueDelay)
	armed := false
	defer func() {
		if armed {
			timer.Stop()
		}
	}()
	for size < d.opts.MaxBatchSize {
		var p *pending
		select {
		case p = <-d.queue:
		default:
			wait := time.Until(deadline)
			if wait <= 0 {
				return batch, size, nil, false
			}
			if !armed {
				timer.Reset(wait)
				armed = true
			}
			select {
			case p = <-d.queue:
			case <-timer.C:
				armed = false
				return batch, size, nil, false
			case <-ctx.Done():
				return batch, size, nil, true
			}
		}
		d.m.stats.queued.Add(-1)
		if size+p.r.batch > d.opts.MaxBatchSize {
			return batch, size, p, false
		}
		batch = append(batch, p)
		size += p.r.batch
	}
	return batch, size, nil, false
}

// run executes one batch: hold the instance for a service time, then answer
// every request with its own input. It reports false if shut down meanwhile.
func (d *delayBackend) run(ctx context.Context, timer *time.Timer, times *serviceTimes, batch []*pending, size int) bool {
	t0 := time.Now()
	for _, p := range batch {
		p.pt.queue = t0.Sub(p.enqueued)
	}
	t1 := time.Now()
	timer.Reset(times.next())
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
		for _, p := range batch {
			p.err = errorf(kindUnavailable, "server shut down while the request was executing; retry on another server")
			p.done <- struct{}{}
		}
		return false
	}
	t2 := time.Now()
	for _, p := range batch {
		echo(d.m, p.r, p.res)
	}
	t3 := time.Now()
	in, infer, out := t1.Sub(t0), t2.Sub(t1), t3.Sub(t2)
	d.m.stats.recordExecution(size, in, infer, out)
	for _, p := range batch {
		p.pt.computeInput, p.pt.computeInfer, p.pt.computeOutput = in, infer, out
		p.done <- struct{}{}
	}
	return true
}

// serviceTimes draws service times from a distribution with a given mean,
// from its own generator.
type serviceTimes struct {
	dist string
	mean float64 // ns
	rng  *rand.Rand
}

// lognormalSigma is the shape of the lognormal distribution.
const lognormalSigma = 0.5

func newServiceTimes(dist string, mean time.Duration, seed uint64) (*serviceTimes, error) {
	switch dist {
	case "fixed", "exponential", "uniform", "lognormal":
	default:
		return nil, fmt.Errorf("delay distribution %q is unknown; use fixed, exponential, uniform or lognormal", dist)
	}
	return &serviceTimes{dist: dist, mean: float64(mean), rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}, nil
}

func (s *serviceTimes) next() time.Duration {
	var ns float64
	switch s.dist {
	case "exponential":
		ns = s.rng.ExpFloat64() * s.mean
	case "uniform":
		ns = s.mean * (0.5 + s.rng.Float64())
	case "lognormal":
		mu := math.Log(s.mean) - lognormalSigma*lognormalSigma/2
		ns = math.Exp(mu + lognormalSigma*s.rng.NormFloat64())
	default:
		ns = s.mean
	}
	// Cap at 1000× the mean so one draw cannot stall an instance for hours.
	return time.Duration(min(ns, 1000*s.mean))
}
