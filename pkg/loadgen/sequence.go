package loadgen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/perfgo/perfgo/pkg/client"
)

// SequenceOptions make every request part of a sequence, for stateful
// models (perf_analyzer's sequence options). In closed loop each worker
// keeps one sequence open; in open loop Live sequences share the schedule.
type SequenceOptions struct {
	// Length is the base number of requests per sequence; 0 means 20.
	// A SequenceCaller with data streams may fix each sequence's length.
	Length int
	// Variation is the ± percentage around Length of each new sequence's
	// (uniformly random) length, at least 1.
	Variation float64
	// IDStart and IDEnd bound the sequence ids (IDEnd exclusive); ids are
	// taken round-robin, skipping those still in use. 0 means 1 and 2^32.
	IDStart, IDEnd uint64
	// StringID sends ids as strings (the model's correlation id is a string).
	StringID bool
	// Live is the number of sequences open at once in open loop; 0 means 4.
	Live int
	// Serial allows at most one request of a sequence in flight (open
	// loop; closed loop always is): a due request whose sequence is busy
	// waits, and is counted late if that makes it late.
	Serial bool
	// Seed seeds the lengths; 0 picks one.
	Seed uint64
}

// SequenceCaller is the Caller of a stateful model: SetSequence sets the
// sequence parameters of the following Do calls. client's Calls satisfy it.
type SequenceCaller interface {
	Caller
	SetSequence(client.Sequence)
}

// SequenceData is a SequenceCaller whose requests come from data
// streams, one stream per sequence. BeginSequence is called before a
// sequence's first request and picks its stream, returning the stream and
// the sequence's length (0: the engine's); SetStep makes the following
// Do send step k of a stream (the Caller wraps k around the stream).
// In open loop one sequence's requests go through different Callers.
type SequenceData interface {
	BeginSequence() (stream, length int)
	SetStep(stream, step int)
}

const (
	defaultSequenceLength = 20
	defaultLiveSequences  = 4
	defaultSequenceIDEnd  = 1 << 32
)

func (s *SequenceOptions) normalize(o *Options) error {
	zeroDefault(&s.Length, defaultSequenceLength)
	zeroDefault(&s.Live, defaultLiveSequences)
	if s.IDStart == 0 {
		s.IDStart = 1
	}
	if s.IDEnd == 0 {
		s.IDEnd = defaultSequenceIDEnd
	}
	if s.Seed == 0 {
		s.Seed = rand.Uint64() | 1
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Length < 0 {
		bad("sequence length %d is negative: use 1 or more", s.Length)
	}
	if math.IsNaN(s.Variation) || s.Variation < 0 {
		bad("sequence length variation %v%% is not 0 or more: use e.g. 20", s.Variation)
	}
	if s.Live < 0 {
		bad("number of sequences %d is negative: use 1 or more", s.Live)
	}
	if s.IDEnd <= s.IDStart {
		bad("sequence id range %d:%d is empty: give start:end with end above start", s.IDStart, s.IDEnd)
	}
	// Every live sequence needs its own id.
	live := uint64(s.Live)
	what := "--num-of-sequences"
	if !o.open() {
		live, what = uint64(max(o.Start, o.End)), "the concurrency"
		if o.End == 0 {
			what = "the concurrency (an open-ended sweep has no end)"
			live = math.MaxUint64
		}
	}
	if s.IDEnd > s.IDStart && s.IDEnd-s.IDStart < live {
		bad("sequence id range %d:%d holds %d ids, fewer than %s needs at once (%d): widen the range", s.IDStart, s.IDEnd, s.IDEnd-s.IDStart, what, live)
	}
	if o.BatchSize > 1 {
		bad("batch size %d with sequences: a sequence model takes one request per step, use batch size 1", o.BatchSize)
	}
	return errors.Join(errs...)
}

// seqIDs hands out sequence ids round-robin, never one still in use. It
// is locked once per sequence, not per request.
type seqIDs struct {
	mu               sync.Mutex
	freed            sync.Cond // signalled when an id is released
	start, end, next uint64
	inUse            map[uint64]struct{}
}

func newSeqIDs(s *SequenceOptions) *seqIDs {
	a := &seqIDs{start: s.IDStart, end: s.IDEnd, next: s.IDStart, inUse: make(map[uint64]struct{})}
	a.freed.L = &a.mu
	return a
}

// take returns the next free id. When every id is in use it waits for
// one: in open loop a sequence's last request may still be in flight when
// its slot starts the next sequence, so more ids than live sequences can
// be in use; each of them is released when that request returns (the
// range holds at least one id per live sequence, so one always will).
func (a *seqIDs) take() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	for uint64(len(a.inUse)) >= a.end-a.start {
		a.freed.Wait()
	}
	for {
		id := a.next
		a.next++
		if a.next == a.end {
			a.next = a.start
		}
		if _, busy := a.inUse[id]; !busy {
			a.inUse[id] = struct{}{}
			return id
		}
	}
}

