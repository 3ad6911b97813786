package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Collector scrapes every Interval while Run runs and keeps the samples
// until Take hands them out (at each window edge). Scrape failures and
// slow scrapes never stop it: each outage and each slow spell is one
// warning, read with Warnings, so that the caller prints it from its own
// goroutine.
type Collector struct {
	scraper  *Scraper
	interval time.Duration

	mu       sync.Mutex
	samples  []Sample
	warnings []string
}

// NewCollector scrapes with s every interval (> 0).
func NewCollector(s *Scraper, interval time.Duration) (*Collector, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("metrics: interval %v; it must be above 0", interval)
	}
	return &Collector{scraper: s, interval: interval}, nil
}

// Run scrapes until ctx is done, then returns nil. A scrape that outlasts
// the interval delays the next one: scrapes never overlap.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	failing, slow := false, false
	for {
		begun := time.Now()
		s, err := c.scraper.Scrape(ctx)
		took := time.Since(begun)
		if ctx.Err() != nil {
			return nil // the run is over: a scrape cut short is no outage
		}
		switch {
		case err != nil && !failing:
			c.warn(fmt.Sprintf("%v; the server's metrics are missing until a scrape succeeds (perfgo keeps measuring)", err))
			failing = true
		case err == nil:
			failing = false
			c.mu.Lock()
			c.samples = append(c.samples, s)
			c.mu.Unlock()
		}
		// Slow is said of scrapes that answered: a failed one, however
		// long, is part of the outage already said.
		switch {
		case err != nil:
		case took > c.interval && !slow:
			c.warn(fmt.Sprintf("metrics: a scrape of %s took %v, longer than --metrics-interval %v; fewer scrapes fall in each window (raise --metrics-interval)", c.scraper.o.URL, took.Round(time.Millisecond), c.interval))
			slow = true
		case took <= c.interval:
			slow = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Collector) warn(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warnings = append(c.warnings, msg)
}

// Take removes and returns the samples gathered so far, oldest first.
func (c *Collector) Take() []Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.samples
	c.samples = nil
	return s
}

// Warnings removes and returns the warnings not read yet.
func (c *Collector) Warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.warnings
	c.warnings = nil
	return w
}
