package client

import (
	"context"
	"time"
)

// callTimeout bounds each request of one Call without a context per
// request. context.WithTimeout would allocate a context and a timer per
// request, and over gRPC put a grpc-timeout header that changes on every
// request (defeating HPACK) and makes the server arm a timer of its own:
// at concurrency 8 against perfgo serve that cost 7-9% of the requests per
// second. Instead the Call keeps one cancellable child of the caller's
// context and one timer, re-armed per request; a child whose timer fired
// is replaced. Used by one goroutine at a time, as its Call.
type callTimeout struct {
	d      time.Duration
	parent context.Context // the caller's context the child derives from
	gen    *timeoutGen
}

// timeoutGen is one child context and the timer that cancels it.
type timeoutGen struct {
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
	// spent: the timer fired (or may still be firing): do not reuse.
	spent bool
}

// start arms the timeout and returns the context to send the request with.
func (t *callTimeout) start(ctx context.Context) context.Context {
	if g := t.gen; g == nil || g.spent || t.parent != ctx || g.ctx.Err() != nil {
		t.release()
		t.parent = ctx
		g = &timeoutGen{}
		g.ctx, g.cancel = context.WithCancel(ctx)
		g.timer = time.AfterFunc(t.d, g.cancel)
		t.gen = g
		return g.ctx
	}
	t.gen.timer.Reset(t.d)
	return t.gen.ctx
}

// stop disarms the timeout and reports whether it fired: the request was
// cut off by it (if it failed).
func (t *callTimeout) stop() (fired bool) {
	if t.gen.timer.Stop() {
		return false
	}
	t.gen.spent = true
	return true
}

// release stops and cancels the current child, if any.
func (t *callTimeout) release() {
	if g := t.gen; g != nil {
		g.timer.Stop()
		g.cancel()
		t.gen = nil
	}
}
