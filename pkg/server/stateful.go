package server

import (
	"context"
	"encoding/binary"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// sequenceBackend is a stateful model: OUTPUT is the running sum of INPUT
// over the requests of one sequence (Triton's correlation id). It keeps,
// for tests and users, what Triton's sequence batcher would log: requests
// per sequence id, sequences started, restarted, ended and expired, and
// requests that arrived while another of their sequence was in flight.
type sequenceBackend struct {
	name string
	max  int
	idle time.Duration
	// hold is how long each request keeps its sequence busy
	// (Options.SequenceHold), so that overlapping requests show.
	hold time.Duration
	// stringIDs: the model's correlation id is a string (CORRID
	// TYPE_STRING); numeric ids are refused.
	stringIDs bool
	log       *slog.Logger

	mu       sync.Mutex // guards everything below; held only for map updates
	seqs     map[sequenceID]*seqState
	requests map[sequenceID]uint64
	counts   sequenceCounts
}

type seqState struct {
	sum      int32
	last     time.Time
	inflight int
}

// sequenceCounts are a sequence model's cumulative counters.
type sequenceCounts struct {
	started, restarted, ended, expired, serialViolations uint64
}

func sequenceModel(name string, stringIDs bool, opts Options) *model {
	b := &sequenceBackend{name: name, max: opts.MaxSequences, idle: opts.SequenceIdle, hold: opts.SequenceHold,
		stringIDs: stringIDs, log: opts.Logger,
		seqs: make(map[sequenceID]*seqState), requests: make(map[sequenceID]uint64)}
	idType, idKind := inferencepb.DataType_TYPE_UINT64, "uint64 (a string is accepted too)"
	if stringIDs {
		idType, idKind = inferencepb.DataType_TYPE_STRING, "string"
	}
	return newModel(modelSpec{
		name:    name,
		inputs:  []tensorSpec{{name: "INPUT", dt: datatype.Int32, dims: []int64{1}}},
		outputs: []tensorSpec{{name: "OUTPUT", dt: datatype.Int32, dims: []int64{1}}},
		sequence: &inferencepb.ModelSequenceBatching{
			MaxSequenceIdleMicroseconds: uint64(opts.SequenceIdle.Microseconds()),
			ControlInput: []*inferencepb.ModelSequenceBatching_ControlInput{{
				Name: "CORRID",
				Control: []*inferencepb.ModelSequenceBatching_Control{{
					Kind:     inferencepb.ModelSequenceBatching_Control_CONTROL_SEQUENCE_CORRID,
					DataType: idType,
				}},
			}},
		},
		parameters: map[string]string{
			"execution":      "inline, one request at a time per sequence; OUTPUT is the running sum of INPUT",
			"max_sequences":  strconv.Itoa(opts.MaxSequences),
			"correlation_id": idKind,
			"hold_us":        strconv.FormatInt(opts.SequenceHold.Microseconds(), 10),
		},
	}, b, nil)
}

func (b *sequenceBackend) execute(ctx context.Context, m *model, r *request, pt *phaseTimes, res *response) error {
	t0 := time.Now()
	if b.stringIDs && r.seqID.str == "" {
		return errorf(kindInvalid, "model '%s' takes string correlation ids (its CORRID control is TYPE_STRING); send sequence_id %d as a string", b.name, r.seqID.num)
	}
	v := int32(binary.LittleEndian.Uint32(r.input("INPUT").data))
	out := make([]byte, 4)
	t1 := time.Now()
	st, sum, err := b.begin(r, v, t1)
	if err != nil {
		return err
	}
	var holdErr error
	if b.hold > 0 {
		holdErr = sleepCtx(ctx, b.hold)
	}
	b.finish(st)
	if holdErr != nil {
		return errorf(kindUnavailable, "request cancelled while it held sequence %s: %v", r.seqID.key(), holdErr)
	}
	binary.LittleEndian.PutUint32(out, uint32(sum))
	t2 := time.Now()
	res.outputs = res.buf[:0]
	if r.wantsOutput("OUTPUT") {
		res.outputs = append(res.outputs, tensor{name: "OUTPUT", dt: datatype.Int32, shape: []int64{1}, data: out})
	}
	t3 := time.Now()
	pt.computeInput, pt.computeInfer, pt.computeOutput = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2)
	m.stats.recordExecution(1, pt.computeInput, pt.computeInfer, pt.computeOutput)
	return nil
}

// begin applies one request to its sequence, with Triton's rules: a
// request that is not a start needs an open sequence; a start on an open
// sequence restarts it; an end closes it. It returns the sequence (to
// finish) and the running sum.
func (b *sequenceBackend) begin(r *request, v int32, now time.Time) (*seqState, int32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests[r.seqID]++
	st, ok := b.seqs[r.seqID]
	if ok && b.idledOut(r.seqID, st, now) {
		st, ok = nil, false
	}
	switch {
	case r.seqStart && !ok:
		if len(b.seqs) >= b.max {
			b.expireIdle(now)
		}
		if len(b.seqs) >= b.max {
			return nil, 0, errorf(kindUnavailable, "model '%s' already has %d live sequences; end some with sequence_end=true or wait %v for idle ones to expire", b.name, b.max, b.idle)
		}
		st = &seqState{}
		b.seqs[r.seqID] = st
		b.counts.started++
	case r.seqStart:
		// Triton warns and lets the new sequence replace the old one.
		b.log.Warn("sequence restarted before its end", "model", b.name, "sequence", r.seqID.key())
		b.counts.restarted++
		st.sum = 0
	case !ok:
		return nil, 0, errorf(kindInvalid, "inference request for sequence %s to model '%s' must specify the START flag on the first request of the sequence", r.seqID.key(), b.name)
	}
	if st.inflight > 0 {
		b.counts.serialViolations++
	}
	st.inflight++
	st.sum += v
	st.last = now
	if r.seqEnd {
		delete(b.seqs, r.seqID)
		b.counts.ended++
	}
	return st, st.sum, nil
}

