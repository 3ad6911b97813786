package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/server/faultserver"
)

// Each Ctrl-C does the next thing: stop issuing, cancel what is in
// flight, exit.
func TestWatchInterrupts(t *testing.T) {
	for signals := range 4 {
		sigs := make(chan os.Signal) // unbuffered: a send returns once the watcher took it
		done := make(chan struct{})
		acts := make(chan string, 3)
		act := func(s string) func() { return func() { acts <- s } }
		var wg sync.WaitGroup
		wg.Go(func() {
			watchInterrupts(sigs, done, interruptActions{stop: act("stop"), abandon: act("abandon"), exit: act("exit"), stderr: io.Discard})
		})
		var got []string
		for range signals {
			sigs <- os.Interrupt
			got = append(got, <-acts)
		}
		close(done)
		wg.Wait()
		if want := []string{"stop", "abandon", "exit"}[:signals]; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%d signals: actions %v; want %v", signals, got, want)
		}
	}
}

// A report path that cannot be written is refused before anything is
// sent; a run that fails before its first level still writes its reports,
// which say why.
func TestOutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "-f", filepath.Join(dir, "missing", "out.csv"))
	if code != exitError || !strings.Contains(stderr, "-f "+filepath.Join(dir, "missing", "out.csv")+": cannot write the report there") {
		t.Errorf("exit %d, stderr %q; want 99 naming -f and its path", code, stderr)
	}
	if strings.Contains(stderr, "reach") {
		t.Errorf("stderr %q: the server was contacted before the report path was checked", stderr)
	}

	csvPath, jsonPath := filepath.Join(dir, "old.csv"), filepath.Join(dir, "fresh.json")
	if err := os.WriteFile(csvPath, []byte("an earlier report, longer than the new one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, _ = perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "-f", csvPath, "--json", jsonPath)
	if code != exitError {
		t.Fatalf("exit %d against a dead server; want %d", code, exitError)
	}
	if rows := readCSV(t, csvPath); len(rows) != 1 || rows[0][0] != "Concurrency" {
		t.Errorf("CSV %q; want perf_analyzer's header and no level", rows)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Stop     struct{ Reason, Message string }
		Settings struct {
			Model                 string
			MeasurementIntervalMs float64 `json:"measurement_interval_ms"`
			DrainTimeoutMs        float64 `json:"drain_timeout_ms"`
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Stop.Reason != "error" || !strings.Contains(rep.Stop.Message, "cannot reach") {
		t.Errorf("JSON stop %+v; want the error that ended the run", rep.Stop)
	}
	// The settings are the flags', as the engine reads them (-p 5000 and
	// --drain-timeout 5s by default).
	if s := rep.Settings; s.Model != "simple" || s.MeasurementIntervalMs != 5000 || s.DrainTimeoutMs != 5000 {
		t.Errorf("JSON settings %+v; want simple, 5000 ms windows, a 5000 ms drain", s)
	}
}

// Ctrl-C while perfgo waits for a server that accepted the connection
// and never answers is an interruption (130), not a server error (99).
func TestInterruptWhileConnecting(t *testing.T) {
	silent := faultserver.Silent(t)
	for _, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			time.AfterFunc(200*time.Millisecond, cancel)
			code, _, stderr := perfgo(t, ctx, "-m", "simple", "-i", proto, "-u", silent.Addr, "--control-timeout", "1h")
			if code != exitInterrupted {
				t.Errorf("exit %d, stderr %q; want %d", code, stderr, exitInterrupted)
			}
		})
	}
}

// The second Ctrl-C cancels the requests in flight at once: a stalled
// server with long request and drain timeouts holds the run no longer,
// and the reports are still written.
func TestSecondInterruptAbandons(t *testing.T) {
	p := faultserver.Start(t)
	p.Set(faultserver.StallAfter(30))
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	ctx, cancel := context.WithCancel(t.Context())
	abandon := make(chan struct{})
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, abandon, []string{"-m", "simple", "-i", "grpc", "-u", p.GRPCAddr, "--concurrency-range", "4",
			"-p", "200", "-r", "50", "--request-timeout", "1h", "--drain-timeout", "1h", "--json", jsonPath}, &stdout, &stderr)
	}()
	for p.Held() < 4 { // every worker's request is stuck
		select {
		case code := <-done:
			t.Fatalf("the run ended (exit %d) before the server stalled:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel() // first Ctrl-C: the drain would wait an hour
	close(abandon)
	select {
	case code := <-done:
		if code != exitInterrupted {
			t.Errorf("exit %d; want %d\n%s", code, exitInterrupted, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run still waits for the stalled server 30 s after the second Ctrl-C")
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatalf("no JSON report after the second Ctrl-C: %v", err)
	}
	if !strings.Contains(string(b), `"class": "cancelled"`) {
		t.Errorf("the JSON report does not count the cancelled requests:\n%s", b)
	}
}

func TestLoadGCPercent(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, gcPercent},
		{4 << 20, gcPercent},  // the usual few MB: 400
		{16 << 20, gcPercent}, // 64 MB of headroom is 400%
		{32 << 20, 200},       // 64 MB of headroom
		{64 << 20, 100},       // as much again as is live
		{512 << 20, 100},      // never below Go's default
	} {
		if got := loadGCPercent(tc.live); got != tc.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// perf_analyzer's --version prints the version and exits 0, without -m.
func TestVersionFlag(t *testing.T) {
	code, stdout, stderr := perfgo(t, t.Context(), "--version")
	if code != 0 || !strings.HasPrefix(stdout, "perfgo ") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and perfgo's version", code, stdout, stderr)
	}
}
