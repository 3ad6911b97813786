package main

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/inputs"
	"github.com/perfgo/perfgo/pkg/loadgen"
)

// sequenceOptions maps the sequence flags onto the engine's options.
func (o *profileOptions) sequenceOptions(t *target) *loadgen.SequenceOptions {
	so := &loadgen.SequenceOptions{
		Length:    o.SequenceLength,
		Variation: o.SequenceLengthVariation,
		IDStart:   o.SequenceIDStart,
		IDEnd:     o.SequenceIDEnd,
		StringID:  t.sequence.stringID,
		Live:      o.NumSequences,
		Serial:    o.SerialSequences,
		Seed:      uint64(o.Seed),
	}
	if t.data != nil && !o.sequenceLengthSet {
		// perf_analyzer: with data and no --sequence-length, a sequence
		// is as long as its stream.
		so.Variation = 0
	}
	return so
}

// sequenceData sends each sequence from one data stream (a Cycle over
// every step of every stream, moved to the step the engine names). A new
// sequence's stream is picked at random, as perf_analyzer does.
type sequenceData struct {
	call   client.Call
	seq    client.Sequencer
	seek   seeker
	spans  []streamSpan
	rng    *rand.Rand
	ownLen bool // lengths are the streams'
}

// seeker is Cycle's Call: Seek makes the next Do send prepared[i].
type seeker interface{ Seek(i int) }

// streamSpan is one stream's steps among the Cycle's requests.
type streamSpan struct{ first, n int }

// streamSpans places each data stream's steps among the requests
// DataSet.Requests made, one per step (sequence models take batch 1).
func streamSpans(data *inputs.DataSet) []streamSpan {
	var spans []streamSpan
	first := 0
	for _, st := range data.Streams {
		if len(st) > 0 {
			spans = append(spans, streamSpan{first, len(st)})
			first += len(st)
		}
	}
	return spans
}

func newSequenceData(c client.Call, spans []streamSpan, ownLen bool, seed uint64) (*sequenceData, error) {
	sk, ok := c.(seeker)
	sq, ok2 := c.(client.Sequencer)
	if !ok || !ok2 {
		return nil, fmt.Errorf("the requests of a sequence cannot be chosen step by step")
	}
	if len(spans) == 0 {
		return nil, fmt.Errorf("a sequence model's requests need data streams")
	}
	return &sequenceData{call: c, seq: sq, seek: sk, spans: spans, ownLen: ownLen, rng: rand.New(rand.NewPCG(seed, 0x5e9))}, nil
}

func (d *sequenceData) Do(ctx context.Context) (client.Timing, error) { return d.call.Do(ctx) }

func (d *sequenceData) SetSequence(q client.Sequence) { d.seq.SetSequence(q) }

// Sent, KeepOutputs and Outputs are the Cycle's, for the profile export.
func (d *sequenceData) Sent() int {
	if s, ok := d.call.(interface{ Sent() int }); ok {
		return s.Sent()
	}
	return 0
}

func (d *sequenceData) KeepOutputs(on bool) {
	if k, ok := d.call.(client.OutputKeeper); ok {
		k.KeepOutputs(on)
	}
}

func (d *sequenceData) Outputs(fn func([]client.Tensor)) error {
	if k, ok := d.call.(client.OutputKeeper); ok {
		return k.Outputs(fn)
	}
	return nil
}

func (d *sequenceData) Connect(ctx context.Context) error {
	if c, ok := d.call.(client.Connector); ok {
		return c.Connect(ctx)
	}
	return nil
}

func (d *sequenceData) BeginSequence() (stream, length int) {
	stream = d.rng.IntN(len(d.spans))
	if !d.ownLen {
		return stream, 0 // --sequence-length: the steps wrap around
	}
	return stream, d.spans[stream].n
}

func (d *sequenceData) SetStep(stream, step int) {
	sp := d.spans[stream]
	d.seek.Seek(sp.first + step%sp.n)
}
