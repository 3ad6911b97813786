package loadgen

import (
	"testing"
	"testing/synctest"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// liveEvents is an events that also keeps Live's counter.
type liveEvents struct {
	events
	completed func() uint64
}

func (o *liveEvents) Live(completed func() uint64) { o.completed = completed }

var _ LiveObserver = (*liveEvents)(nil)

// TestWindowSummaries: every window tells its start, its p99 and, only
// when asked, copies of its histograms, whose counts are the window's.
func TestWindowSummaries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		open       bool
		histograms bool
	}{
		{"closed loop", false, false},
		{"closed loop with histograms", false, true},
		{"open loop", true, false},
		{"open loop with histograms", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeServer{service: constService(7 * time.Millisecond)}
				o := baseOptions(s, 3)
				if tc.open {
					o = rateOptions(s, 100)
				}
				o.WindowHistograms = tc.histograms
				obs := &liveEvents{}
				o.Observer = obs
				begin := time.Now()
				if _, err := Run(t.Context(), o); err != nil {
					t.Fatalf("Run: %v", err)
				}
				ws := obs.windows[0]
				if len(ws) < 3 {
					t.Fatalf("%d windows; want at least 3", len(ws))
				}
				for i, w := range ws {
					if w.Start.Before(begin) || (i > 0 && !w.Start.Equal(ws[i-1].Start.Add(ws[i-1].Duration))) {
						t.Errorf("window %d starts at %v; want where window %d ended", i+1, w.Start.Sub(begin), i)
					}
					if w.P99 < 7*time.Millisecond || w.P99 > 7007*time.Microsecond {
						t.Errorf("window %d p99 %v; want 7ms within 0.1%%", i+1, w.P99)
					}
					h := w.Histograms
					if !tc.histograms {
						if h != nil {
							t.Errorf("window %d has histograms nobody asked for", i+1)
						}
						continue
					}
					// The engine has reset its windows since: these are copies.
					if n := hdr.Import(h.Latency).TotalCount(); n != int64(w.Requests) || n == 0 {
						t.Errorf("window %d latency histogram holds %d values; want its %d requests", i+1, n, w.Requests)
					}
					if !tc.open {
						if h.ServiceTime != nil || h.ScheduleLag != nil {
							t.Errorf("window %d: closed loop has service-time or lag histograms", i+1)
						}
						continue
					}
					if n := hdr.Import(h.ServiceTime).TotalCount(); n != int64(w.Requests) {
						t.Errorf("window %d service-time histogram holds %d values; want %d", i+1, n, w.Requests)
					}
					if n := hdr.Import(h.ScheduleLag).TotalCount(); n == 0 {
						t.Errorf("window %d schedule-lag histogram is empty", i+1)
					}
				}
				if obs.completed == nil {
					t.Fatal("Live was not called")
				}
				if got, want := obs.completed(), uint64(len(s.all())); got != want {
					t.Errorf("Live's completed count %d; want the server's %d", got, want)
				}
			})
		})
	}
}
