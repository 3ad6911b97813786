package loadgen

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/perfgo/perfgo/pkg/export"
	"github.com/perfgo/perfgo/pkg/result"
)

// Histogram geometry of every distribution perfgo records, in nanoseconds.
// 3 significant figures keep every value within 0.1%. The floor is 1 ns,
// not 1 µs: with a 1 µs floor the bucket width below 1 ms is 512 ns, so a
// 20 µs loopback latency reads back as 20.48 µs (2.4% off); with 1 ns it
// reads 20.02 µs. The ceiling of one hour covers any request timeout and
// the backlog an overloaded open-loop run builds up. Only windows and
// levels hold histograms (dense, 264 KiB of address space each, of which
// only the pages the values fall in are touched).
const (
	histLowest  = 1
	histHighest = int64(time.Hour)
	histDigits  = 3
)

// sampleBuffer is how many values a worker buffers per quantity before it
// records them into its window's histogram, under the window's lock: one
// shared lock per sampleBuffer requests, held about a microsecond. Workers
// do not keep histograms of their own: at 3 significant figures nearly
// every request of a wide distribution falls in a new bucket, so a
// per-worker sparse histogram grows with the window's length (about 2,100
// buckets per worker in a 4 s window at concurrency 64, against 630 in a
// 1 s one) and costs a sorted insert per request; a fixed buffer costs
// neither.
const sampleBuffer = 128

// lateAfter is how far behind its intended time a request may be sent
// before it counts as late (perf_analyzer's tolerance since PR #312).
const lateAfter = time.Millisecond

// dist is one worker's record of one quantity in one window: exact sums
// (mean, standard deviation, min and max come from them) and the values
// not yet recorded into the window's histogram.
type dist struct {
	buf        []int64 // nil: the quantity is not measured
	n, sum     int64
	sumSq      float64
	min, max   int64
	outOfRange uint64
}

func newDist() dist { return dist{buf: make([]int64, 0, sampleBuffer)} }

// record adds v nanoseconds and says whether the buffer is full. Values
// the histogram cannot hold are counted, never dropped silently.
func (d *dist) record(v int64) (full bool) {
	if d.buf == nil {
		return false
	}
	if v < 0 || v > histHighest {
		d.outOfRange++
		return false
	}
	if d.n == 0 || v < d.min {
		d.min = v
	}
	if v > d.max {
		d.max = v
	}
	d.n++
	d.sum += v
	d.sumSq += float64(v) * float64(v)
	d.buf = append(d.buf, v)
	return len(d.buf) == cap(d.buf)
}

func (d *dist) reset() {
	d.buf = d.buf[:0] // nil (not measured) stays nil
	d.n, d.sum, d.sumSq, d.min, d.max, d.outOfRange = 0, 0, 0, 0, 0, 0
}

// agg is a dense distribution: a window's or a level's.
type agg struct {
	h          *hdr.Histogram // nil: not measured
	n, sum     int64
	sumSq      float64
	min, max   int64
	outOfRange uint64
}

func newAgg() agg { return agg{h: hdr.New(histLowest, histHighest, histDigits)} }

func (a *agg) reset() {
	if a.h != nil {
		a.h.Reset()
	}
	a.n, a.sum, a.sumSq, a.min, a.max, a.outOfRange = 0, 0, 0, 0, 0, 0
}

func (a *agg) addSums(n, sum int64, sumSq float64, lo, hi int64, oor uint64) {
	if n > 0 {
		if a.n == 0 || lo < a.min {
			a.min = lo
		}
		a.max = max(a.max, hi)
	}
	a.n += n
	a.sum += sum
	a.sumSq += sumSq
	a.outOfRange += oor
}

// recordAll records buffered values (already range-checked) into the histogram.
func (a *agg) recordAll(vs []int64) {
	if a.h == nil {
		return
	}
	for _, v := range vs {
		if a.h.RecordValue(v) != nil {
			a.outOfRange++
		}
	}
}

// addDistSums adds a worker's exact sums; its values reach the histogram
// through recordAll.
func (a *agg) addDistSums(d *dist) {
	if a.h != nil && d.buf != nil {
		a.addSums(d.n, d.sum, d.sumSq, d.min, d.max, d.outOfRange)
	}
}

