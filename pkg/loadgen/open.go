package loadgen

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/perfgo/perfgo/pkg/loadgen/schedule"
	"github.com/perfgo/perfgo/pkg/precise"
)

// openLoad runs each level on a schedule with an elastic worker pool, and
// drains it before the next level so that no level starts with a backlog.
type openLoad struct {
	e   *engine
	cur *openLevel
}

func (l *openLoad) begin(ctx context.Context, v float64, quota int64, first *window) (time.Time, uint64, error) {
	s, err := l.e.o.schedule(v)
	if err != nil {
		return time.Time{}, 0, err
	}
	base := l.e.swap(l.e.outside, first) // the previous level is drained: nothing in flight
	l.e.markIssued()
	l.e.stats.begin(ctx)
	lv := &openLevel{e: l.e, sched: s, max: int64(l.e.o.MaxInFlight), scope: l.e.newScope()}
	if sq := l.e.seq; sq != nil {
		lv.slots = make([]seqSlot, sq.o.Live)
		for i := range lv.slots {
			lv.slots[i].rng = sq.rng(1<<32 + uint64(i)) // apart from the closed loop's workers
			if sq.o.Serial {
				lv.slots[i].busy = make(chan struct{}, 1)
			}
		}
	}
	if quota >= 0 {
		lv.limited = true
		lv.remaining.Store(quota)
	}
	l.cur = lv
	lv.prestart(ctx)
	// The level's clock starts with its schedule: request 0 is due now,
	// so there is no backlog to burst out.
	lv.start = time.Now()
	close(lv.gate)
	return lv.start, base, nil
}

// warmSpan is how much of a level's schedule its first workers cover:
// they are started and connected before the level's clock starts.
// Growing the pool one dial at a time from a single worker made a
// level's first requests wait for dials (a 20 ms dial at 1000/s: 57 of
// the first 100 late, TestOpenLoopFirstWorkersConnectBeforeClock).
const warmSpan = 2 * time.Millisecond

// warmWait bounds how long a level waits for its first workers to
// connect; the stragglers join when they can.
const warmWait = time.Second

