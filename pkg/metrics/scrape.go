// Package metrics collects a server's Prometheus metrics while perfgo
// measures (perf_analyzer's --collect-metrics) and summarises them per
// level: a Scraper reads the text format with prometheus/common's parser, a
// Collector scrapes on a period and hands out what it gathered at each
// window edge, and Aggregate reduces a level's samples to result.Metrics
// (perf_analyzer's four GPU families, and any family asked by name).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Triton's GPU families that perf_analyzer reports, keyed by GPULabel.
const (
	GPUUtilization = "nv_gpu_utilization"
	GPUPower       = "nv_gpu_power_usage"
	GPUMemoryUsed  = "nv_gpu_memory_used_bytes"
	GPUMemoryTotal = "nv_gpu_memory_total_bytes"
	GPULabel       = "gpu_uuid"
)

// gpuFamilies are always kept.
var gpuFamilies = [...]string{GPUUtilization, GPUPower, GPUMemoryUsed, GPUMemoryTotal}

// Sample is one scrape: the families kept and when the scrape answered.
type Sample struct {
	At       time.Time
	Families map[string]*dto.MetricFamily
}

// ScraperOptions configure a Scraper.
type ScraperOptions struct {
	// URL of the text exposition, e.g. http://127.0.0.1:8002/metrics.
	URL string
	// Timeout bounds one scrape (connect, headers and body); default 5 s.
	Timeout time.Duration
	// MaxBytes bounds one scrape's body; default 16 MiB (Triton's text
	// for hundreds of models is a few MiB).
	MaxBytes int64
	// Families are kept beside the four GPU families; the rest of the
	// scrape is dropped so that a long run keeps little.
	Families []string
}

// Scraper reads one server's metrics.
type Scraper struct {
	o    ScraperOptions
	keep map[string]bool
	// client never goes through an HTTP proxy, as perfgo's inference
	// clients do not: what is measured is the server on its address.
	client *http.Client
}

// NewScraper checks o and fills its defaults.
func NewScraper(o ScraperOptions) (*Scraper, error) {
	if o.URL == "" {
		return nil, errors.New("metrics: no URL to scrape")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 16 << 20
	}
	keep := map[string]bool{}
	for _, f := range gpuFamilies {
		keep[f] = true
	}
	for _, f := range o.Families {
		keep[f] = true
	}
	return &Scraper{o: o, keep: keep, client: &http.Client{Transport: &http.Transport{Proxy: nil}}}, nil
}

// Scrape reads the metrics once, within the scraper's time and size bounds.
func (s *Scraper) Scrape(ctx context.Context) (Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.o.URL, nil)
	if err != nil {
		return Sample{}, fmt.Errorf("metrics: %w", err)
	}
	// The classic text format: what Triton serves and what the parser reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return Sample{}, fmt.Errorf("metrics: %s did not answer within %v", s.o.URL, s.o.Timeout)
		}
		return Sample{}, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("metrics: %s answered %s", s.o.URL, resp.Status)
	}
	lr := &io.LimitedReader{R: resp.Body, N: s.o.MaxBytes + 1}
	fams, err := Parse(lr)
	if lr.N == 0 {
		return Sample{}, fmt.Errorf("metrics: %s sent more than %d bytes", s.o.URL, s.o.MaxBytes)
	}
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return Sample{}, fmt.Errorf("metrics: %s did not finish its answer within %v", s.o.URL, s.o.Timeout)
		}
		return Sample{}, fmt.Errorf("metrics: %s: %w", s.o.URL, err)
	}
	for name := range fams {
		if !s.keep[name] {
			delete(fams, name)
		}
	}
	return Sample{At: time.Now(), Families: fams}, nil
}

// Parse reads the Prometheus text format.
func Parse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}
