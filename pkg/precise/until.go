package precise

import (
	"context"
	"time"
)

// Slack is how early Until's Go timer wakes before the due time; the rest
// is slept exactly.
const Slack = 1500 * time.Microsecond

// Until waits until due or until ctx ends (then it returns ctx's error).
// It sleeps on timer, a Go timer it stops and reuses, to Slack before
// due, and exactly on t the rest of the way (not interrupted by ctx: at
// most Slack). t may be nil (Go's timer alone).
func (t *Timer) Until(ctx context.Context, timer *time.Timer, due time.Time) error {
	for {
		d := time.Until(due)
		if d <= 0 {
			return ctx.Err()
		}
		if d <= Slack {
			t.Sleep(d)
			continue
		}
		timer.Reset(d - Slack)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}