// prestart starts the workers for the first warmSpan of the schedule
// (at least one, at most the cap) and waits until they have connected,
// or warmWait has passed. They hold at the gate until the clock starts.
func (l *openLevel) prestart(ctx context.Context) {
	l.gate = make(chan struct{})
	n := int64(1)
	for n < l.max && l.sched.Due(uint64(n)) < warmSpan {
		n++
	}
	ready := make(chan struct{}, n)
	started := 0
	for range n {
		if l.grow(ready) {
			started++
		}
	}
	timer := time.NewTimer(warmWait)
	defer timer.Stop()
	for range started {
		select {
		case <-ready:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (l *openLoad) end() {
	if l.cur == nil {
		return
	}
	l.cur.mu.Lock()
	l.cur.ended = true
	for _, stop := range l.cur.stops {
		close(stop)
	}
	l.cur.mu.Unlock()
	// Workers return no errors. A request still in flight after the
	// drain timeout is cancelled: a stalled server cannot hold the run.
	cur := l.cur
	l.e.drain(func() { _ = cur.group.Wait() }, cur.scope.cancel)
	if cur.slots != nil {
		l.e.drain(cur.closeSequences, cur.scope.cancel)
	}
	cur.scope.cancel()
	l.cur = nil
}

// seqSlot is one of the live sequences of an open-loop level: request k
// of the schedule belongs to slot k mod Live. The lock is the slot's, taken
// once per request for a few field updates; with Serial, busy is held
// while the slot's request is in flight.
type seqSlot struct {
	mu   sync.Mutex
	live liveSequence
	rng  *rand.Rand
	busy chan struct{}
	_    [64]byte // slots are taken by different workers
}

// sequence returns the slot's next request.
func (s *seqSlot) sequence(sq *sequencer, data SequenceData) seqRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live.next(sq, data, s.rng)
}

// done settles the slot's request q. It takes no slot lock: a worker
// waiting in the lock for a free id may be waiting for this very release.
func (s *seqSlot) done(sq *sequencer, q seqRequest, err error, t *tally) {
	s.live.done(sq, q, err, t) // touches the ids and t only
	if s.busy != nil {
		<-s.busy
	}
}

// closeSequences ends every sequence still open once the level's workers
// have returned, with one sequence_end request each, on worker 0's
// caller (its goroutine is gone).
func (l *openLevel) closeSequences() {
	w, err := l.e.worker(0)
	if err != nil {
		return // it was made when the level began; a failure is already reported
	}
	for i := range l.slots {
		s := &l.slots[i]
		q, ok := s.live.closing(l.e.seq)
		if !ok {
			continue
		}
		q.set(w.sequence.caller, w.sequence.data)
		w.issued.Add(1)
		start := time.Now()
		timing, err := w.caller.Do(l.scope.ctx)
		end := time.Now()
		t := w.recording()
		t.add(end.Sub(start), end.Sub(start), 0, 0, timing, err, end)
		if t.exp != nil {
			w.exportRequest(l.e.o.Export, t, start, end, timing, err, q.ID)
		}
		s.live.done(l.e.seq, q, err, t)
		w.done.Add(1)
		w.recorded()
	}
}

// openLevel is one level's schedule and pool. Workers claim requests from
// the schedule with a compare-and-swap on the cursor, wait for their due
// time, and send. The pool starts with the workers for the schedule's
// first warmSpan, connected, and keeps one idle worker holding the next
// request: when the last idle worker starts sending it starts another, up
// to max.
// At the cap, a due request waits for a worker to free up and is sent late
// (and counted late); its latency still runs from its intended time.
type openLevel struct {
	e     *engine
	sched schedule.Schedule
	start time.Time
	max   int64
	scope *scope // the level's requests are sent with scope.ctx

	limited bool
	group   errgroup.Group

	// slots are the level's live sequences (stateful models).
	slots []seqSlot

	// gate is closed when the level's clock has started: workers
	// started before wait for it.
	gate chan struct{}

	// Each worker goroutine has its own stop channel: a select locks every
	// channel it waits on, so a shared one would be a shared lock per request.
	mu    sync.Mutex
	stops []chan struct{}
	ended bool

	// Shared by every worker of the level: each on its own cache line, so
	// that a claim does not also invalidate the pool counters.
	cursor    atomic.Uint64
	_         [56]byte
	remaining atomic.Int64 // requests left to issue when limited
	_         [56]byte
	idle      atomic.Int64 // workers not sending: waiting for a due time or about to claim
	_         [56]byte
	pool      atomic.Int64 // workers started (their ids are 0..pool-1)
	_         [56]byte
}

// grow starts one more worker unless the pool is at its cap or the level
// has ended, and says whether it did. A worker given ready sends to it
// (buffered) once it has connected or failed to.
func (l *openLevel) grow(ready chan<- struct{}) bool {
	if l.pool.Load() >= l.max { // at the cap: a read, not a write, per request
		return false
	}
	n := l.pool.Add(1)
	if n > l.max {
		l.pool.Add(-1)
		return false
	}
	stop := make(chan struct{})
	l.mu.Lock()
	ended := l.ended
	if !ended {
		l.stops = append(l.stops, stop)
	}
	l.mu.Unlock()
	if ended {
		return false
	}
	l.idle.Add(1)
	l.group.Go(func() error {
		defer l.idle.Add(-1)
		w, err := l.e.worker(int(n - 1))
		if err == nil {
			// Dial while idle, before taking a request: a dial on the
			// request path made every request due meanwhile start another
			// worker, which dialled too, and the pool ran to its cap (gRPC
			// at 10,000/s over one connection per worker: 1,024
			// connections, lag p99 74-142 ms). A failure shows again on
			// the worker's first request.
			if c, ok := w.caller.(Connector); ok {
				_ = c.Connect(l.scope.ctx)
			}
		}
		if ready != nil {
			ready <- struct{}{}
		}
		if err != nil {
			l.e.fail(err)
			return nil
		}
		<-l.gate
		l.work(w, stop)
		return nil
	})
	return true
}

// claim takes the next request off the schedule.
func (l *openLevel) claim() uint64 {
	for {
		c := l.cursor.Load()
		if l.cursor.CompareAndSwap(c, l.sched.Next(c)) {
			return c
		}
	}
}

// timerSlack is how early the timer wakes a worker before its due time;
// the rest is slept precisely.
const timerSlack = precise.Slack

// preciseSpan is the longest wait slept on the precise timer alone, which
// does not see stop: a level's end waits up to that long for its workers.
// A longer wait sleeps on the Go timer to timerSlack before due, then on
// the precise timer: two wake-ups. At 10,000/s a pool of 50-80 workers
// waits 5-8 ms per request; with two wake-ups each, perfgo spent about a
// third of its CPU in the scheduler parking and waking threads.
const preciseSpan = 20 * time.Millisecond

// waitUntil waits for due on the worker's timer and returns when it
// began waiting and the send time, or false when stop is closed. With
// precise waits (pt != nil) a wait up to preciseSpan is slept on pt alone;
// a longer one on the timer to timerSlack before due, and on pt the rest.
func (l *openLevel) waitUntil(timer *time.Timer, pt *precise.Timer, due time.Time, stop <-chan struct{}) (began, sent time.Time, ok bool) {
	precise := pt != nil
	began = time.Now()
	for now := began; ; now = time.Now() {
		d := due.Sub(now)
		if d <= 0 {
			return began, now, !stopped(stop)
		}
		if precise && d <= preciseSpan {
			precise = false
			pt.Sleep(d)
			continue
		}
		if precise {
			d -= timerSlack
		}
		timer.Reset(d)
		select {
		case <-timer.C:
		case <-stop:
			timer.Stop()
			return began, now, false
		}
	}
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// work sends scheduled requests until stop is closed. Every return
// happens while the worker counts as idle (grow's deferred decrement).
func (l *openLevel) work(w *worker, stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var pt *precise.Timer
	if !l.e.o.coarseTimers { // a fake clock cannot drive a kernel timer
		pt = precise.New()
		defer pt.Close()
	}
	var prevEnd time.Time
	var own ownScope // see ownScope: no shared lock per request
	defer own.release()
	ctx := own.of(l.scope)
	for {
		if l.limited && l.remaining.Add(-1) < 0 {
			return
		}
		k := l.claim()
		due := l.start.Add(l.sched.Due(k))
		began, sent, ok := l.waitUntil(timer, pt, due, stop)
		if !ok {
			return
		}
		busy := since(prevEnd, began)
		if l.idle.Add(-1) == 0 {
			l.grow(nil)
		}
		var slot *seqSlot
		var q seqRequest
		if l.slots != nil {
			slot = &l.slots[k%uint64(len(l.slots))]
			if slot.busy != nil {
				select { // serial: the sequence's previous request is back first
				case slot.busy <- struct{}{}:
				case <-stop:
					return
				}
				sent = time.Now()
			}
			q = slot.sequence(l.e.seq, w.sequence.data)
			q.set(w.sequence.caller, w.sequence.data)
		}
		w.issued.Add(1)
		w.recording().sent(sent.Sub(due))
		w.recorded()
		timing, err := w.caller.Do(ctx)
		end := time.Now()
		prevEnd = end
		t := w.recording()
		t.add(end.Sub(due), end.Sub(sent), sent.Sub(due), busy, timing, err, end)
		if t.exp != nil {
			w.exportRequest(l.e.o.Export, t, sent, end, timing, err, q.ID)
		}
		if slot != nil {
			slot.done(l.e.seq, q, err, t)
		}
		w.done.Add(1)
		w.recorded()
		l.idle.Add(1)
		if stopped(stop) {
			return
		}
	}
}
