package client

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// connWatch cancels the request under way on a connection the calling
// goroutine drives itself (fasthttp's and h2's): when the caller's
// context ends, it moves the connection's deadline into the past, which
// fails the blocked read or write. One context.AfterFunc per distinct
// context, not per request; the only lock is the Call's own.
type connWatch struct {
	watched context.Context // the context an AfterFunc watches
	stop    func() bool     // ends that watch

	mu          sync.Mutex
	inflightCtx context.Context
	inflight    net.Conn
	aborted     *atomic.Bool // set when the watch broke inflight; may be nil
}

// watch makes ctx the watched context; it reports whether ctx can be
// cancelled at all (if not, begin and end need not be called).
func (w *connWatch) watch(ctx context.Context) bool {
	if ctx.Done() == nil {
		return false
	}
	if ctx != w.watched {
		w.unwatch()
		w.watched, w.stop = ctx, context.AfterFunc(ctx, func() { w.abort(ctx) })
	}
	return true
}

// unwatch ends the watch, if any.
func (w *connWatch) unwatch() {
	if w.stop != nil {
		w.stop()
	}
	w.watched, w.stop = nil, nil
}

// begin marks nc as carrying a request for ctx, and breaks it at once if
// ctx ended before the watch could see nc.
func (w *connWatch) begin(ctx context.Context, nc net.Conn, aborted *atomic.Bool) {
	w.mu.Lock()
	w.inflightCtx, w.inflight, w.aborted = ctx, nc, aborted
	w.mu.Unlock()
	if ctx.Err() != nil {
		w.abort(ctx)
	}
}

// end marks the request done.
func (w *connWatch) end() {
	w.mu.Lock()
	w.inflightCtx, w.inflight, w.aborted = nil, nil, nil
	w.mu.Unlock()
}

func (w *connWatch) abort(ctx context.Context) {
	w.mu.Lock()
	if w.inflight != nil && w.inflightCtx == ctx {
		if w.aborted != nil {
			w.aborted.Store(true)
		}
		_ = w.inflight.SetDeadline(time.Unix(1, 0))
	}
	w.mu.Unlock()
}
