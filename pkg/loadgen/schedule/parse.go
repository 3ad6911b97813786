package schedule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxIntervals bounds what ParseIntervals keeps in memory.
const maxIntervals = 10_000_000

// ParseIntervals reads perf_analyzer's --request-intervals file: one gap in
// microseconds per line (a non-negative whole number). Blank lines are
// skipped; anything else is rejected with its line number.
func ParseIntervals(r io.Reader) ([]time.Duration, error) {
	sc := bufio.NewScanner(r)
	var gaps []time.Duration
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		us, err := strconv.ParseUint(text, 10, 64)
		if err != nil || us > math.MaxInt64/uint64(time.Microsecond) {
			return nil, fmt.Errorf("request intervals line %d: %q is not a whole number of microseconds: write one gap per line, e.g. 1000", line, clip(text))
		}
		if len(gaps) == maxIntervals {
			return nil, fmt.Errorf("request intervals line %d: more than %d intervals: use a shorter file (it is repeated)", line, maxIntervals)
		}
		gaps = append(gaps, time.Duration(us)*time.Microsecond)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("request intervals line %d is longer than %d bytes: write one gap per line", line+1, bufio.MaxScanTokenSize)
	} else if err != nil {
		return nil, fmt.Errorf("reading request intervals after line %d: %w", line, err)
	}
	if len(gaps) == 0 {
		return nil, fmt.Errorf("request intervals: no interval found: write one gap in microseconds per line")
	}
	return gaps, nil
}

// clip keeps error messages one short line.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
