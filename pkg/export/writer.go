// Package export writes and reads perf_analyzer's profile export
// (--profile-export-file): every request's send time, response times,
// inputs and outputs, one experiment per load level.
//
// perf_analyzer keeps every request and tensor in memory until the run
// ends; perfgo streams them to disk as the run goes. Workers fill Buffers
// (BufferRecords requests each, their outputs' bytes copied into the
// Buffer's arena) and hand each full one to the Writer's goroutine, which
// encodes it to a bufio.Writer and recycles it: memory is a few Buffers
// per worker, whatever the run's length. Each prepared request's
// request_inputs are encoded once (Inputs); records name them by index.
//
// The layout, compact and with keys in this order:
//
//	{"experiments":[{"experiment":{"mode":"concurrency"|"request_rate","value":N},
//	  "requests":[{"timestamp":ns,"sequence_id":N (when not 0),
//	    "request_inputs":{"NAME":value,...},"response_timestamps":[ns,...],
//	    "response_outputs":[{"NAME":value,...},...]},...],
//	  "window_boundaries":[start_1,end_1,end_2,...]},...],
//	 "version":"perfgo ...","service_kind":"triton","endpoint":""}
//
// A value is a string for BYTES (each element without its length prefix),
// a number (true/false for BOOL) for the other types, an array when the
// tensor has other than one element; FP16 and BF16 tensors are left out.
package export

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/result"
)

// queued is how many messages (Buffers, level and window marks) may wait
// for the writer before senders block: disk slower than the load slows
// the workers rather than growing memory.
const queued = 16

// spare is how many emptied Buffers the writer keeps for reuse.
const spare = 16

// Options describe the export's fixed parts.
type Options struct {
	// Version is the export's "version": "perfgo " and perfgo's version.
	Version string
	// Endpoint is "endpoint" (perf_analyzer's --endpoint; "" for KServe v2).
	Endpoint string
	// Inputs are the request_inputs objects of the prepared requests, by
	// index (see Inputs); a record naming no such request gets {}.
	Inputs [][]byte
}

// message is what the writer's goroutine receives: a Buffer of records,
// or a level's start, or a window.
type message struct {
	buf        *Buffer
	level      bool
	mode       result.Mode
	value      float64
	start, end int64
}

// Writer encodes an export to w from one goroutine. Buffer, Send, Level
// and Window may be called from any goroutine until Close, which must
// come after every other call has returned.
type Writer struct {
	o    Options
	bw   *bufio.Writer
	in   chan message
	free chan *Buffer
	done chan struct{}

	// Owned by the goroutine until done is closed.
	err         error
	open        bool // an experiment's requests array is open
	requests    int  // requests written in the open experiment
	experiments int
	bounds      []int64
	scratch     []byte
	skipped     []string

	closed bool
}

// NewWriter starts the writer's goroutine; Close ends it.
func NewWriter(w io.Writer, o Options) *Writer {
	x := &Writer{
		o:    o,
		bw:   bufio.NewWriterSize(w, 256<<10),
		in:   make(chan message, queued),
		free: make(chan *Buffer, spare),
		done: make(chan struct{}),
	}
	x.write([]byte(`{"experiments":[`))
	go x.run()
	return x
}

// Buffer returns an empty Buffer, a recycled one when there is one.
func (x *Writer) Buffer() *Buffer {
	select {
	case b := <-x.free:
		return b
	default:
		return NewBuffer()
	}
}

// Send hands b's records to the writer and returns an empty Buffer to
// record into (b itself when it holds none).
func (x *Writer) Send(b *Buffer) *Buffer {
	if b.Len() == 0 {
		return b
	}
	x.in <- message{buf: b}
	return x.Buffer()
}

// Level starts an experiment: the records sent from now on are its own.
func (x *Writer) Level(mode result.Mode, value float64) {
	x.in <- message{level: true, mode: mode, value: value}
}

// Window adds a measurement window of the current experiment: the first
// adds its start and end, each following (which starts where the one
// before ended) its end.
func (x *Writer) Window(start, end time.Time) {
	x.in <- message{start: start.UnixNano(), end: end.UnixNano()}
}

// Close writes what was sent, ends the document and flushes it; it does
// not close the underlying writer. The export is valid JSON whatever
// stopped the run.
func (x *Writer) Close() error {
	if x.closed {
		return x.err
	}
	x.closed = true
	close(x.in)
	<-x.done
	x.endExperiment()
	x.write([]byte(`],"version":`))
	x.scratch = datatype.AppendJSONString(x.scratch[:0], x.o.Version)
	x.scratch = append(x.scratch, `,"service_kind":"triton","endpoint":`...)
	x.scratch = datatype.AppendJSONString(x.scratch, x.o.Endpoint)
	x.scratch = append(x.scratch, "}\n"...)
	x.write(x.scratch)
	if err := x.bw.Flush(); err != nil && x.err == nil {
		x.err = err
	}
	return x.err
}

// Skipped lists the datatypes of the outputs left out of the export
// (FP16, BF16); read it after Close.
func (x *Writer) Skipped() []string { return x.skipped }

func (x *Writer) run() {
	defer close(x.done)
	for m := range x.in {
		switch {
		case m.buf != nil:
			x.records(m.buf)
			m.buf.Reset()
			select {
			case x.free <- m.buf:
			default: // enough spares: let it go
			}
		case m.level:
			x.startExperiment(m.mode, m.value)
		default:
			if len(x.bounds) == 0 {
				x.bounds = append(x.bounds, m.start)
			}
			x.bounds = append(x.bounds, m.end)
		}
	}
}

