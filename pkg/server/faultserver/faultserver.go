// Package faultserver puts faults between a v2 client and perfgo's
// reference server, for tests that check that a client neither hangs nor
// lies when a server misbehaves.
//
// A Proxy fronts a real server (Start runs servertest.Start behind it) on
// 127.0.0.1: control calls (health, metadata, configuration, statistics,
// repository index) pass unchanged over HTTP and gRPC, while inference
// calls meet the Fault set at the moment, switchable at run time from the
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
)

var kindNames = [...]string{"None", "Stall", "Drop", "Drip", "Garbage", "HTML", "MissingOutputs", "ShortData", "Truncate", "Huge"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// httpOnly reports whether the kind has no gRPC form; a gRPC request meeting
// it fails with codes.Internal naming the fault, so that a misuse shows.
func (k Kind) httpOnly() bool { return k == Drip || k == Garbage || k == HTML || k == Truncate }

// Defaults of the Fault fields.
const (
	DefaultSize  = 100 << 20
	DefaultDelay = time.Millisecond
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
