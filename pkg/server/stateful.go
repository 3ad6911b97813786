package server

import (
	"context"
	"encoding/binary"
	"strconv"
	"sync"
	"time"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// sequenceBackend is the stateful "sequence" model: OUTPUT is the running
// sum of INPUT over the requests of one sequence (Triton's correlation id).
type sequenceBackend struct {
	max  int
	idle time.Duration

	mu   sync.Mutex // guards seqs; held only for a map update
	seqs map[sequenceID]*seqState
}

type seqState struct {
	sum  int32
	last time.Time
}

func sequenceModel(maxSequences int, idle time.Duration) *model {
	b := &sequenceBackend{max: maxSequences, idle: idle, seqs: make(map[sequenceID]*seqState)}
	return newModel(modelSpec{
		name:     "sequence",
		inputs:   []tensorSpec{{name: "INPUT", dt: datatype.Int32, dims: []int64{1}}},
		outputs:  []tensorSpec{{name: "OUTPUT", dt: datatype.Int32, dims: []int64{1}}},
		sequence: &inferencepb.ModelSequenceBatching{MaxSequenceIdleMicroseconds: uint64(idle.Microseconds())},
		parameters: map[string]string{
			"execution":     "inline, one request at a time per sequence; OUTPUT is the running sum of INPUT",
			"max_sequences": strconv.Itoa(maxSequences),
		},
	}, b, nil)
}

func (b *sequenceBackend) execute(_ context.Context, m *model, r *request, pt *phaseTimes, res *response) error {
	t0 := time.Now()
	v := int32(binary.LittleEndian.Uint32(r.input("INPUT").data))
	out := make([]byte, 4)
	t1 := time.Now()
	sum, err := b.add(r, v, t1)
	if err != nil {
		return err
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

// add applies one request to its sequence and returns the running sum.
func (b *sequenceBackend) add(r *request, v int32, now time.Time) (int32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.seqs[r.seqID]
	if ok && now.Sub(st.last) > b.idle {
		delete(b.seqs, r.seqID) // idled out, as Triton's max_sequence_idle frees it
		st, ok = nil, false
	}
	switch {
	case r.seqStart && !ok:
		if len(b.seqs) >= b.max {
			b.evictIdle(now)
		}
		if len(b.seqs) >= b.max {
			return 0, errorf(kindUnavailable, "the sequence model already has %d live sequences; end some with sequence_end=true or wait %v for idle ones to expire", b.max, b.idle)
		}
		st = &seqState{}
		b.seqs[r.seqID] = st
	case r.seqStart:
		st.sum = 0 // a new start restarts the sequence
	case !ok:
		return 0, errorf(kindInvalid, "sequence %v is not active: its first request must set sequence_start=true (or it was idle over %v, or already ended)", r.seqID, b.idle)
	}
	st.sum += v
	st.last = now
	if r.seqEnd {
		delete(b.seqs, r.seqID)
	}
	return st.sum, nil
}

func (b *sequenceBackend) evictIdle(now time.Time) {
	for id, st := range b.seqs {
		if now.Sub(st.last) > b.idle {
			delete(b.seqs, id)
		}
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