// finish marks a request of st done.
func (b *sequenceBackend) finish(st *seqState) {
	b.mu.Lock()
	st.inflight--
	st.last = time.Now()
	b.mu.Unlock()
}

// idledOut ends st if it has been idle over the limit, as Triton's reaper
// (max_sequence_idle_microseconds) does, and says whether it did. b.mu is held.
func (b *sequenceBackend) idledOut(id sequenceID, st *seqState, now time.Time) bool {
	if st.inflight > 0 || now.Sub(st.last) <= b.idle {
		return false
	}
	delete(b.seqs, id)
	b.counts.expired++
	b.log.Info("sequence idle too long: ended", "model", b.name, "sequence", id.key(), "idle_limit", b.idle)
	return true
}

// expireIdle ends every idle sequence. b.mu is held.
func (b *sequenceBackend) expireIdle(now time.Time) {
	for id, st := range b.seqs {
		b.idledOut(id, st, now)
	}
}

// snapshot expires idle sequences and returns what the model saw.
func (b *sequenceBackend) snapshot() SequenceStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expireIdle(time.Now())
	out := SequenceStats{
		Requests:         make(map[string]uint64, len(b.requests)),
		Open:             make([]string, 0, len(b.seqs)),
		Started:          b.counts.started,
		Restarted:        b.counts.restarted,
		Ended:            b.counts.ended,
		Expired:          b.counts.expired,
		SerialViolations: b.counts.serialViolations,
	}
	for id, n := range b.requests {
		out.Requests[id.key()] += n
	}
	for id := range b.seqs {
		out.Open = append(out.Open, id.key())
	}
	slices.Sort(out.Open)
	return out
}

// SequenceStats is what a stateful model has seen since the server started.
type SequenceStats struct {
	// Requests counts the requests received per sequence id (its decimal
	// text, or the string id), failed ones included.
	Requests map[string]uint64
	// Open lists the ids of the sequences open now, sorted; idle ones are
	// expired first.
	Open []string
	// Started counts new sequences, Restarted starts on an open sequence
	// (which Triton lets replace it), Ended sequence_end requests, Expired
	// sequences ended for idling over SequenceIdle.
	Started, Restarted, Ended, Expired uint64
	// SerialViolations counts requests that arrived while another request
	// of their sequence was still in flight.
	SerialViolations uint64
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// repeatBackend is the decoupled "repeat" model: for IN of N values it sends
// N responses, response i carrying OUT = IN[i] and IDX = i.
type repeatBackend struct{}

func repeatModel() *model {
	return newModel(modelSpec{
		name:   "repeat",
		inputs: []tensorSpec{{name: "IN", dt: datatype.Int32, dims: []int64{-1}}},
		outputs: []tensorSpec{
			{name: "OUT", dt: datatype.Int32, dims: []int64{1}},
			{name: "IDX", dt: datatype.Uint32, dims: []int64{1}},
		},
		decoupled: true,
		parameters: map[string]string{
			"execution": "inline; one response per element of IN, over gRPC ModelStreamInfer",
		},
	}, nil, repeatBackend{})
}

func (repeatBackend) stream(_ context.Context, m *model, r *request, pt *phaseTimes, emit func(*response) error) error {
	t0 := time.Now()
	in := r.input("IN").data
	n := len(in) / 4
	t1 := time.Now()
	for i := range n {
		buf := make([]byte, 8) // the transport keeps it until sent
		copy(buf, in[4*i:4*i+4])
		binary.LittleEndian.PutUint32(buf[4:], uint32(i))
		res := response{hasFinal: true, final: i == n-1 && !r.enableEmptyFinal}
		res.outputs = res.buf[:0]
		if r.wantsOutput("OUT") {
			res.outputs = append(res.outputs, tensor{name: "OUT", dt: datatype.Int32, shape: []int64{1}, data: buf[:4]})
		}
		if r.wantsOutput("IDX") {
			res.outputs = append(res.outputs, tensor{name: "IDX", dt: datatype.Uint32, shape: []int64{1}, data: buf[4:]})
		}
		if err := emit(&res); err != nil {
			return errorf(kindUnavailable, "sending response %d of %d: %v", i, n, err)
		}
	}
	if r.enableEmptyFinal {
		if err := emit(&response{hasFinal: true, final: true}); err != nil {
			return errorf(kindUnavailable, "sending the final empty response: %v", err)
		}
	}
	t2 := time.Now()
	pt.computeInput, pt.computeInfer = t1.Sub(t0), t2.Sub(t1)
	m.stats.recordExecution(1, pt.computeInput, pt.computeInfer, 0)
	return nil
}
