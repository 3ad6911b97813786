package result

import (
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Quantiles answers percentiles of one distribution as
// Distribution.Percentile does (cached quantiles first, then the
// histogram), but imports the histogram once and validates it first, so a
// corrupt snapshot (a run read back from a file) is an error instead of a
// panic. The report, the HTML page, the SLO judge and compare use it.
type Quantiles struct {
	D    *Distribution
	h    *hdrhistogram.Histogram
	err  error
	done bool
}

// At returns the value at p (0–100) and whether the distribution can
// answer it: an empty histogram's "percentiles" would read as 0.
func (q *Quantiles) At(p float64) (time.Duration, bool, error) {
	for _, c := range q.D.Quantiles {
		if c.Percentile == p {
			return c.Value, true, nil
		}
	}
	h, err := q.Hist()
	if h == nil || err != nil || h.TotalCount() == 0 {
		return 0, false, err
	}
	return time.Duration(h.ValueAtQuantile(p)), true, nil
}

// Hist imports the distribution's histogram on first use; nil without one.
func (q *Quantiles) Hist() (*hdrhistogram.Histogram, error) {
	if q.D.Hist == nil || q.done {
		return q.h, q.err
	}
	q.done = true
	if err := q.D.Hist.Validate(); err != nil {
		q.err = fmt.Errorf("histogram snapshot is invalid (%w); export it with hdrhistogram's Histogram.Export", err)
		return nil, q.err
	}
	q.h = hdrhistogram.Import(q.D.Hist)
	return q.h, nil
}

// Values returns the distribution at each of ps; missing ones read as 0.
func (q *Quantiles) Values(ps []float64) ([]time.Duration, error) {
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		v, _, err := q.At(p)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
