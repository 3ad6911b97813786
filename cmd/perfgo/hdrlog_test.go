package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// TestHDRLog: a real run writes one interval per measured window, whose
// count is the window's successful requests in the JSON report, tagged
// with its level; open loop adds service time and schedule lag.
func TestHDRLog(t *testing.T) {
	srv := servertest.Start(t)
	for _, tc := range []struct {
		name   string
		args   []string
		suffix []string // tags per window after the level's
	}{
		{"closed loop", []string{"--concurrency-range", "1:2"}, []string{""}},
		{"open loop", []string{"--request-rate-range", "50"}, []string{"", serviceTimeTag, scheduleLagTag}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logPath, jsonPath := filepath.Join(dir, "run.hlog"), filepath.Join(dir, "run.json")
			args := append([]string{"-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--json", jsonPath, "--hdr-log", logPath}, tc.args...)
			code, stdout, stderr := perfgo(t, t.Context(), append(args, anyWindows...)...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			// What the log must hold: every pass of every level, in order.
			var rep struct {
				Levels []struct {
					Mode   string
					Value  float64
					Passes []struct{ Requests int64 }
				}
			}
			b, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			type interval struct {
				tag   string
				count int64
			}
			var want []interval
			for _, l := range rep.Levels {
				for _, p := range l.Passes {
					for _, s := range tc.suffix {
						want = append(want, interval{fmt.Sprintf("%s=%v%s", l.Mode, l.Value, s), p.Requests})
					}
				}
			}

			f, err := os.Open(logPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := hdr.NewHistogramLogReader(f)
			var got []interval
			for {
				h, err := r.NextIntervalHistogram()
				if err != nil {
					t.Fatalf("read interval %d: %v", len(got)+1, err)
				}
				if h == nil {
					break
				}
				if h.EndTimeMs() < h.StartTimeMs() || h.StartTimeMs() < 0 {
					t.Errorf("interval %d spans %d..%d ms", len(got)+1, h.StartTimeMs(), h.EndTimeMs())
				}
				got = append(got, interval{h.Tag(), h.TotalCount()})
			}
			for i := range got {
				if strings.HasSuffix(got[i].tag, scheduleLagTag) {
					// Lag is recorded for each request sent, not completed.
					if got[i].count == 0 {
						t.Errorf("interval %d (%s) is empty", i+1, got[i].tag)
					}
					got[i].count = want[i].count
				}
			}
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("intervals (tag, count)\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestHDRLogPathCheckedFirst: an unwritable --hdr-log is refused before
// the server is contacted.
func TestHDRLogPathCheckedFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "run.hlog")
	code, _, stderr := perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "--hdr-log", path)
	if code != exitError || !strings.Contains(stderr, "--hdr-log "+path+": cannot write the report there") || strings.Contains(stderr, "reach") {
		t.Errorf("exit %d, stderr %q; want 99 naming --hdr-log and its path, before connecting", code, stderr)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s: %v; want no file", path, err)
	}
}
