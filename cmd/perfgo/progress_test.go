package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/creack/pty"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// progressBytes are what only the progress line writes to stderr.
var progressBytes = []string{"\r", "\x1b[", "window "}

// TestProgressLine runs perfgo with stderr on a pseudo-terminal, a pipe and
// a buffer: only the terminal gets the line, and not with --quiet or on CI.
func TestProgressLine(t *testing.T) {
	srv := servertest.Start(t)
	args := append([]string{"-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--concurrency-range", "1:2"}, anyWindows...)
	for _, tc := range []struct {
		name   string
		stderr string // "tty", "pipe" or "buffer"
		ci     string
		quiet  bool
		want   bool
	}{
		{"terminal", "tty", "", false, true},
		{"terminal, CI=false", "tty", "false", false, true},
		{"terminal, CI=true", "tty", "true", false, false},
		{"terminal, CI=1", "tty", "1", false, false},
		{"terminal, --quiet", "tty", "", true, false},
		{"pipe", "pipe", "", false, false},
		{"buffer", "buffer", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			a := args
			if tc.quiet {
				a = append(a[:len(a):len(a)], "--quiet")
			}
			var stdout bytes.Buffer
			code, stderr := runWithStderr(t, tc.stderr, func(w io.Writer) int {
				return run(t.Context(), nil, a, &stdout, w)
			})
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%q", code, stdout.String(), stderr)
			}
			// stdout is perf_analyzer's, line or no line.
			for _, c := range []string{"1", "2"} {
				if !strings.Contains(stdout.String(), "Request concurrency: "+c+"\n  Client: \n") {
					t.Errorf("no reported block for concurrency %s:\n%s", c, stdout.String())
				}
			}
			if !tc.want {
				// A terminal turns each "\n" into "\r\n" (onlcr): only
				// other carriage returns are the line's.
				plain := strings.ReplaceAll(stderr, "\r\n", "\n")
				for _, b := range progressBytes {
					if strings.Contains(plain, b) {
						t.Errorf("stderr has progress bytes %q: %q", b, stderr)
					}
				}
				return
			}
			for _, want := range []string{"concurrency 1  window 1/8", "concurrency 2  window 1/8", "last window ", " infer/s p99 ", "ms  now "} {
				if !strings.Contains(stderr, want) {
					t.Errorf("terminal lacks %q: %q", want, stderr)
				}
			}
			// The line is erased at the end: the last thing written is a
			// "clear line", after the last draw (which ends "\x1b[0K").
			if clear, draw := strings.LastIndex(stderr, "\x1b[2K\r"), strings.LastIndex(stderr, "\x1b[0K"); clear < draw {
				t.Errorf("the line is left on the terminal: %q", stderr[max(draw-200, 0):])
			}
		})
	}
}

// runWithStderr runs f with stderr of the given kind and returns what
// was written to it.
func runWithStderr(t *testing.T, kind string, f func(io.Writer) int) (int, string) {
	t.Helper()
	if kind == "buffer" {
		var b bytes.Buffer
		code := f(&b)
		return code, b.String()
	}
	var r, w *os.File
	var err error
	if kind == "tty" {
		r, w, err = pty.Open()
		if err == nil {
			err = pty.Setsize(w, &pty.Winsize{Rows: 24, Cols: 160})
		}
	} else {
		r, w, err = os.Pipe()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got bytes.Buffer
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(&got, r) }) // ends at EOF (pipe) or EIO (pty) once w is closed
	code := f(w)
	w.Close()
	wg.Wait()
	return code, got.String()
}

// TestEraseLine: interrupt messages clear a terminal's line (where the
// progress line may be) and add nothing elsewhere.
func TestEraseLine(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, tc := range []struct {
		name string
		f    *os.File
		want string
	}{{"terminal", tty, "\r\x1b[K"}, {"pipe", w, ""}} {
		if got := eraseLine(tc.f); got != tc.want {
			t.Errorf("%s: %q; want %q", tc.name, got, tc.want)
		}
	}
}
