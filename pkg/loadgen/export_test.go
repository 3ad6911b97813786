package loadgen

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"

	"github.com/perfgo/perfgo/pkg/export"
	"github.com/perfgo/perfgo/pkg/result"
)

// Every successful request the server answered is exported exactly once,
// in the experiment of its level (warm-up in the first, what completes
// between windows in the level before, drained ones in the last), and
// each experiment lists its level's windows.
func TestExportHasEveryRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(o *Options)
	}{
		{"closed loop sweep with warm-up", func(o *Options) {
			o.Start, o.End, o.Step = 1, 3, 1
			o.WarmupRequestCount = 5
		}},
		{"request count", func(o *Options) {
			o.Start, o.End = 2, 2
			o.RequestCount = 37
			o.WarmupRequestCount = 3
		}},
		{"open loop", func(o *Options) {
			o.Mode = result.RequestRate
			o.Start, o.End, o.Step = 100, 200, 100
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeServer{service: constService(3 * time.Millisecond)}
				o := baseOptions(s, 1)
				o.coarseTimers = true
				tc.opts(&o)
				var out bytes.Buffer
				x := export.NewWriter(&out, export.Options{Version: "perfgo test"})
				o.Export = x
				run, err := Run(t.Context(), o)
				if err != nil {
					t.Fatal(err)
				}
				if err := x.Close(); err != nil {
					t.Fatal(err)
				}
				sum, err := export.Check(&out)
				if err != nil {
					t.Fatalf("the export is not sound: %v", err)
				}
				if got, want := sum.Requests(), s.ok; got != want {
					t.Errorf("export has %d requests, the server answered %d", got, want)
				}
				if len(sum.Experiments) != len(run.Levels) {
					t.Fatalf("%d experiments for %d levels", len(sum.Experiments), len(run.Levels))
				}
				rc := export.RunCounts{Outside: run.Drained.Requests, Warmup: uint64(o.WarmupRequestCount)}
				for i, l := range run.Levels {
					e := sum.Experiments[i]
					if e.Value != l.Value || e.Windows != l.Windows {
						t.Errorf("experiment %d: %v with %d windows, level %v with %d", i+1, e.Value, e.Windows, l.Value, l.Windows)
					}
					rc.Levels = append(rc.Levels, export.LevelCount{Mode: export.Mode(l.Mode), Value: l.Value, Requests: l.Total.Requests})
				}
				if err := sum.Against(rc); err != nil {
					t.Error(err)
				}
			})
		})
	}
}
