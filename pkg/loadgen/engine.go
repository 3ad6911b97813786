package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/loadgen/schedule"
	"github.com/perfgo/perfgo/pkg/result"
)

// pollEvery is how often a count window checks its request count: cheap
// enough to run often, so a window ends within 20 ms of its count (not
// perf_analyzer's 1 s).
const pollEvery = 20 * time.Millisecond

// StopError says why a run, or a level, ended early. Msg is one line for
// the user (perf_analyzer's text where it has one); Err is the cause when
// there is one (the first failed request's error, the context's cause).
type StopError struct {
	Reason result.StopReason
	Msg    string
	Err    error
}

func (e *StopError) Error() string { return e.Msg }
func (e *StopError) Unwrap() error { return e.Err }

// Run applies the load levels opts describes and returns what it measured.
//
// It always returns the levels measured so far, with Stop and StopMessage
// set, even when it returns an error. The error is nil when the run
// completed or a latency threshold ended the sweep, else a *StopError:
// StopUnstable (a level never stabilised; the CLI exits 2 when no level
// was reported), StopNoValidRequests, StopError (a whole window of failed
// requests, or a Caller could not be made) or StopCancelled. When ctx is
// cancelled Run stops issuing, lets requests in flight finish for at most
// DrainTimeout (then cancels them: they are counted in Run.Drained), and
// reports the current level's completed windows, unstable, if any.
// Run returns only after every goroutine it started has exited.
func Run(ctx context.Context, opts Options) (result.Run, error) {
	o, err := opts.normalize()
	run := result.Run{Settings: o.settings()}
	if err != nil {
		run.Stop, run.StopMessage = result.StopError, err.Error()
		return run, &StopError{Reason: result.StopError, Msg: err.Error(), Err: err}
	}
	e := newEngine(ctx, o)
	if lo, ok := e.obs.(LiveObserver); ok {
		lo.Live(e.completed)
		e.live = true
	}
	stop := e.sweep(ctx, &run)
	e.stopWorkers()
	e.drain(func() { _ = e.closed.Wait() }, e.cancelScopes) // workers return no errors: failures are data
	e.cancelScopes()
	e.swap(e.outside, nil)
	run.Drained = result.Counts{Requests: e.outside.ok, Failed: e.outside.failed}
	run.DrainedFailures = e.outside.failures()
	if stop == nil {
		run.Stop = result.StopCompleted
		return run, nil
	}
	run.Stop, run.StopMessage = stop.Reason, stop.Msg
	if stop.Reason == result.StopLatencyThreshold {
		return run, nil
	}
	return run, stop
}

// engine runs one Run. Its controller (the goroutine in Run) owns the
// sweep, the windows and the worker set; workers only send and record.
type engine struct {
	o     Options
	obs   Observer
	open  bool
	stats serverStats
	// cpu reads the process's CPU time, cpus is how many CPUs it may
	// use; cpuMark is the CPU time at the current window's start.
	cpu     func() CPUTime
	cpus    int
	cpuMark CPUTime
	// live: the observer follows the run live (LiveObserver), so window
	// summaries carry what only it shows (P99).
	live bool
	// exporting holds the tallies whose export buffers a swap sends once
	// every worker is flipped (reused).
	exporting []*tally

	// Requests are sent with their level's scope: cancelling the run's
	// context stops issuing, not the requests in flight (they drain), and
	// a level's stragglers can be cancelled without touching the next
	// level's requests.
	reqBase context.Context
	scope   atomic.Pointer[scope] // closed loop: the current level's
	scopes  []*scope              // every scope made; the controller's
	// outside collects what completes outside every window (between
	// levels, while draining): Run.Drained.
	outside *window

	regMu   sync.Mutex
	workers []*worker // by id; nil where not created yet (open loop)
	scratch []*worker // controller's copy of workers for a swap

	closed errgroup.Group // closed-loop workers; they outlive levels

	// seq makes the sequences of a stateful model; nil otherwise.
	seq *sequencer

	failOnce sync.Once
	failErr  error         // set once, before failed is closed
	failed   chan struct{} // closed when a worker cannot be made

	// target is the window the workers record into (nil: none); swap
	// changes it, under regMu so that a worker made meanwhile gets it.
	target *window

	wins    []*window // the level's last (up to 3) windows, oldest first
	free    []*window // recycled windows: their histograms are 264 KiB each
	samples []sample  // the level's windows, for the stability test
	// total counts every window of the level; passes describes each.
	total  counts
	passes []result.Pass
}

// scope is the context one level's requests are sent with. seq numbers
// the closed-loop levels: each worker notes the scope of the request it
// has in flight, so that a level's first window can wait until no request
// of the previous load is left.
type scope struct {
	seq    uint64
	ctx    context.Context
	cancel context.CancelFunc
}