func (a *agg) addAgg(b *agg) {
	if a.h == nil || b.h == nil {
		return
	}
	a.addSums(b.n, b.sum, b.sumSq, b.min, b.max, b.outOfRange)
	a.outOfRange += uint64(a.h.Merge(b.h))
}

func (a *agg) mean() float64 {
	if a.n == 0 {
		return 0
	}
	return float64(a.sum) / float64(a.n)
}

// stdDev is the sample standard deviation (n-1), as perf_analyzer reports it.
func (a *agg) stdDev() float64 {
	if a.n < 2 {
		return 0
	}
	m := a.mean()
	v := (a.sumSq - float64(a.n)*m*m) / float64(a.n-1)
	if v < 0 { // rounding on a near-constant sample
		return 0
	}
	return math.Sqrt(v)
}

// percentile p (0-100) from the histogram; 0 when empty.
func (a *agg) percentile(p float64) time.Duration {
	if a.h == nil {
		return 0
	}
	return time.Duration(a.h.ValueAtPercentile(p))
}

// reportedPercentiles are perf_analyzer's; the user's is added when set.
var reportedPercentiles = [...]float64{50, 90, 95, 99}

func (a *agg) distribution(user float64) result.Distribution {
	d := result.Distribution{
		Count:  a.n,
		Mean:   time.Duration(math.Round(a.mean())),
		StdDev: time.Duration(math.Round(a.stdDev())),
		Min:    time.Duration(a.min),
		Max:    time.Duration(a.max),
	}
	if a.h != nil {
		d.Hist = a.h.Export()
	}
	ps := reportedPercentiles[:]
	if user > 0 && !slices.Contains(ps, user) {
		ps = append(slices.Clone(ps), user)
		slices.Sort(ps)
	}
	for _, p := range ps {
		d.Quantiles = append(d.Quantiles, result.Quantile{Percentile: p, Value: a.percentile(p)})
	}
	return d
}

// classTally counts failed requests of one class and keeps the first error,
// whose text is the server's message when a whole level fails.
type classTally struct {
	class string
	n     uint64
	first error
}

// addClass counts n failures of class; it allocates only for a new class.
func addClass(cs []classTally, class string, n uint64, first error) []classTally {
	for i := range cs {
		if cs[i].class == class {
			cs[i].n += n
			if cs[i].first == nil {
				cs[i].first = first
			}
			return cs
		}
	}
	return append(cs, classTally{class: class, n: n, first: first})
}

// counts are the plain counters a worker's tally and a window share.
type counts struct {
	ok, failed, late uint64
	// responses (carrying outputs) and their text output elements, of the
	// successful streamed requests; seqs counts sequences ended.
	responses, elements, seqs uint64
	send, recv, total         int64
	// client library time sums over successful requests, ns
	// busy is the time workers spent in perfgo between requests (recording,
	// claiming, waiting to be scheduled), not in a request or waiting for
	// one's due time: perf_analyzer's client overhead, ns.
	busy    int64
	classes []classTally
	last    time.Time // latest completion (request-count windows end there)
}

// add adds o's counters to c.
func (c *counts) add(o *counts) {
	c.ok += o.ok
	c.failed += o.failed
	c.late += o.late
	c.responses += o.responses
	c.elements += o.elements
	c.seqs += o.seqs
	c.send += o.send
	c.recv += o.recv
	c.total += o.total
	c.busy += o.busy
	for _, cl := range o.classes {
		c.classes = addClass(c.classes, cl.class, cl.n, cl.first)
	}
	if o.last.After(c.last) {
		c.last = o.last
	}
}

// reset zeroes c, keeping the classes' storage.
func (c *counts) reset() {
	clear(c.classes)
	*c = counts{classes: c.classes[:0]}
}

// measures says which quantities a run records.
type measures struct {
	// open: latency from the intended send, plus service time and lag.
	open bool
	// stream: each request's responses are timed (first, between, final);
	// firstIsLatency makes the first response's time the reported latency.
	stream, firstIsLatency bool
}

