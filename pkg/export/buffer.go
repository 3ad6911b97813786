package export

import (
	"time"

	"github.com/perfgo/perfgo/pkg/client"
)

// BufferRecords is how many requests a Buffer holds before it goes to the
// writer: one channel send per this many requests, never one per request.
const BufferRecords = 256

// bufferBytes is how many output bytes a Buffer holds before it goes to
// the writer, whatever its record count: large outputs must not make
// memory grow with BufferRecords.
const bufferBytes = 1 << 20

// Buffer is one worker's records of completed requests, handed whole to
// the Writer. Everything a record needs lives in the Buffer's own slices
// (response times, outputs' bytes copied into an arena), which are kept
// when the Buffer is recycled: a worker's recording allocates nothing once
// its buffers have grown, apart from the names of the outputs.
type Buffer struct {
	recs    []record
	times   []int64  // response timestamps, ns since the epoch
	resps   []span   // one per response: its tensors
	tensors []tensor // outputs of the responses
	arena   []byte   // the outputs' bytes
}

// record is one request: send time, which prepared request, its
// sequence, and spans of the Buffer's times and responses.
type record struct {
	send    int64
	seqID   uint64
	request int
	times   span
	resps   span
}

type span struct{ first, n int }

// tensor is one output of one response; its data is arena[data.first:][:data.n].
type tensor struct {
	name, datatype string
	data           span
}

// NewBuffer returns an empty Buffer; Writer.Buffer recycles them.
func NewBuffer() *Buffer { return &Buffer{recs: make([]record, 0, BufferRecords)} }

// Len is the number of records.
func (b *Buffer) Len() int { return len(b.recs) }

// Full says the Buffer should go to the writer.
func (b *Buffer) Full() bool { return len(b.recs) >= BufferRecords || len(b.arena) >= bufferBytes }

// Begin starts the record of a request sent at send: request is the index
// of the prepared request it was, seqID its sequence (0: none).
func (b *Buffer) Begin(send time.Time, request int, seqID uint64) {
	b.recs = append(b.recs, record{
		send: send.UnixNano(), seqID: seqID, request: request,
		times: span{first: len(b.times)}, resps: span{first: len(b.resps)},
	})
}

// Response adds a response's arrival to the current record.
func (b *Buffer) Response(at time.Time) {
	b.times = append(b.times, at.UnixNano())
	b.recs[len(b.recs)-1].times.n++
}

// Outputs adds one response's outputs to the current record, copying their
// bytes: outs may be reused once Outputs returns.
func (b *Buffer) Outputs(outs []client.Tensor) {
	r := span{first: len(b.tensors)}
	for _, t := range outs {
		d := span{first: len(b.arena), n: len(t.Data)}
		b.arena = append(b.arena, t.Data...)
		b.tensors = append(b.tensors, tensor{name: t.Name, datatype: t.Datatype, data: d})
		r.n++
	}
	b.resps = append(b.resps, r)
	b.recs[len(b.recs)-1].resps.n++
}

// Reset empties the Buffer, keeping its storage.
func (b *Buffer) Reset() {
	clear(b.tensors) // drop the names
	b.recs, b.times, b.resps, b.tensors, b.arena = b.recs[:0], b.times[:0], b.resps[:0], b.tensors[:0], b.arena[:0]
}

// End ends the current record with one output object per response: a
// response whose outputs were not added (not kept, or not decodable) gets
// an empty one, outputs beyond the responses are dropped.
func (b *Buffer) End() {
	r := &b.recs[len(b.recs)-1]
	if extra := r.resps.n - r.times.n; extra > 0 {
		b.resps = b.resps[:len(b.resps)-extra]
		r.resps.n = r.times.n
	}
	for r.resps.n < r.times.n {
		b.resps = append(b.resps, span{first: len(b.tensors)})
		r.resps.n++
	}
}
