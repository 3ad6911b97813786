package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"measures", []string{"-interval", "1ms", "-d", "20ms"}, false},
		{"zero interval", []string{"-interval", "0s"}, true},
		{"bad flag", []string{"-x"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, &out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("run(%v): %v", tt.args, err)
			}
			if !tt.wantErr && !regexp.MustCompile(`^wakeups=\d+ p50_us=\S+ p99_us=\S+ p999_us=\S+ max_us=\S+ late_pct=\S+\n$`).Match(out.Bytes()) {
				t.Errorf("output %q", out.String())
			}
		})
	}
}

// Every due time is waited for and recorded, however late the wakes are.
func TestMeasureCountsEveryDueTime(t *testing.T) {
	h := measure(context.Background(), time.Millisecond, 10*time.Millisecond)
	if h.TotalCount() != 10 {
		t.Errorf("recorded %d wakes, want 10", h.TotalCount())
	}
}

func TestMeasureStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if h := measure(ctx, time.Millisecond, time.Hour); h.TotalCount() > 1 {
		t.Errorf("recorded %d wakes after cancel", h.TotalCount())
	}
}
