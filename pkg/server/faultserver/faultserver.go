// Package faultserver puts faults between a v2 client and perfgo's
// reference server, for tests that check that a client neither hangs nor
// lies when a server misbehaves.
//
// A Proxy fronts a real server (Start runs servertest.Start behind it) on
// 127.0.0.1: control calls (health, metadata, configuration, statistics,
// repository index) pass unchanged over HTTP and gRPC, while inference
// calls, unary and streamed (gRPC ModelStreamInfer, HTTP generate_stream),
// meet the Fault set at the moment, switchable at run time from the
// test's goroutine. Kill and Restart cut the proxy off and bring it back on
// the same ports, as a server restart looks to a client. TCP listeners that
// never speak HTTP (Silent, NotHTTP) cover start-up.
//
// Every fake listens on 127.0.0.1 only and stops in its tb cleanup, waiting
// for every goroutine it started.
package faultserver

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Kind is what a fault does to an inference request.
type Kind int

const (
	// None answers normally (the request is forwarded).
	None Kind = iota
	// Stall holds the request until the fault is changed by Set (then it
	// is forwarded), the client gives up or the proxy is killed or closed.
	Stall
	// Drop holds the request and never answers it: only the client giving
	// up, Kill or Close end it.
	Drop
	// Drip forwards the request and sends the answer's body one byte at a
	// time, Fault.Delay apart (HTTP only).
	Drip
	// Garbage answers 200 with random bytes (HTTP only).
	Garbage
	// HTML answers 200 with a text/html page (HTTP only).
	HTML
	// MissingOutputs answers a well-formed response without any output:
	// HTTP 200 {"model_name":...,"outputs":[]}, gRPC a ModelInferResponse
	// with no outputs and no raw contents.
	MissingOutputs
	// ShortData forwards the request and cuts the answer's tensor data to
	// half, keeping the declared shapes and sizes: over HTTP the binary
	// section is shorter than its header declares (a JSON answer is cut in
	// half) but Content-Length is honest; over gRPC the last raw output
	// content is halved.
	ShortData
	// Truncate forwards the request and closes the connection after half
	// the answer's body, whose Content-Length promised all of it (HTTP only).
	Truncate
	// Huge answers a well-formed response with one UINT8 output of
	// Fault.Size bytes, streamed from a small buffer (never allocated at
	// once, on either protocol).
	Huge

	// The stream kinds below apply to streamed requests only (gRPC
	// ModelStreamInfer, HTTP generate_stream), which are forwarded: the
	// first Fault.Before responses of a request they hit pass, then the
	// fault strikes.

	// StreamCut ends the stream before the request's final response: over
	// gRPC the call ends with status OK (the client reads io.EOF), over
	// HTTP the connection is aborted mid-body (a clean end of the body is
	// the generate extension's normal end of a request, so it cannot be a
	// fault).
	StreamCut
	// StreamError answers an error for the request: over gRPC a
	// ModelStreamInferResponse with error_message, over HTTP an event
	// {"error": "..."} ending the body, as Triton does.
	StreamError
	// NoFinal forwards every response of the request except the one that
	// ends it (gRPC: the empty triton_final_response; HTTP: the end of the
	// body), then keeps the stream open and silent until the client gives
	// up or the proxy is killed or closed.
	NoFinal
	// StreamGarbage replaces a response: over gRPC with an infer_response
	// that is not a valid ModelInferResponse, over HTTP with an event whose
	// data is not JSON. The rest of the request's responses follow.
	StreamGarbage
)

