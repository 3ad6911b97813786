package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
// sent; an existing report is not truncated by a run that measured nothing.
func TestOutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "-f", filepath.Join(dir, "missing", "out.csv"))
	if code != exitError || !strings.Contains(stderr, "-f "+filepath.Join(dir, "missing", "out.csv")+": cannot write the report there") {
		t.Errorf("exit %d, stderr %q; want 99 naming -f and its path", code, stderr)
	}
	if strings.Contains(stderr, "reach") {
		t.Errorf("stderr %q: the server was contacted before the report path was checked", stderr)
	}

	old := filepath.Join(dir, "old.csv")
	if err := os.WriteFile(old, []byte("earlier report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.json")
	code, _, _ = perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "-f", old, "--json", fresh)
	if code != exitError {
		t.Fatalf("exit %d against a dead server; want %d", code, exitError)
	}
	if b, _ := os.ReadFile(old); string(b) != "earlier report\n" {
		t.Errorf("the earlier report became %q; a run that measured nothing must leave it", b)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a run that measured nothing left %s behind (%v)", fresh, err)
	}
}
