package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/loadgen"
	"github.com/perfgo/perfgo/pkg/result"
)

// hdrLog writes every measurement window's histograms to --hdr-log FILE in
// HdrHistogram's interval log format, as the windows end: a run that stops
// early keeps the windows it measured. Values are nanoseconds; each
// interval line's max column is in milliseconds (the log writer divides
// by 1,000,000, the ratio HdrHistogram's log tools assume by default).
// Each interval is tagged with its level, "concurrency=4"; open loop adds
// the service time and the schedule lag, "request_rate=100/service_time"
// and "request_rate=100/schedule_lag".
type hdrLog struct {
	path  string
	f     *os.File
	buf   *bufio.Writer
	log   *hdr.HistogramLogWriter
	level string // the current level's tag
	begun bool
	err   error // the first write error; later windows are not written
}

var _ loadgen.Observer = (*hdrLog)(nil)

// Tag suffixes of the open-loop histograms.
const (
	serviceTimeTag = "/service_time"
	scheduleLagTag = "/schedule_lag"
)

// begin truncates the file and writes the log's header: its start (and
// base) time is now, and intervals are stamped in seconds from it.
func (l *hdrLog) begin(now time.Time) {
	if l.begun {
		return
	}
	l.begun = true
	if l.err = l.f.Truncate(0); l.err != nil {
		return
	}
	l.buf = bufio.NewWriter(l.f)
	l.log = hdr.NewHistogramLogWriter(l.buf)
	ms := now.UnixMilli()
	l.log.SetBaseTime(ms)
	l.keep(l.log.OutputLogFormatVersion())
	l.keep(l.log.OutputComment("[perfgo: values in nanoseconds; Interval_Max in milliseconds]"))
	l.keep(l.log.OutputStartTime(ms))
	l.keep(l.log.OutputBaseTime(ms))
	l.keep(l.log.OutputLegend())
}

func (l *hdrLog) keep(err error) {
	if l.err == nil {
		l.err = err
	}
}

func (l *hdrLog) LevelStart(mode result.Mode, value float64) {
	l.level = fmt.Sprintf("%s=%v", mode, value)
}

func (l *hdrLog) Window(_ int, w loadgen.WindowSummary) {
	if l.err != nil || w.Histograms == nil {
		return
	}
	l.begin(w.Start) // not begun only when the caller forgot to: stamps stay non-negative
	for _, s := range []struct {
		snap *hdr.Snapshot
		tag  string
	}{
		{w.Histograms.Latency, l.level},
		{w.Histograms.ServiceTime, l.level + serviceTimeTag},
		{w.Histograms.ScheduleLag, l.level + scheduleLagTag},
	} {
		if s.snap == nil {
			continue
		}
		h := hdr.Import(s.snap)
		h.SetTag(s.tag)
		h.SetStartTimeMs(w.Start.UnixMilli())
		h.SetEndTimeMs(w.Start.Add(w.Duration).UnixMilli())
		l.keep(l.log.OutputIntervalHistogram(h))
	}
}

func (l *hdrLog) LevelEnd(result.Level, error) {}
func (l *hdrLog) Warn(string)                  {}

// close writes what is buffered and closes the file; a log never begun
// (the run ended before measuring) is left with its header only.
func (l *hdrLog) close() error {
	l.begin(time.Now())
	if l.buf != nil && l.err == nil {
		l.err = l.buf.Flush()
	}
	err := errors.Join(l.err, l.f.Close())
	if err != nil {
		return fmt.Errorf("write the HDR interval log %s (--hdr-log): %w", l.path, err)
	}
	return nil
}

// observers tells each Observer in turn.
type observers []loadgen.Observer

var _ loadgen.Observer = observers(nil)

func (obs observers) LevelStart(mode result.Mode, value float64) {
	for _, o := range obs {
		o.LevelStart(mode, value)
	}
}

func (obs observers) Window(pass int, w loadgen.WindowSummary) {
	for _, o := range obs {
		o.Window(pass, w)
	}
}

func (obs observers) LevelEnd(l result.Level, err error) {
	for _, o := range obs {
		o.LevelEnd(l, err)
	}
}

func (obs observers) Warn(msg string) {
	for _, o := range obs {
		o.Warn(msg)
	}
}