// tally is what one worker recorded in one window. Each worker has two:
// it records into one while the controller adds the other, left at the
// last window end, to that window (worker.flip).
type tally struct {
	counts
	// lat is the reported latency: from the actual send (closed loop) or
	// from the intended send (open loop), to the final response or (on
	// streams, if chosen) the first one; svc and lag are open loop only.
	lat, svc, lag dist
	// first, gap and final are the stream's: time to the first response,
	// between responses, to the final response.
	first, gap, final dist
	firstIsLatency    bool
	// into is the window the tally's full buffers go to; nil discards them
	// (before a level's first window, between levels).
	into *window
	// exp holds the tally's requests for the profile export; nil when
	// the run exports nothing. Like the tally, the controller owns it
	// between a flip and the next.
	exp *export.Buffer
}

func newTally(m measures) *tally {
	t := &tally{lat: newDist(), firstIsLatency: m.stream && m.firstIsLatency}
	if m.open {
		t.svc, t.lag = newDist(), newDist()
	}
	if m.stream {
		t.first, t.gap, t.final = newDist(), newDist(), newDist()
	}
	return t
}

// dists lists the tally's distributions, in the order window.aggs lists its own.
func (t *tally) dists() [6]*dist {
	return [6]*dist{&t.lat, &t.svc, &t.lag, &t.first, &t.gap, &t.final}
}

// flush records the buffered values into the tally's window.
func (t *tally) flush() {
	if t.into != nil {
		t.into.recordBuffered(t)
	}
	for _, d := range t.dists() {
		d.buf = d.buf[:0] // a nil buffer (not measured) stays nil
	}
}

func (t *tally) reset() {
	t.counts.reset() // keeps the class slice: classes seen once tend to recur
	for _, d := range t.dists() {
		d.reset()
	}
}

// window aggregates tallies: one measurement window, or a level's merged windows.
type window struct {
	counts
	start, end time.Time
	issued     uint64
	// workers counts the tallies that recorded a request; workerTime is
	// their time in the window(s), the base of the client overhead.
	workers    int
	workerTime time.Duration
	// mu guards the histograms while the window is the workers' target:
	// they record their full buffers into it.
	mu                sync.Mutex
	lat, svc, lag     agg
	first, gap, final agg
	server            *result.ServerStats
	serverMissing     bool // statistics were unavailable for (part of) it
	// cpu is how perfgo's process used and waited for CPUs in the window.
	cpu CPUTime
}

func newWindow(m measures) *window {
	w := &window{lat: newAgg()}
	if m.open {
		w.svc, w.lag = newAgg(), newAgg()
	}
	if m.stream {
		w.first, w.gap, w.final = newAgg(), newAgg(), newAgg()
	}
	return w
}

// aggs lists the window's distributions, in the order tally.dists lists its own.
func (w *window) aggs() [6]*agg {
	return [6]*agg{&w.lat, &w.svc, &w.lag, &w.first, &w.gap, &w.final}
}

func (w *window) reset() {
	w.counts.reset()
	w.start, w.end, w.issued = time.Time{}, time.Time{}, 0
	w.workers, w.workerTime, w.cpu = 0, 0, CPUTime{}
	for _, a := range w.aggs() {
		a.reset()
	}
	w.server, w.serverMissing = nil, false
}

// recordBuffered records t's buffered values; other workers may be
// recording theirs.
func (w *window) recordBuffered(t *tally) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ds := t.dists()
	for i, a := range w.aggs() {
		a.recordAll(ds[i].buf)
	}
}

// addTally adds a tally the controller owns: its counters and sums, and
// the values still in its buffers.
func (w *window) addTally(t *tally) {
	if t.ok+t.failed > 0 {
		w.workers++
	}
	w.counts.add(&t.counts)
	ds := t.dists()
	for i, a := range w.aggs() {
		a.addDistSums(ds[i])
	}
	w.recordBuffered(t)
}

// merge adds window o (a later one) to w.
func (w *window) merge(o *window) {
	if w.start.IsZero() || o.start.Before(w.start) {
		w.start = o.start
	}
	if o.end.After(w.end) {
		w.end = o.end
	}
	w.counts.add(&o.counts)
	w.issued += o.issued
	w.workerTime += o.workerTime
	w.cpu.Used += o.cpu.Used
	w.cpu.Waited += o.cpu.Waited
	oa := o.aggs()
	for i, a := range w.aggs() {
		a.addAgg(oa[i])
	}
	if o.server == nil || o.serverMissing {
		w.serverMissing = true
	} else {
		w.server = addServer(w.server, o.server)
	}
}

