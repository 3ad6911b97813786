package loadgen

import (
	"time"

	"github.com/perfgo/perfgo/pkg/client"
)

// sentIndexer is a Caller that says which of its prepared requests its
// latest Do sent (client.Cycle's Call).
type sentIndexer interface{ Sent() int }

// responder is a Caller that decodes its latest response (client.Call).
type responder interface {
	Response() (*client.InferResponse, error)
}

// exporting is a worker's export state; nil when the run exports nothing.
type exporting struct {
	sent   sentIndexer         // nil: the Caller sends one request
	keeper client.OutputKeeper // nil: see responder
	resp   responder           // nil: no outputs to export
}

// startExport gives a new worker its export buffers and asks its Caller
// to keep outputs. Called before the worker is registered.
func (e *engine) startExport(w *worker) {
	if e.o.Export == nil {
		return
	}
	w.export = &exporting{}
	w.export.sent, _ = w.caller.(sentIndexer)
	if k, ok := w.caller.(client.OutputKeeper); ok {
		k.KeepOutputs(true)
		w.export.keeper = k
	} else {
		w.export.resp, _ = w.caller.(responder)
	}
	for _, t := range w.tallies {
		t.exp = e.o.Export.Buffer()
	}
}

// exportRequest records a successful request, sent at start, into the
// tally's export buffer, handing the buffer over when it is full. It runs
// in the worker's recording section, only when exporting: decoding the
// outputs allocates, outside the request's measured time.
func (w *worker) exportRequest(ex Exporter, t *tally, start, end time.Time, timing client.Timing, err error, seqID uint64) {
	if err != nil {
		return // no response to export; failures are counted in the report
	}
	b := t.exp
	request := 0
	if w.export.sent != nil {
		request = w.export.sent.Sent()
	}
	b.Begin(start, request, seqID)
	if timing.Responses > 0 {
		// A stream: every response that carried outputs.
		at := start.Add(timing.First)
		b.Response(at)
		for _, g := range timing.Gaps {
			at = at.Add(g)
			b.Response(at)
		}
	} else {
		b.Response(end)
	}
	// Undecodable outputs are exported as {} (End).
	switch {
	case w.export.keeper != nil:
		_ = w.export.keeper.Outputs(b.Outputs)
	case w.export.resp != nil:
		if r, err := w.export.resp.Response(); err == nil {
			b.Outputs(r.Outputs)
		}
	}
	b.End()
	if b.Full() {
		t.exp = ex.Send(b)
	}
}

// exportLevel starts the experiment of level v: the workers' records so
// far are sent first (to the experiment before, or to this one for
// warm-up), then the mark. Only the controller calls it, between levels.
func (e *engine) exportLevel(v float64) {
	if e.o.Export == nil {
		return
	}
	e.regMu.Lock()
	target := e.target // between levels: outside, or none after warm-up
	e.regMu.Unlock()
	e.swap(target, target)
	e.o.Export.Level(e.o.Mode, v)
}

// exportWindow marks a window once its records were sent (swap).
func (e *engine) exportWindow(w *window) {
	if e.o.Export != nil {
		e.o.Export.Window(w.start, w.end)
	}
}