func (x *Writer) write(b []byte) {
	if x.err != nil {
		return
	}
	if _, err := x.bw.Write(b); err != nil {
		x.err = err
	}
}

func (x *Writer) startExperiment(mode result.Mode, value float64) {
	x.endExperiment()
	b := x.scratch[:0]
	if x.experiments > 0 {
		b = append(b, ',')
	}
	x.experiments++
	b = append(b, `{"experiment":{"mode":"`...)
	b = append(b, Mode(mode)...)
	b = append(b, `","value":`...)
	if mode == result.Concurrency {
		b = strconv.AppendUint(b, uint64(max(value, 0)), 10)
	} else {
		b = appendDouble(b, value) // perf_analyzer's request rate is a double
	}
	b = append(b, `},"requests":[`...)
	x.write(b)
	x.scratch = b
	x.open, x.requests, x.bounds = true, 0, x.bounds[:0]
}

// Mode is the export's name of a level's mode: "concurrency", or
// "request_rate" for request rates and interval files, as perf_analyzer
// names them.
func Mode(m result.Mode) string {
	if m == result.Concurrency {
		return "concurrency"
	}
	return "request_rate"
}

// appendDouble writes v as rapidjson writes a double: with a fraction.
func appendDouble(b []byte, v float64) []byte {
	n := len(b)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	if !slices.Contains(b[n:], '.') {
		b = append(b, '.', '0')
	}
	return b
}

func (x *Writer) endExperiment() {
	if !x.open {
		return
	}
	b := append(x.scratch[:0], `],"window_boundaries":[`...)
	for i, v := range x.bounds {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, "]}"...)
	x.write(b)
	x.scratch = b
	x.open = false
}

// records encodes b's records into the open experiment.
func (x *Writer) records(b *Buffer) {
	if !x.open {
		// The engine starts an experiment before any request completes;
		// records without one still belong in the file.
		x.startExperiment(result.Concurrency, 0)
	}
	out := x.scratch[:0]
	for _, r := range b.recs {
		if x.requests > 0 {
			out = append(out, ',')
		}
		x.requests++
		out = append(out, `{"timestamp":`...)
		out = strconv.AppendInt(out, r.send, 10)
		if r.seqID != 0 {
			out = append(out, `,"sequence_id":`...)
			out = strconv.AppendUint(out, r.seqID, 10)
		}
		out = append(out, `,"request_inputs":`...)
		if r.request >= 0 && r.request < len(x.o.Inputs) {
			out = append(out, x.o.Inputs[r.request]...)
		} else {
			out = append(out, "{}"...)
		}
		out = append(out, `,"response_timestamps":[`...)
		for i, t := range b.times[r.times.first:][:r.times.n] {
			if i > 0 {
				out = append(out, ',')
			}
			out = strconv.AppendInt(out, t, 10)
		}
		out = append(out, `],"response_outputs":[`...)
		for i, rs := range b.resps[r.resps.first:][:r.resps.n] {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, '{')
			n := 0
			for _, t := range b.tensors[rs.first:][:rs.n] {
				out, n = x.appendTensor(out, n, t.name, t.datatype, b.arena[t.data.first:][:t.data.n])
			}
			out = append(out, '}')
		}
		out = append(out, "]}"...)
		if len(out) >= 64<<10 {
			x.write(out)
			out = out[:0]
		}
	}
	x.write(out)
	x.scratch = out
}

// appendTensor adds "name":value to an object of n members, unless its
// datatype has no export form (FP16, BF16: noted in skipped).
func (x *Writer) appendTensor(out []byte, n int, name, dt string, data []byte) ([]byte, int) {
	var skip string
	out, skip = appendMember(out, n, name, dt, data)
	if skip != "" {
		if !slices.Contains(x.skipped, skip) {
			x.skipped = append(x.skipped, skip)
		}
		return out, n
	}
	return out, n + 1
}

// appendMember adds "name":value to an object of n members, or returns
// the datatype it cannot export.
func appendMember(out []byte, n int, name, dt string, data []byte) ([]byte, string) {
	t, err := datatype.Parse(dt)
	if err != nil || t == datatype.FP16 || t == datatype.BF16 {
		return out, dt
	}
	if n > 0 {
		out = append(out, ',')
	}
	out = datatype.AppendJSONString(out, name)
	out = append(out, ':')
	elems := 0
	if t == datatype.Bytes {
		elems, _ = datatype.BytesElements(data)
	} else if t.Size() > 0 {
		elems = len(data) / t.Size()
	}
	m := len(out)
	out = datatype.AppendJSONLenient(out, t, data)
	if elems == 1 {
		// One element is a scalar: drop the array's brackets.
		out = append(out[:m], out[m+1:len(out)-1]...)
	}
	return out, ""
}

// Inputs encodes the request_inputs object of a prepared request's input
// tensors, once, for every record of that request; skipped lists the
// datatypes left out (FP16, BF16).
func Inputs(tensors []client.Tensor) (obj []byte, skipped []string) {
	obj = append(obj, '{')
	n := 0
	for _, t := range tensors {
		var skip string
		if obj, skip = appendMember(obj, n, t.Name, t.Datatype, t.Data); skip != "" {
			if !slices.Contains(skipped, skip) {
				skipped = append(skipped, skip)
			}
			continue
		}
		n++
	}
	return append(obj, '}'), skipped
}