func (w *window) duration() time.Duration { return w.end.Sub(w.start) }

// seal sets the base of the client overhead once the window's tallies are
// in and its end is final: each worker that recorded a request was there
// for the whole window (windows are long against a request).
func (w *window) seal() { w.workerTime = time.Duration(w.workers) * w.duration() }

// throughput in inferences per second.
func (w *window) throughput(batch int) float64 {
	d := w.duration().Seconds()
	if d <= 0 {
		return 0
	}
	return float64(w.ok) * float64(batch) / d
}

// stabilising returns the latency the stability test and the threshold use:
// the mean, or percentile p when p > 0. A window without a valid request
// counts as infinitely slow, as in perf_analyzer.
func (w *window) stabilising(p float64) float64 {
	if w.ok == 0 || w.lat.n == 0 {
		return math.Inf(1)
	}
	if p > 0 {
		return float64(w.lat.percentile(p))
	}
	return w.lat.mean()
}

// firstFailure returns the most frequent failure class's first error.
func (w *window) firstFailure() (classTally, bool) {
	if len(w.classes) == 0 {
		return classTally{}, false
	}
	best := w.classes[0]
	for _, c := range w.classes[1:] {
		if c.n > best.n {
			best = c
		}
	}
	return best, true
}

// clientStats turns merged windows into the reported client statistics.
func (w *window) clientStats(batch int, percentile float64, open bool) result.ClientStats {
	d := w.duration()
	cs := result.ClientStats{
		Requests:   w.ok,
		Inferences: w.ok * uint64(batch),
		Failed:     w.failed,
		Duration:   d,
		Throughput: w.throughput(batch),
		Latency:    w.lat.distribution(percentile),
		Late:       w.late,
		Issued:     w.issued,
		OutOfRange: w.lat.outOfRange + w.svc.outOfRange + w.lag.outOfRange,
	}
	if d > 0 {
		cs.SendRate = float64(w.issued) / d.Seconds()
	}
	if w.workerTime > 0 {
		cs.Overhead = float64(w.busy) / float64(w.workerTime)
	}
	if w.ok > 0 {
		n := int64(w.ok)
		cs.RequestTime = time.Duration(w.total / n)
		cs.Send = time.Duration(w.send / n)
		cs.Recv = time.Duration(w.recv / n)
	}
	if open {
		svc, lag := w.svc.distribution(percentile), w.lag.distribution(percentile)
		cs.ServiceTime, cs.ScheduleLag = &svc, &lag
	}
	if w.first.h != nil {
		cs.Responses = w.responses
		st := &result.StreamStats{
			First:    w.first.distribution(percentile),
			Between:  w.gap.distribution(percentile),
			Final:    w.final.distribution(percentile),
			Elements: w.elements,
		}
		if w.ok > 0 {
			st.PerRequest = float64(w.responses) / float64(w.ok)
		}
		if d > 0 {
			cs.ResponseThroughput = float64(w.responses) / d.Seconds()
			st.ElementThroughput = float64(w.elements) / d.Seconds()
		}
		cs.Stream = st
		cs.OutOfRange += w.first.outOfRange + w.gap.outOfRange + w.final.outOfRange
	}
	cs.Sequences = w.seqs
	if d > 0 {
		cs.SequenceRate = float64(w.seqs) / d.Seconds()
	}
	return cs
}

// failures lists the failure counts sorted by class.
func (w *window) failures() []result.ClassCount { return failuresOf(w.classes) }

// failuresOf lists failure counts sorted by class.
func failuresOf(cs []classTally) []result.ClassCount {
	if len(cs) == 0 {
		return nil
	}
	out := make([]result.ClassCount, 0, len(cs))
	for _, c := range cs {
		cc := result.ClassCount{Class: c.class, Count: c.n}
		if c.first != nil {
			cc.First = c.first.Error()
		}
		out = append(out, cc)
	}
	slices.SortFunc(out, func(a, b result.ClassCount) int { return cmp.Compare(a.Class, b.Class) })
	return out
}