// newScope makes the next level's scope; only the controller calls it.
func (e *engine) measures() measures { return e.o.measures() }

func (e *engine) newScope() *scope {
	sc := &scope{seq: uint64(len(e.scopes)) + 1}
	sc.ctx, sc.cancel = context.WithCancel(e.reqBase)
	e.scopes = append(e.scopes, sc)
	return sc
}

// ownScope is one worker's child of a level's scope. A context derived
// per request (a gRPC call's timeout) registers with its parent under the
// parent's lock: derived from the shared scope, that is a lock every
// worker takes per request (gRPC at concurrency 8: 10% fewer requests/s).
// A worker's own child is cancelled with the scope, and only its worker
// locks it.
type ownScope struct {
	seq    uint64
	ctx    context.Context
	cancel context.CancelFunc
}

// of returns the worker's context for sc, making it on a new level.
func (o *ownScope) of(sc *scope) context.Context {
	if o.ctx == nil || o.seq != sc.seq {
		o.release()
		o.seq = sc.seq
		o.ctx, o.cancel = context.WithCancel(sc.ctx)
	}
	return o.ctx
}

func (o *ownScope) release() {
	if o.cancel != nil {
		o.cancel()
	}
}

// cancelScopes cancels the requests of every level.
func (e *engine) cancelScopes() { e.cancelBefore(math.MaxUint64) }

// cancelBefore cancels the requests of the levels before seq.
func (e *engine) cancelBefore(seq uint64) {
	for _, sc := range e.scopes {
		if sc.seq < seq {
			sc.cancel()
		}
	}
}

// drain waits until wait returns, for at most DrainTimeout or until
// Abandon is closed; then it cancels the requests (cancel) and waits for
// them to return, which they do at once.
func (e *engine) drain(wait func(), cancel func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait()
	}()
	t := time.NewTimer(max(e.o.DrainTimeout, 0))
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	case <-e.o.Abandon:
	}
	cancel()
	<-done
}

func newEngine(ctx context.Context, o Options) *engine {
	e := &engine{
		o:       o,
		obs:     o.Observer,
		open:    o.open(),
		reqBase: context.WithoutCancel(ctx),
		failed:  make(chan struct{}),
		outside: newWindow(o.measures()),
	}
	if e.obs == nil {
		e.obs = nopObserver{}
	}
	e.cpu, e.cpus = o.cpuClock()
	if o.Sequences != nil {
		e.seq = &sequencer{o: *o.Sequences, ids: newSeqIDs(o.Sequences)}
	}
	e.stats = serverStats{src: o.Stats, model: o.Model, version: o.Version, composing: o.Composing, warn: e.obs.Warn, timeout: statsTimeoutFor(o)}
	e.scope.Store(e.newScope())
	return e
}

// fail ends the run from any goroutine: the controller sees failed closed.
func (e *engine) fail(err error) {
	e.failOnce.Do(func() {
		e.failErr = err
		close(e.failed)
	})
}

// worker is one request loop's state. Recording takes no lock: the
// worker's goroutine, the only writer, makes its seq odd while it records
// into tallies[sel]; at a window end the controller flips sel and waits
// only for a record already under way. Both live on the worker's own cache
// line. The mutex guards the control fields' transitions; the per-request
// path reads them atomically and locks only to leave.
type worker struct {
	id     int
	caller Caller
	// issued and done count requests sent and completed since the worker
	// was made; the controller reads them without the lock.
	issued atomic.Uint64
	done   atomic.Uint64
	// level is the scope's seq of the request in flight.
	level atomic.Uint64

	seq     atomic.Uint64 // odd while the worker is recording
	sel     atomic.Uint32 // the tally the worker records into
	tallies [2]*tally

	// sequence is the worker's sequence state (stateful models; closed loop).
	sequence *workerSequence
	// export is set when the run exports its requests.
	export *exporting

	quit  atomic.Bool  // closed loop: leave after the current request
	quota atomic.Int64 // closed loop: requests left to send; <0: no limit

	mu      sync.Mutex
	running bool // closed loop: a goroutine is (still) issuing for this worker

	// Owned by the controller.
	issuedSeen uint64

	_ [64]byte // keep the next worker's hot fields off this cache line
}

func newWorker(id int, c Caller, m measures) *worker {
	w := &worker{id: id, caller: c, tallies: [2]*tally{newTally(m), newTally(m)}}
	w.quota.Store(-1)
	return w
}

// recording returns the tally to record into; recorded must follow.
// Only the worker's goroutine calls them.
func (w *worker) recording() *tally {
	w.seq.Add(1)
	return w.tallies[w.sel.Load()]
}

func (w *worker) recorded() { w.seq.Add(1) }

