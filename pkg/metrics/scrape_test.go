package metrics

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func gpuServer(t *testing.T) *servertest.Server {
	return servertest.Start(t, func(o *server.Options) {
		o.GPUs = []server.GPU{
			{UUID: "GPU-1", Utilization: []float64{0.2, 0.6}, PowerWatts: 150, MemoryUsedBytes: []uint64{1000, 3000}, MemoryTotalBytes: 16000},
			{UUID: "GPU-0", Utilization: []float64{1}, PowerWatts: 50.5, MemoryUsedBytes: []uint64{7}, MemoryTotalBytes: 8},
		}
	})
}

// deadURL is a metrics URL on a port that was just free: nothing listens there.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String() + "/metrics"
}

func TestScrapeServe(t *testing.T) {
	s := gpuServer(t)
	sc, err := NewScraper(ScraperOptions{URL: "http://" + s.MetricsAddr + "/metrics", Families: []string{"nv_inference_request_success"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []Sample
	for range 4 {
		smp, err := sc.Scrape(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, smp)
	}
	if _, ok := got[0].Families["nv_inference_pending_request_count"]; ok {
		t.Error("a family not asked for was kept")
	}
	if _, ok := got[0].Families["nv_inference_request_success"]; !ok {
		t.Error("the asked family is missing")
	}
	m := Aggregate(got, []string{"nv_inference_request_success"})
	want := []struct {
		uuid        string
		util, power float64
		used, total uint64
	}{{"GPU-0", 1, 50.5, 7, 8}, {"GPU-1", 0.4, 150, 3000, 16000}}
	if len(m.GPUs) != len(want) {
		t.Fatalf("GPUs %+v", m.GPUs)
	}
	for i, g := range m.GPUs {
		w := want[i]
		if g.UUID != w.uuid || g.Utilization != w.util || g.PowerWatts != w.power || g.MemoryUsedBytes != w.used || g.MemoryTotalBytes != w.total {
			t.Errorf("GPU %+v, want %+v", g, w)
		}
	}
	if f := m.Families[0]; f.Type != "counter" || len(f.Series) == 0 || f.Series[0].Rate != 0 {
		t.Errorf("request counter of an idle server: %+v", f)
	}
}

func TestScrapeFailures(t *testing.T) {
	dead := deadURL(t)

	release := make(chan struct{})
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never answers while the client waits
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer stall.Close()
	defer close(release)
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("# TYPE x gauge\nx 1\n"))
		w.(http.Flusher).Flush()
		select { // the body never ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer trickle.Close()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x 1\n", 1000)))
	}))
	defer big.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("this is { not prometheus\n"))
	}))
	defer garbage.Close()

	const timeout = 300 * time.Millisecond
	tests := []struct {
		name, url, want string
	}{
		{"dead", dead, "connection refused"},
		{"stalls", stall.URL, "did not answer within 300ms"},
		{"body never ends", trickle.URL, "did not finish its answer within 300ms"},
		{"too big", big.URL, "more than 1000 bytes"},
		{"404", notFound.URL, "404 Not Found"},
		{"not the text format", garbage.URL, "text format parsing error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := NewScraper(ScraperOptions{URL: tt.url, Timeout: timeout, MaxBytes: 1000})
			if err != nil {
				t.Fatal(err)
			}
			begun := time.Now()
			_, err = sc.Scrape(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			// Generous: the bound is 300 ms; a loaded machine may add seconds, not minutes.
			if took := time.Since(begun); took > timeout+10*time.Second {
				t.Errorf("the scrape took %v, bounded by %v", took, timeout)
			}
		})
	}
}

func TestCollector(t *testing.T) {
	s := gpuServer(t)
	sc, err := NewScraper(ScraperOptions{URL: "http://" + s.MetricsAddr + "/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCollector(sc, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var got []Sample
	for deadline := time.Now().Add(30 * time.Second); len(got) < 4 && time.Now().Before(deadline); {
		got = append(got, c.Take()...)
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) < 4 {
		t.Fatalf("%d scrapes in 30 s", len(got))
	}
	// The collector is the server's only scraper: utilizations alternate
	// 0.2, 0.6 from its first scrape on, so any even count averages 0.4.
	m := Aggregate(got[:4], nil)
	if g := m.GPUs[1]; g.UUID != "GPU-1" || g.Utilization != 0.4 || g.MemoryUsedBytes != 3000 {
		t.Errorf("GPU-1 over 4 scrapes: %+v", g)
	}
	for i := 1; i < len(got); i++ {
		if got[i].At.Before(got[i-1].At) {
			t.Fatal("samples out of order")
		}
	}
	for _, w := range c.Warnings() {
		// A slow scrape may be warned of on a loaded machine; an outage not.
		if strings.Contains(w, "missing") {
			t.Errorf("outage warning from a healthy server: %q", w)
		}
	}
}

func TestCollectorWarnsOncePerOutage(t *testing.T) {
	sc, err := NewScraper(ScraperOptions{URL: deadURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCollector(sc, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "perfgo keeps measuring") {
		t.Errorf("warnings %q, want one for the outage", w)
	}
	if len(c.Take()) != 0 {
		t.Error("samples from a dead URL")
	}
	if _, err := NewCollector(sc, 0); err == nil {
		t.Error("interval 0 accepted")
	}
}
