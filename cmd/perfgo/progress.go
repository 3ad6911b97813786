package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/perfgo/perfgo/pkg/loadgen"
	"github.com/perfgo/perfgo/pkg/result"
)

// progressEvery is how often the progress line is redrawn between
// windows (and the engine's completed count read).
const progressEvery = 500 * time.Millisecond

// progressLine is a live line on a terminal's stderr: the level, the
// window being measured out of -r, the elapsed time, the last window's
// throughput and p99, and the completions per second right now. It wraps
// the observers that write stdout and stderr during the run and erases
// itself before each of their calls, redrawing after, so that their lines
// are never mixed with it. Its bar is progressbar's, drawn synchronously
// under mu: nothing is written to the terminal behind the wrapped
// observers' backs.
type progressLine struct {
	next    loadgen.Observer
	tty     *os.File
	windows int // the most windows a level measures (the bar's length)
	started time.Time

	mu        sync.Mutex
	bar       *progressbar.ProgressBar // nil between levels
	level     string
	window    int                   // windows ended at this level
	last      loadgen.WindowSummary // the last window, when window > 0
	completed func() uint64         // the engine's count, from Live
	seen      uint64                // completed at seenAt
	seenAt    time.Time
	rate      float64 // completions per second since the last redraw

	stop chan struct{}
	done sync.WaitGroup
}

var _ loadgen.LiveObserver = (*progressLine)(nil)

// newProgressLine returns a progress line around next when stderr is a
// terminal, nil (no line) when it is not, with --quiet, or on CI (a CI
// variable other than empty, "false" or "0": CI logs keep every byte).
func newProgressLine(next loadgen.Observer, stderr io.Writer, o *profileOptions, ci string) *progressLine {
	f, ok := stderr.(*os.File)
	if !ok || o.Quiet || onCI(ci) || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	windows := o.MaxTrials
	if o.RequestCount > 0 {
		windows = 1
	}
	return &progressLine{next: next, tty: f, windows: windows}
}

// onCI reads the CI environment variable.
func onCI(ci string) bool { return ci != "" && ci != "false" && ci != "0" }

// start begins redrawing at least every progressEvery until close.
func (p *progressLine) start(now time.Time) {
	p.started = now
	p.stop = make(chan struct{})
	p.done.Go(func() {
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.mu.Lock()
				p.draw()
				p.mu.Unlock()
			}
		}
	})
}

// close stops the redraws and erases the line.
func (p *progressLine) close() {
	close(p.stop)
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	p.bar = nil
}

// Live keeps the engine's completed count for the current rate.
func (p *progressLine) Live(completed func() uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.completed = completed
	p.seen, p.seenAt = completed(), time.Now()
}

func (p *progressLine) LevelStart(mode result.Mode, value float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	p.next.LevelStart(mode, value)
	p.level = fmt.Sprintf("%s %v", strings.ReplaceAll(string(mode), "_", " "), value)
	p.window = 0
	p.bar = progressbar.NewOptions(p.windows,
		progressbar.OptionSetWriter(p.tty),
		progressbar.OptionSetWidth(10),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionShowDescriptionAtLineEnd(),
		// Erase with "clear line", not spaces: a line the terminal
		// wrapped would leave its first part behind.
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionClearOnFinish(),
	)
	p.draw()
}

func (p *progressLine) Window(pass int, w loadgen.WindowSummary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	p.next.Window(pass, w)
	p.window, p.last = pass, w
	if p.bar != nil {
		_ = p.bar.Set(min(pass, p.windows))
	}
	p.draw()
}

func (p *progressLine) LevelEnd(l result.Level, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	p.bar = nil
	p.next.LevelEnd(l, err)
}

func (p *progressLine) Warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	p.next.Warn(msg)
	p.draw()
}

// erase clears the line, if shown; the caller holds mu.
func (p *progressLine) erase() {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
}

// draw redraws the line with the current figures; the caller holds mu.
func (p *progressLine) draw() {
	if p.bar == nil || p.bar.IsFinished() {
		return
	}
	now := time.Now()
	if p.completed != nil && now.Sub(p.seenAt) >= progressEvery/2 {
		n := p.completed()
		p.rate = float64(n-p.seen) / now.Sub(p.seenAt).Seconds()
		p.seen, p.seenAt = n, now
	}
	p.bar.Describe(p.describe(now))
}

// describe is the line's text, cut to the terminal's width.
func (p *progressLine) describe(now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  window %d/%d  %v", p.level, min(p.window+1, p.windows), p.windows, now.Sub(p.started).Round(time.Second))
	if p.window > 0 {
		if p.last.Err != nil {
			b.WriteString("  last window: no valid request")
		} else {
			fmt.Fprintf(&b, "  last window %.0f infer/s p99 %s", p.last.Throughput, millis(p.last.P99))
		}
	}
	if p.completed != nil {
		fmt.Fprintf(&b, "  now %.0f req/s", p.rate)
	}
	// The bar, its percentage and spaces take about 20 columns.
	width, _, err := term.GetSize(int(p.tty.Fd()))
	if err != nil || width <= 0 {
		width = 80
	}
	s := b.String()
	if room := width - 20; len(s) > room {
		s = s[:max(room, 0)]
	}
	return s
}

// millis formats d in milliseconds, ASCII only (the line is cut by bytes).
func millis(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