func (a *seqIDs) release(id uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.inUse, id)
	a.freed.Signal()
}

// sequencer makes sequences: ids and lengths.
type sequencer struct {
	o   SequenceOptions
	ids *seqIDs
}

// rng returns the length generator of worker or slot n.
func (s *sequencer) rng(n uint64) *rand.Rand {
	return rand.New(rand.NewPCG(s.o.Seed, n))
}

// workerSequence is a worker's sequence state: its Caller's sequence
// methods and, in closed loop, its open sequence.
type workerSequence struct {
	caller SequenceCaller
	data   SequenceData // nil: no data streams
	live   liveSequence
	rng    *rand.Rand
}

// length draws a new sequence's stream and length: the data's, or the
// base length varied uniformly by ±Variation%, at least 1.
func (s *sequencer) length(data SequenceData, rng *rand.Rand) (stream, n int) {
	if data != nil {
		if stream, n = data.BeginSequence(); n > 0 {
			return stream, n
		}
	}
	if s.o.Variation == 0 {
		return stream, s.o.Length
	}
	base := float64(s.o.Length)
	d := base * s.o.Variation / 100
	n = int(math.Round(base - d + rng.Float64()*2*d))
	return stream, max(n, 1)
}

// liveSequence is one open sequence: its id and the requests it still has
// to send. Closed loop: a worker's own; open loop: a slot's, under its lock.
type liveSequence struct {
	id     uint64
	left   int // 0: no sequence open
	sent   int
	stream int // the data stream it sends (SequenceData)
}

// seqRequest is one request of a sequence: its parameters and data step.
type seqRequest struct {
	client.Sequence
	stream, step int
}

// set makes c's next Do send r.
func (r seqRequest) set(c SequenceCaller, data SequenceData) {
	c.SetSequence(r.Sequence)
	if data != nil {
		data.SetStep(r.stream, r.step)
	}
}

// next opens a sequence if none is, and returns its next request.
func (l *liveSequence) next(s *sequencer, data SequenceData, rng *rand.Rand) seqRequest {
	if l.left == 0 {
		l.id, l.sent = s.ids.take(), 0
		l.stream, l.left = s.length(data, rng)
	}
	r := seqRequest{Sequence: client.Sequence{ID: l.id, StringID: s.o.StringID, Start: l.sent == 0, End: l.left == 1}, stream: l.stream, step: l.sent}
	l.sent++
	l.left--
	return r
}

// closing returns the request that ends the open sequence early (at the
// end of a level or the run), or false when none is open.
func (l *liveSequence) closing(s *sequencer) (seqRequest, bool) {
	if l.left == 0 {
		return seqRequest{}, false
	}
	r := seqRequest{Sequence: client.Sequence{ID: l.id, StringID: s.o.StringID, Start: l.sent == 0, End: true}, stream: l.stream, step: l.sent}
	l.sent++
	l.left = 0
	return r, true
}

// done settles request q after it completed: its sequence's id is free
// again once its last request is back. A failed request does not end its
// sequence: its next requests still carry its id and the last one
// sequence_end, so that the server is left with nothing open even when
// it did take a request the client saw fail (a timeout, or a request
// overtaken by a later one of its sequence).
func (l *liveSequence) done(s *sequencer, q seqRequest, err error, t *tally) {
	if q.End {
		s.ids.release(q.ID)
		if err == nil {
			t.seqs++
		}
	}
}
