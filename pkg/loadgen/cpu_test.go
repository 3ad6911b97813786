package loadgen

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestClientCPU: each level reports the CPU perfgo's process used in its
// merged windows and its share of the CPUs perfgo may use; above 80% a
// warning names the level. ProcessCPU is a test hook standing for a
// process that burns a given number of CPUs.
func TestClientCPU(t *testing.T) {
	tests := []struct {
		name     string
		busyCPUs float64 // CPUs the fake process keeps busy
		waitCPUs float64 // and waits for
		cpus     int
		share    float64
		warn     bool
	}{
		{"idle client", 0.1, 0.02, 2, 0.05, false},
		{"busy client", 1.9, 0, 2, 0.95, true},
		{"one CPU", 0.9, 0, 1, 0.9, true},
		{"crowded out", 0.5, 0.4, 1, 0.5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				s := &fakeServer{service: constService(serviceOffEdges)}
				obs := &events{}
				o := baseOptions(s, 1)
				o.End = 2
				o.Observer = obs
				o.CPUs = tt.cpus
				o.ProcessCPU = func() CPUTime {
					d := float64(time.Since(start))
					return CPUTime{Used: time.Duration(tt.busyCPUs * d), Waited: time.Duration(tt.waitCPUs * d)}
				}
				run, err := Run(t.Context(), o)
				if err != nil {
					t.Fatal(err)
				}
				if run.Settings.CPUs != tt.cpus {
					t.Errorf("settings say %d CPUs, want %d", run.Settings.CPUs, tt.cpus)
				}
				for _, l := range run.Levels {
					c := l.Client
					if want := time.Duration(tt.busyCPUs * float64(c.Duration)); c.CPU < want-time.Millisecond || c.CPU > want+time.Millisecond {
						t.Errorf("level %v: CPU %v over %v; want %v", l.Value, c.CPU, c.Duration, want)
					}
					if c.CPUShare < tt.share-0.001 || c.CPUShare > tt.share+0.001 {
						t.Errorf("level %v: CPU share %v, want %v", l.Value, c.CPUShare, tt.share)
					}
					if want := tt.waitCPUs / float64(tt.cpus); c.CPUWaitShare < want-0.001 || c.CPUWaitShare > want+0.001 {
						t.Errorf("level %v: CPU wait share %v, want %v", l.Value, c.CPUWaitShare, want)
					}
				}
				warned := 0
				for _, w := range obs.warns {
					if strings.Contains(w, "perfgo used") && strings.Contains(w, "may measure the client") {
						warned++
					}
				}
				if tt.warn && warned != len(run.Levels) || !tt.warn && warned != 0 {
					t.Errorf("%d CPU warnings for %d levels (want them: %v): %q", warned, len(run.Levels), tt.warn, obs.warns)
				}
			})
		})
	}
}