// flip makes the other tally, targeting next, the one the worker records
// into, and returns the previous one once no record into it is under way.
// Only the controller calls it. (A record that began before the flip is
// odd in seq and may use either tally; one that begins after sees the new
// sel: the atomics are sequentially consistent.)
func (w *worker) flip(next *window) *tally {
	old := w.sel.Load()
	w.tallies[1-old].into = next
	w.sel.Store(1 - old)
	if s := w.seq.Load(); s%2 == 1 {
		for w.seq.Load() == s {
			runtime.Gosched() // a record takes nanoseconds
		}
	}
	return w.tallies[old]
}

// worker returns worker id, making it (and its Caller) on first use.
func (e *engine) worker(id int) (*worker, error) {
	e.regMu.Lock()
	if id < len(e.workers) && e.workers[id] != nil {
		w := e.workers[id]
		e.regMu.Unlock()
		return w, nil
	}
	e.regMu.Unlock()
	c, err := e.o.NewCaller(id)
	if err == nil && c == nil {
		err = fmt.Errorf("NewCaller returned no Caller")
	}
	if err != nil {
		return nil, fmt.Errorf("cannot make worker %d's request: %w", id, err)
	}
	w := newWorker(id, c, e.measures())
	if e.seq != nil {
		sc, ok := c.(SequenceCaller)
		if !ok {
			return nil, fmt.Errorf("worker %d's requests cannot carry sequence parameters (its Caller has no SetSequence)", id)
		}
		data, _ := c.(SequenceData)
		w.sequence = &workerSequence{caller: sc, data: data, rng: e.seq.rng(uint64(id))}
	}
	e.startExport(w)
	e.regMu.Lock()
	w.tallies[0].into = e.target
	for len(e.workers) <= id {
		e.workers = append(e.workers, nil)
	}
	e.workers[id] = w
	e.regMu.Unlock()
	return w, nil
}

