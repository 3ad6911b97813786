package client

import (
	"context"
	"errors"
	"fmt"
)

// switchCall is a Call that can send another Prepared of its client
// instead, keeping its connection, buffers and scratch: what lets Cycle
// serve many requests with the state of one Call.
type switchCall interface {
	Call
	// canLoad reports whether p can be loaded.
	canLoad(p Prepared) bool
	// load makes the Call send p from now on; p passed canLoad. It does
	// not allocate, apart from growing scratch on a first use.
	load(p Prepared)
}

// Cycle returns a Call that sends prepared[start%n], then the next,
// round-robin, one per Do. It is for one goroutine, like any Call; give
// each worker its own, with its own start, over the same shared Prepared.
//
// Every Prepared must come from the same Client: the Call is one Call
// switched from request to request, with one connection, one response
// buffer (as large as the largest response) and one check scratch per
// worker, whatever the number of requests, and Do allocates nothing of
// its own.
//
// Response returns the latest response, to whichever request.
func Cycle(prepared []Prepared, start int) (Call, error) {
	n := len(prepared)
	if n == 0 {
		return nil, errors.New("cycle of no requests")
	}
	for i, p := range prepared {
		if p == nil {
			return nil, fmt.Errorf("cycle: request %d is nil", i)
		}
	}
	start %= n
	if start < 0 {
		start += n
	}
	first, err := prepared[start].NewCall()
	if err != nil {
		return nil, err
	}
	one, ok := first.(switchCall)
	if !ok {
		return nil, fmt.Errorf("cycle: request %d cannot be switched between requests", start)
	}
	for i, p := range prepared {
		if !one.canLoad(p) {
			return nil, fmt.Errorf("cycle: request %d comes from another client than request %d", i, start)
		}
	}
	// Grow the scratch to the largest request now, not during the run.
	for _, p := range prepared {
		one.load(p)
	}
	one.load(prepared[start])
	return &cycleCall{prepared: prepared, next: start, sent: start, one: one}, nil
}

type cycleCall struct {
	prepared []Prepared
	next     int
	sent     int        // the index of the request the latest Do sent
	one      switchCall // the Call switched between requests
}

var (
	_ Call         = (*cycleCall)(nil)
	_ Sequencer    = (*cycleCall)(nil)
	_ OutputKeeper = (*cycleCall)(nil)
)

// Sent is the index in the cycle's requests of the one the latest Do sent.
func (c *cycleCall) Sent() int { return c.sent }

// KeepOutputs keeps every response of a stream Call; a one-response Call
// keeps its latest response anyway.
func (c *cycleCall) KeepOutputs(on bool) {
	if k, ok := c.one.(OutputKeeper); ok {
		k.KeepOutputs(on)
	}
}

// Outputs hands fn the outputs of the latest Do's responses.
func (c *cycleCall) Outputs(fn func([]Tensor)) error {
	if k, ok := c.one.(OutputKeeper); ok {
		return k.Outputs(fn)
	}
	r, err := c.one.Response()
	if err != nil {
		return err
	}
	fn(r.Outputs)
	return nil
}

// SetSequence sets the sequence of the following requests, whichever of
// the cycle's requests they are.
func (c *cycleCall) SetSequence(s Sequence) {
	if sq, ok := c.one.(Sequencer); ok {
		sq.SetSequence(s)
	}
}

// Seek makes the next Do send prepared[i mod n], and the cycle go on from
// there: how a sequence sends the steps of its own data stream.
func (c *cycleCall) Seek(i int) {
	n := len(c.prepared)
	c.next = (i%n + n) % n
}

func (c *cycleCall) Do(ctx context.Context) (Timing, error) {
	i := c.next
	c.sent = i
	if c.next++; c.next == len(c.prepared) {
		c.next = 0
	}
	c.one.load(c.prepared[i])
	return c.one.Do(ctx)
}

func (c *cycleCall) Response() (*InferResponse, error) { return c.one.Response() }

// Connect connects the Call the cycle switches, when it can.
func (c *cycleCall) Connect(ctx context.Context) error {
	if cn, ok := c.one.(Connector); ok {
		return cn.Connect(ctx)
	}
	return nil
}