var kindNames = [...]string{"None", "Stall", "Drop", "Drip", "Garbage", "HTML", "MissingOutputs", "ShortData", "Truncate", "Huge",
	"StreamCut", "StreamError", "NoFinal", "StreamGarbage"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// httpOnly reports whether the kind has no gRPC form; a gRPC request meeting
// it fails with codes.Internal naming the fault, so that a misuse shows.
func (k Kind) httpOnly() bool { return k == Drip || k == Garbage || k == HTML || k == Truncate }

// streamOnly reports whether the kind applies to streamed requests only.
func (k Kind) streamOnly() bool { return k >= StreamCut }

// unaryOnly reports whether the kind applies to unary requests only (Stall
// and Drop apply to both: they hold the request before forwarding it).
func (k Kind) unaryOnly() bool { return k != None && k != Stall && k != Drop && !k.streamOnly() }

// Defaults of the Fault fields.
const (
	DefaultSize  = 100 << 20
	DefaultDelay = time.Millisecond
	// DefaultBefore responses pass before a stream kind strikes.
	DefaultBefore = 2
)

// Fault says which inference requests meet which fault. Requests are
// numbered from 1 from the moment the fault is Set: the first After are
// answered normally, then one in Every (default 1: each) meets Kind.
type Fault struct {
	Kind Kind
	// After is how many requests pass untouched first.
	After int64
	// Every: the fault hits requests After+Every, After+2*Every, ...
	Every int64
	// Size is Huge's output size in bytes; default DefaultSize.
	Size int64
	// Delay is Drip's wait before each byte; default DefaultDelay.
	Delay time.Duration
	// Before is how many responses of a streamed request pass before a
	// stream kind strikes; default DefaultBefore (0 cannot be asked for:
	// a fault before the first response is what Drop and the unary kinds
	// already cover).
	Before int
}

// StallAfter is a server that stops answering after k more requests.
func StallAfter(k int64) Fault { return Fault{Kind: Stall, After: k} }

// DropEvery is a server that never answers one request in n.
func DropEvery(n int64) Fault { return Fault{Kind: Drop, Every: n} }

// hits reports whether request n (from 1) meets the fault.
func (f Fault) hits(n int64) bool {
	if f.Kind == None || n <= f.After {
		return false
	}
	return (n-f.After)%max(f.Every, 1) == 0
}

func (f Fault) size() int64 {
	if f.Size <= 0 {
		return DefaultSize
	}
	return f.Size
}

func (f Fault) before() int {
	if f.Before <= 0 {
		return DefaultBefore
	}
	return f.Before
}

func (f Fault) delay() time.Duration {
	if f.Delay <= 0 {
		return DefaultDelay
	}
	return f.Delay
}

// faultState is one Set: the fault, its request count, and a channel closed
// when it is replaced (releasing stalled requests).
type faultState struct {
	fault   Fault
	n       atomic.Int64
	release chan struct{}
}

func newFaultState(f Fault) *faultState {
	return &faultState{fault: f, release: make(chan struct{})}
}

// faults is the switchable fault and the counters tests wait on.
type faults struct {
	cur      atomic.Pointer[faultState]
	requests atomic.Int64
	held     atomic.Int64
}

func (fs *faults) init() { fs.cur.Store(newFaultState(Fault{})) }

// Set replaces the fault for the requests that arrive from now on and
// releases the requests the previous one stalled (they are forwarded).
func (fs *faults) Set(f Fault) {
	old := fs.cur.Swap(newFaultState(f))
	close(old.release)
}

// Requests is the number of inference requests received so far.
func (fs *faults) Requests() int64 { return fs.requests.Load() }

// Held is the number of inference requests stalled or dropped right now.
func (fs *faults) Held() int64 { return fs.held.Load() }

// NoneHeld waits until no request is held, polling, and reports whether
// none is; false when ctx ends first. A held request is let go when its
// client leaves, a moment after the client has.
func (fs *faults) NoneHeld(ctx context.Context) bool {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for fs.held.Load() != 0 {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// next counts a new inference request and returns what it meets (a Fault
// with Kind None when it passes) and the state that decided it.
func (fs *faults) next() (Fault, *faultState) {
	fs.requests.Add(1)
	st := fs.cur.Load()
	if st.fault.hits(st.n.Add(1)) {
		return st.fault, st
	}
	return Fault{}, st
}

// hold keeps a stalled or dropped request until it is released (true: answer
// it) or ctx ends (false: abandon it).
func (fs *faults) hold(ctx context.Context, k Kind, st *faultState) bool {
	fs.held.Add(1)
	defer fs.held.Add(-1)
	release := st.release
	if k == Drop {
		release = nil // never
	}
	select {
	case <-release:
		return true
	case <-ctx.Done():
		return false
	}
}