// next decides whether the worker sends another request. Carrying on
// takes no lock; leaving does, so that setWorkers sees quit and running
// change together. A worker told to leave while it holds an open sequence
// stays running and is told to close it (one request with sequence_end),
// then asks again: its caller is never shared with a successor.
func (w *worker) next(hold bool) (ok, closing bool) {
	if !w.quit.Load() {
		q := w.quota.Load()
		if q < 0 || (q > 0 && w.quota.CompareAndSwap(q, q-1)) {
			return true, false
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.quota.Load()
	if w.quit.Load() || q == 0 {
		if hold {
			return false, true
		}
		w.running = false
		return false, false
	}
	if q > 0 {
		w.quota.Store(q - 1)
	}
	return true, false
}

// add adds one completed request to the tally. lat runs from the latency
// origin to the final response; lead is the time from the origin to the
// actual send (open loop: the schedule lag; closed loop: 0), which the
// time to first response also counts. busy is the worker's time in
// perfgo between the previous request's end and this one's send (or the
// start of its wait for its due time).
func (t *tally) add(lat, svc, lead, busy time.Duration, timing client.Timing, err error, end time.Time) {
	t.busy += int64(busy)
	full := false
	if err != nil {
		t.failed++
		t.classes = addClass(t.classes, client.Class(err), 1, err)
	} else {
		t.ok++
		first := lead + timing.First
		if t.firstIsLatency {
			full = t.lat.record(int64(first))
		} else {
			full = t.lat.record(int64(lat))
		}
		full = t.svc.record(int64(svc)) || full
		t.send += int64(timing.Send)
		t.recv += int64(timing.Recv)
		t.total += int64(timing.Total)
		if t.first.buf != nil {
			t.responses += uint64(timing.Responses)
			t.elements += uint64(max(timing.Elements, 0))
			full = t.first.record(int64(first)) || full
			full = t.final.record(int64(lat)) || full
			for _, g := range timing.Gaps {
				if t.gap.record(int64(g)) {
					t.flush() // a long stream fills the buffer more than once
				}
			}
		}
	}
	if full {
		t.flush()
	}
	if end.After(t.last) {
		t.last = end
	}
}

// sent adds an open-loop request's schedule lag when it is sent:
// lateness belongs to the window the request was sent in (an overloaded
// server returns late requests long after, if at all).
func (t *tally) sent(lag time.Duration) {
	if lag > lateAfter {
		t.late++
	}
	if t.lag.record(int64(lag)) {
		t.flush()
	}
}

// since is the time from the worker's previous request's end (zero: none
// yet) to t: its client overhead before the next request.
func since(prevEnd, t time.Time) time.Duration {
	if prevEnd.IsZero() {
		return 0
	}
	return t.Sub(prevEnd)
}

// closedLoop keeps one request outstanding until told to quit or its
// quota is spent. Latency is measured from the actual send. With
// sequences the worker keeps one sequence open and ends it before leaving.
func (e *engine) closedLoop(w *worker) error {
	ok, closing := w.next(w.holds())
	var prevEnd time.Time
	var bo backoff
	defer bo.stop()
	var own ownScope
	defer own.release()
	for ok || closing {
		var q seqRequest
		if w.sequence != nil {
			var has bool
			if closing {
				q, has = w.sequence.live.closing(e.seq)
			} else {
				q, has = w.sequence.live.next(e.seq, w.sequence.data, w.sequence.rng), true
			}
			if has {
				q.set(w.sequence.caller, w.sequence.data)
			}
			if !has && closing {
				ok, closing = w.next(false)
				continue
			}
		}
		w.issued.Add(1)
		sc := e.scope.Load()
		w.level.Store(sc.seq)
		ctx := own.of(sc)
		start := time.Now()
		timing, err := w.caller.Do(ctx)
		end := time.Now()
		busy := since(prevEnd, start)
		prevEnd = end
		t := w.recording()
		t.add(end.Sub(start), 0, 0, busy, timing, err, end)
		if t.exp != nil {
			w.exportRequest(e.o.Export, t, start, end, timing, err, q.ID)
		}
		if w.sequence != nil {
			w.sequence.live.done(e.seq, q, err, t)
		}
		w.done.Add(1)
		w.recorded()
		if bo.wait(ctx, err) {
			prevEnd = time.Now() // a deliberate pause is not client overhead
		}
		ok, closing = w.next(w.holds())
	}
	return nil
}

// holds reports whether the worker has a sequence open.
func (w *worker) holds() bool { return w.sequence != nil && w.sequence.live.left > 0 }

// A closed-loop worker whose request could not reach the server (or
// could not even open a socket) waits before the next one: during an
// outage it would otherwise spin on
// refused connections (bench/soak.sh, gRPC, concurrency 64: 456,000
// failures in one 5 s window, and their garbage raised perfgo's RSS by
// 80%). The wait doubles from minBackoff to maxBackoff and ends with the
// first request that reaches the server; every attempt is still counted.
const (
	minBackoff = time.Millisecond
	maxBackoff = 100 * time.Millisecond
)

type backoff struct {
	d time.Duration
	t *time.Timer
}

// wait pauses after err when it says the server was not reached, and
// reports whether it paused.
func (b *backoff) wait(ctx context.Context, err error) bool {
	if err == nil || !(errors.Is(err, client.ErrUnreachable) || errors.Is(err, client.ErrLocalResources)) {
		b.d = 0
		return false
	}
	b.d = min(max(2*b.d, minBackoff), maxBackoff)
	if b.t == nil {
		b.t = time.NewTimer(b.d)
	} else {
		b.t.Reset(b.d)
	}
	select {
	case <-b.t.C:
	case <-ctx.Done():
		b.t.Stop()
	}
	return true
}

func (b *backoff) stop() {
	if b.t != nil {
		b.t.Stop()
	}
}

// setWorkers makes n closed-loop workers issue, splitting quota requests
// among them (quota < 0: no limit), and tells any others to leave after
// their current request. Requests in flight are never interrupted: a
// worker kept across levels just carries on.
func (e *engine) setWorkers(n int, quota int64) error {
	for i := range n {
		w, err := e.worker(i)
		if err != nil {
			return err
		}
		q := int64(-1)
		if quota >= 0 {
			q = quota / int64(n)
			if int64(i) < quota%int64(n) {
				q++
			}
		}
		w.mu.Lock()
		w.quit.Store(false)
		w.quota.Store(q)
		start := !w.running
		w.running = true
		if start {
			// Its first request will be of this level.
			w.level.Store(e.scope.Load().seq)
		}
		w.mu.Unlock()
		if start {
			e.closed.Go(func() error { return e.closedLoop(w) })
		}
	}
	e.retire(n)
	return nil
}

// retire tells the workers beyond the first n to leave after their
// current request.
func (e *engine) retire(n int) {
	e.regMu.Lock()
	rest := append(e.scratch[:0], e.workers[min(n, len(e.workers)):]...)
	e.regMu.Unlock()
	for _, w := range rest {
		w.quit.Store(true)
	}
	clear(rest)
	e.scratch = rest[:0]
}

// stopWorkers tells every closed-loop worker to leave after its current request.
func (e *engine) stopWorkers() {
	if !e.open {
		_ = e.setWorkers(0, -1)
	}
}

// swap ends the current window for every worker and makes next (nil:
// none) the window they record into: each worker is flipped to its other
// tally, and the one it leaves is added to into (nil: discarded). Once every worker has been swapped nothing records into
// into any more. It returns the workers' completed count at the swap, the
// base a count window counts from. A window's issued count starts where
// markIssued last left it.
func (e *engine) swap(into, next *window) uint64 {
	e.regMu.Lock()
	e.target = next
	ws := append(e.scratch[:0], e.workers...)
	e.regMu.Unlock()
	var done uint64
	for _, w := range ws {
		if w == nil {
			continue
		}
		t := w.flip(next)
		done += w.done.Load()
		if into != nil {
			into.addTally(t)
		}
		if t.exp != nil {
			e.exporting = append(e.exporting, t)
		}
		if into != nil && into != e.outside {
			// A window's issued count runs from markIssued or the last
			// window's end; what completes outside windows moves no mark.
			issued := w.issued.Load()
			into.issued += issued - w.issuedSeen
			w.issuedSeen = issued
		}
		t.reset()
	}
	clear(ws)
	e.scratch = ws[:0]
	// Sent once every worker records into next: a send may wait for the
	// writer, and no worker should go on recording into the ended window
	// meanwhile. The tallies are the controller's until the next swap.
	for _, t := range e.exporting {
		t.exp = e.o.Export.Send(t.exp)
	}
	clear(e.exporting)
	e.exporting = e.exporting[:0]
	return done
}

// completed is the workers' total of completed requests.
func (e *engine) completed() uint64 {
	e.regMu.Lock()
	defer e.regMu.Unlock()
	var n uint64
	for _, w := range e.workers {
		if w != nil {
			n += w.done.Load()
		}
	}
	return n
}

// load is a level's worker policy: begin starts the level's requests
// (quota >= 0: exactly that many), makes first (nil: none) the window the
// workers record into, and returns the instant that window starts and the
// completed count it counts from; end stops what must stop before the
// next level.
type load interface {
	begin(ctx context.Context, v float64, quota int64, first *window) (start time.Time, base uint64, err error)
	end()
}

// closedLoad keeps workers across levels: a level change adds or removes
// workers without pausing the others, so the server never idles between
// levels. The level's first window starts once every request in flight
// was sent after the previous load had left the server: requests queued
// with or behind the previous load (more or fewer requests) would
// misreport this one. That costs about two request latencies per level.
type closedLoad struct{ e *engine }

func (l closedLoad) begin(ctx context.Context, v float64, quota int64, first *window) (time.Time, uint64, error) {
	e := l.e
	if quota >= 0 {
		// Exactly quota requests, all inside the window: start them after
		// it opens. Only warm-up precedes such a level, and it has drained.
		e.stats.begin(ctx)
		base := e.swap(e.outside, first)
		e.markIssued()
		start := time.Now()
		return start, base, e.setWorkers(int(v), quota)
	}
	// The first window counts the requests sent at this level, including
	// those sent while it settles (they are in flight when it opens).
	e.scope.Store(e.newScope())
	e.markIssued()
	if err := e.setWorkers(int(v), quota); err != nil {
		return time.Time{}, 0, err
	}
	if e.settle(ctx) {
		// Requests sent while the previous load was still leaving queued
		// behind it: wait once more, for requests sent after it had left.
		e.scope.Store(e.newScope())
		e.markIssued()
		e.settle(ctx)
	}
	e.stats.begin(ctx)
	// Completions before the first window belong to no window.
	base := e.swap(e.outside, first)
	return time.Now(), base, nil
}

// markIssued makes the next window's issued count start now.
func (e *engine) markIssued() {
	e.regMu.Lock()
	defer e.regMu.Unlock()
	for _, w := range e.workers {
		if w != nil {
			w.issuedSeen = w.issued.Load()
		}
	}
}

// settle waits until no worker has a request of an earlier level in
// flight (or ctx ends), and says whether it had to wait. Requests of
// earlier levels still in flight after DrainTimeout (or once Abandon is
// closed) are cancelled. It runs between levels, not per request: it polls.
func (e *engine) settle(ctx context.Context) (waited bool) {
	cur := e.scope.Load().seq
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	drained := time.NewTimer(max(e.o.DrainTimeout, 0))
	defer drained.Stop()
	for {
		e.regMu.Lock()
		ws := append(e.scratch[:0], e.workers...)
		e.regMu.Unlock()
		stale := false
		for _, w := range ws {
			if w == nil {
				continue
			}
			w.mu.Lock()
			stale = stale || (w.running && w.level.Load() != cur)
			w.mu.Unlock()
		}
		clear(ws)
		e.scratch = ws[:0]
		if !stale {
			return waited
		}
		waited = true
		select {
		case <-tick.C:
		case <-drained.C:
			e.cancelBefore(cur)
		case <-e.o.Abandon:
			e.cancelBefore(cur)
		case <-ctx.Done():
			return waited
		case <-e.failed:
			return waited
		}
	}
}

func (closedLoad) end() {}

// wait blocks until deadline (time windows) or until need requests have
// completed since base (count windows: need > 0). It returns false when
// the run must stop: ctx cancelled or a worker could not be made.
func (e *engine) wait(ctx context.Context, deadline time.Time, need, base uint64) bool {
	if need == 0 {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
		case <-e.failed:
		}
		return false
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for e.completed()-base < need {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		case <-e.failed:
			return false
		}
	}
	return true
}

// warmup sends WarmupRequestCount requests; the first level's begin
// discards them with everything else completed before its first window.
func (e *engine) warmup(ctx context.Context, ld load, first float64) *StopError {
	n := e.o.WarmupRequestCount
	v := first
	if !e.open {
		v = float64(min(int(first), n))
	}
	_, base, err := ld.begin(ctx, v, int64(n), nil)
	if err == nil && !e.wait(ctx, time.Time{}, uint64(n), base) {
		err = e.interruption(ctx)
	}
	ld.end()
	e.swap(nil, nil) // warm-up counts nowhere
	if err != nil {
		return asStop(err)
	}
	return nil
}

// interruption is why wait returned false.
func (e *engine) interruption(ctx context.Context) error {
	if ctx.Err() != nil {
		return &StopError{Reason: result.StopCancelled, Msg: "run interrupted: reporting the windows measured so far", Err: context.Cause(ctx)}
	}
	return e.failErr
}

func asStop(err error) *StopError {
	if s, ok := err.(*StopError); ok {
		return s
	}
	return &StopError{Reason: result.StopError, Msg: err.Error(), Err: err}
}

// sweep measures the levels and fills run.Levels; it returns why it stopped
// early, nil when every level asked for was measured.
func (e *engine) sweep(ctx context.Context, run *result.Run) *StopError {
	var ld load = closedLoad{e}
	integer := !e.open
	if e.open {
		ld = &openLoad{e: e}
	}
	sw := newSweep(e.o.Start, e.o.End, e.o.Step, integer, e.o.BinarySearch)
	if e.o.Mode == result.Intervals {
		// One level, labelled with the schedule's rate as perf_analyzer does.
		s, _ := schedule.NewIntervals(e.o.Intervals) // validated by normalize
		sw = newSweep(s.Rate(), s.Rate(), 1, false, false)
	}
	passed := false
	var over *StopError
	for first := true; ; first = false {
		v, ok := sw.next()
		if !ok {
			break
		}
		e.exportLevel(v)
		if first && e.o.WarmupRequestCount > 0 {
			if stop := e.warmup(ctx, ld, v); stop != nil {
				return stop
			}
		}
		lvl, reported, stop := e.level(ctx, ld, v)
		switch {
		case reported:
			run.Levels = append(run.Levels, lvl)
		case lvl.Windows > 0:
			lvl.Stable = false
			run.Unreported = append(run.Unreported, lvl)
		}
		if stop == nil {
			passed = true
			sw.report(true)
			if e.o.Mode == result.Intervals {
				break // its value may truncate to 0, which a sweep reads as open-ended
			}
			continue
		}
		if stop.Reason != result.StopLatencyThreshold {
			return stop
		}
		over = stop
		sw.report(false)
	}
	if over != nil && (!e.o.BinarySearch || !passed) {
		return over
	}
	return nil
}

// level measures one load level. It returns the level (its merged last
// windows), whether it is reported, and why it failed (nil: it passed).
func (e *engine) level(ctx context.Context, ld load, v float64) (result.Level, bool, *StopError) {
	e.obs.LevelStart(e.o.Mode, v)
	lvl := result.Level{Mode: e.o.Mode, Value: v}
	e.free = append(e.free, e.wins...)
	e.wins, e.samples = e.wins[:0], e.samples[:0]
	e.total.reset()
	e.passes = nil

	quota := int64(-1)
	if e.o.RequestCount > 0 {
		quota = int64(e.o.RequestCount)
	}
	cur := e.window() // the window being measured
	defer func() {
		// The workers (closed-loop ones carry on) stop recording into
		// cur before it is recycled; what completes from now until the
		// next level's first window is outside every window.
		e.swap(e.outside, e.outside)
		e.free = append(e.free, cur)
	}()
	start, base, err := ld.begin(ctx, v, quota, cur)
	e.cpuMark = e.cpu()
	if err != nil {
		ld.end()
		stop := asStop(err)
		e.obs.LevelEnd(lvl, stop)
		return lvl, false, stop
	}
	deadline := start
	need := uint64(0)
	switch {
	case e.o.RequestCount > 0:
		need = uint64(e.o.RequestCount)
	case e.o.MeasurementMode == CountWindows:
		need = uint64(e.o.MeasurementRequestCount)
	}
	thresholdHit := false
	for pass := 1; ; pass++ {
		deadline = deadline.Add(e.o.MeasurementInterval)
		if !e.wait(ctx, deadline, need, base) {
			ld.end()
			e.stopWorkers() // stop issuing now, not after the report
			return e.interrupted(ctx, lvl)
		}
		w := cur
		cur = e.window()
		w.start, w.end = start, time.Now()
		base = e.swap(w, cur)
		now := e.cpu()
		w.cpu, e.cpuMark = now.since(e.cpuMark), now
		if e.o.RequestCount > 0 && w.last.After(w.start) {
			// The window ends with its last request, not when it was noticed.
			w.end = w.last
		}
		w.seal()
		e.exportWindow(w)
		start = w.end
		w.server = e.stats.next(ctx)
		w.serverMissing = w.server == nil
		e.wins = append(e.wins, w)
		if len(e.wins) > stabilityWindows {
			e.free = append(e.free, e.wins[0])
			e.wins = append(e.wins[:0], e.wins[1:]...)
		}
		s := sample{throughput: w.throughput(e.o.BatchSize), latency: w.stabilising(e.o.Percentile), inFlight: e.inFlight()}
		e.samples = append(e.samples, s)
		e.total.add(&w.counts)
		e.passes = append(e.passes, passOf(w, s))
		e.obs.Window(pass, e.summary(w, s))
		lvl.Windows = pass

		if w.ok == 0 && w.failed > 0 {
			ld.end()
			return e.allFailed(lvl, w)
		}
		if e.o.RequestCount > 0 || stable(e.samples, e.o.StabilityPercentage) {
			lvl.Stable = true
			break
		}
		if overThreshold(e.samples, e.o.LatencyThreshold) {
			thresholdHit = true
			break
		}
		if pass >= e.o.MaxTrials {
			break
		}
	}
	ld.end()
	return e.verdict(lvl, thresholdHit)
}

func (e *engine) window() *window {
	if n := len(e.free); n > 0 {
		w := e.free[n-1]
		e.free = e.free[:n-1]
		w.reset()
		return w
	}
	return newWindow(e.measures())
}

func (e *engine) summary(w *window, s sample) WindowSummary {
	ws := WindowSummary{
		Start:      w.start,
		Duration:   w.duration(),
		Requests:   w.ok,
		Failed:     w.failed,
		Issued:     w.issued,
		Late:       w.late,
		Throughput: s.throughput,
		AvgLatency: time.Duration(w.lat.mean()),
		StdDev:     time.Duration(w.lat.stdDev()),
	}
	if w.ok == 0 {
		ws.Err = noValidRequests(s.inFlight)
	} else {
		ws.Latency = time.Duration(s.latency)
		if e.live {
			ws.P99 = w.lat.percentile(99)
		}
	}
	if e.o.WindowHistograms {
		ws.Histograms = &WindowHistograms{Latency: w.lat.h.Export()}
		if e.open {
			ws.Histograms.ServiceTime, ws.Histograms.ScheduleLag = w.svc.h.Export(), w.lag.h.Export()
		}
	}
	return ws
}

// noValidRequests is perf_analyzer's message for a window without a
// completed request, unless requests are stuck in flight: then a larger
// window would not help, and the message says what would.
func noValidRequests(inFlight uint64) *StopError {
	msg := "No valid requests recorded within time interval. Please use a larger time window."
	if n := inFlight; n > 0 {
		msg = fmt.Sprintf("No valid requests recorded within time interval: %d requests were in flight and none completed. Please use a larger time window if the model is this slow; if the server stopped answering, its requests fail after the request timeout.", n)
	}
	return &StopError{Reason: result.StopNoValidRequests, Msg: msg}
}

// inFlight is how many requests were sent and have not completed.
func (e *engine) inFlight() uint64 {
	e.regMu.Lock()
	defer e.regMu.Unlock()
	var n uint64
	for _, w := range e.workers {
		if w != nil {
			n += w.issued.Load() - w.done.Load()
		}
	}
	return n
}

// passOf describes window w for the report.
func passOf(w *window, s sample) result.Pass {
	p := result.Pass{
		Duration:    w.duration(),
		Requests:    w.ok,
		Failed:      w.failed,
		Issued:      w.issued,
		Late:        w.late,
		Failures:    w.failures(),
		Throughput:  s.throughput,
		ServerStats: w.server != nil && !w.serverMissing,
	}
	if !math.IsInf(s.latency, 0) {
		p.Latency = time.Duration(s.latency)
	}
	return p
}

// merged fills lvl from the level's last windows.
func (e *engine) merged(lvl result.Level) result.Level {
	m := newWindow(e.measures())
	for _, w := range e.wins {
		m.merge(w)
	}
	lvl.Client = m.clientStats(e.o.BatchSize, e.o.Percentile, e.open)
	lvl.Client.CPU, lvl.Client.CPUWait = m.cpu.Used, m.cpu.Waited
	e.clientCPU(&lvl)
	// Failures of every window count, not only those of the windows
	// merged: a level that failed early and then settled is not clean.
	lvl.Total = result.Counts{Requests: e.total.ok, Failed: e.total.failed}
	lvl.Failures = failuresOf(e.total.classes)
	lvl.Passes = e.passes
	lvl.OverFailureLimit = lvl.Total.FailedPercent() > e.o.FailureLimit
	if len(e.wins) > 0 && !m.serverMissing {
		lvl.Server = m.server
	}
	return lvl
}

// verdict decides what a finished level means for the sweep.
func (e *engine) verdict(lvl result.Level, thresholdHit bool) (result.Level, bool, *StopError) {
	lvl = e.merged(lvl)
	for _, s := range e.samples[max(0, len(e.samples)-stabilityWindows):] {
		if s.throughput == 0 {
			stop := noValidRequests(s.inFlight)
			e.obs.LevelEnd(lvl, stop)
			return lvl, false, stop
		}
	}
	if !lvl.Stable && !thresholdHit {
		switch {
		case e.open && throughputStable(e.samples, e.o.StabilityPercentage):
			// perf_analyzer's asynchronous rule: a steady throughput is
			// accepted even though latency keeps moving.
			e.obs.Warn("Request latency is not stabilizing. Please try lowering the request rate.")
			lvl.Stable = true
		case e.o.MaxTrials < stabilityWindows:
			// Fewer than 3 windows can never pass the test; report them
			// rather than fail (perf_analyzer fails every -r 1 run).
		default:
			stop := e.unstable(lvl.Value)
			e.obs.LevelEnd(lvl, stop)
			return lvl, false, stop
		}
	}
	// A threshold hit while unstable is reported as over the threshold, not
	// as unstable as perf_analyzer does: the latency did go over the limit.
	lat := lvl.Client.Latency.Mean
	if e.o.Percentile > 0 {
		lat = lvl.Client.Latency.Percentile(e.o.Percentile)
	}
	if thresholdHit || (e.o.LatencyThreshold > 0 && lat >= e.o.LatencyThreshold) {
		ms := strconv.FormatFloat(float64(e.o.LatencyThreshold)/float64(time.Millisecond), 'f', -1, 64)
		stop := &StopError{Reason: result.StopLatencyThreshold, Msg: "Measured latency went over the set limit of " + ms + " msec. "}
		e.obs.LevelEnd(lvl, stop)
		return lvl, false, stop
	}
	e.obs.LevelEnd(lvl, nil)
	return lvl, true, nil
}

func (e *engine) unstable(v float64) *StopError {
	msg := "Failed to obtain stable measurement."
	if !e.open {
		hint := "--measurement-interval"
		if e.o.MeasurementMode == CountWindows {
			hint = "--measurement-request-count"
		}
		msg = fmt.Sprintf("Failed to obtain stable measurement within %d measurement windows for concurrency %d. Please try to increase the %s.",
			e.o.MaxTrials, int(v), hint)
	}
	return &StopError{Reason: result.StopUnstable, Msg: msg}
}

// allFailed ends the run on a window where every request failed, with the
// most frequent failure's own message.
func (e *engine) allFailed(lvl result.Level, w *window) (result.Level, bool, *StopError) {
	lvl = e.merged(lvl)
	c, _ := w.firstFailure()
	msg := fmt.Sprintf("all %d requests of a window failed at %s %v (%d %s): %v", w.failed, e.o.Mode, lvl.Value, c.n, c.class, c.first)
	stop := &StopError{Reason: result.StopError, Msg: msg, Err: c.first}
	e.obs.LevelEnd(lvl, stop)
	return lvl, false, stop
}

// interrupted reports the current level's completed windows, unstable.
func (e *engine) interrupted(ctx context.Context, lvl result.Level) (result.Level, bool, *StopError) {
	stop := asStop(e.interruption(ctx))
	if len(e.wins) == 0 {
		e.obs.LevelEnd(lvl, stop)
		return lvl, false, stop
	}
	lvl = e.merged(lvl)
	lvl.Stable = false
	e.obs.LevelEnd(lvl, stop)
	return lvl, stop.Reason == result.StopCancelled, stop
}

type nopObserver struct{}

func (nopObserver) LevelStart(result.Mode, float64) {}
func (nopObserver) Window(int, WindowSummary)       {}
func (nopObserver) LevelEnd(result.Level, error)    {}
func (nopObserver) Warn(string)                     {}
