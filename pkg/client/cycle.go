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
// When every Prepared comes from the same Client (the usual case), the
// Call is one Call switched from request to request: one connection, one
// response buffer (as large as the largest response) and one check
// scratch per worker, whatever the number of requests, and Do allocates
// nothing of its own. Otherwise it makes one Call per Prepared, on first
// use.
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
	c := &cycleCall{prepared: prepared, next: start, last: first}
	if s, ok := first.(switchCall); ok && allLoadable(s, prepared) {
		c.one = s
		// Grow the scratch to the largest request now, not during the run.
		for _, p := range prepared {
			s.load(p)
		}
		s.load(prepared[start])
		return c, nil
	}
	c.calls = make([]Call, n)
	c.calls[start] = first
	return c, nil
}

func allLoadable(s switchCall, prepared []Prepared) bool {
	for _, p := range prepared {
		if !s.canLoad(p) {
			return false
		}
	}
	return true
}

type cycleCall struct {
	prepared []Prepared
	next     int
	// one is the Call switched between requests; nil when the requests
	// do not share a Client, and then calls holds a Call per request.
	one   switchCall
	calls []Call
	last  Call // the Call of the latest Do
}

var _ Call = (*cycleCall)(nil)

func (c *cycleCall) Do(ctx context.Context) (Timing, error) {
	i := c.next
	if c.next++; c.next == len(c.prepared) {
		c.next = 0
	}
	if c.one != nil {
		c.one.load(c.prepared[i])
		return c.one.Do(ctx)
	}
	call := c.calls[i]
	if call == nil {
		var err error
		if call, err = c.prepared[i].NewCall(); err != nil {
			return Timing{}, &Error{Op: fmt.Sprintf("cycle request %d", i), Kind: ErrBadRequest, Class: "client", Message: err.Error(), Err: err}
		}
		c.calls[i] = call
	}
	c.last = call
	return call.Do(ctx)
}

func (c *cycleCall) Response() (*InferResponse, error) { return c.last.Response() }
