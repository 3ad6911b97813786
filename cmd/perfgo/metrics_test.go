package main

import (
	"context"
	"math"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func TestMetricsFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		url      string
		families []string
		wantErr  string
	}{
		{"off", nil, "", nil, ""},
		{"derived from -u host:port", []string{"--collect-metrics", "-u", "10.0.0.7:8001"}, "http://10.0.0.7:8002/metrics", nil, ""},
		{"derived from the default -u", []string{"--collect-metrics"}, "http://localhost:8002/metrics", nil, ""},
		{"derived from a -u with a scheme", []string{"--collect-metrics", "-u", "https://triton.example:443"}, "http://triton.example:8002/metrics", nil, ""},
		{"derived from IPv6", []string{"--collect-metrics", "-u", "[::1]:8000"}, "http://[::1]:8002/metrics", nil, ""},
		{"derived from a bare host", []string{"--collect-metrics", "-u", "triton"}, "http://triton:8002/metrics", nil, ""},
		{"perf_analyzer's url form", []string{"--collect-metrics", "--metrics-url", "localhost:9000/metrics"}, "http://localhost:9000/metrics", nil, ""},
		{"full url", []string{"--collect-metrics", "--metrics-url", "https://h:1/m"}, "https://h:1/m", nil, ""},
		{"families", []string{"--collect-metrics", "--metric", "nv_inference_count", "--metric", "a:b_c"}, "http://localhost:8002/metrics", []string{"nv_inference_count", "a:b_c"}, ""},
		{"url without collect", []string{"--metrics-url", "h:1/m"}, "", nil, "--metrics-url needs --collect-metrics"},
		{"metric without collect", []string{"--metric", "x"}, "", nil, "--metric needs --collect-metrics"},
		{"interval 0", []string{"--collect-metrics", "--metrics-interval", "0"}, "", nil, "--metrics-interval 0: use 1 to"},
		{"bad metric name", []string{"--collect-metrics", "--metric", "x{a=\"b\"}"}, "", nil, "not a Prometheus metric name"},
		{"metric twice", []string{"--collect-metrics", "--metric", "x", "--metric", "x"}, "", nil, "--metric x is given twice"},
		{"bad scheme", []string{"--collect-metrics", "--metrics-url", "ftp://h/m"}, "", nil, "want an http URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOpts(t, append([]string{"-m", "simple"}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Metrics.Collect && (o.Metrics.URL != tt.url || strings.Join(o.Metrics.Families, ",") != strings.Join(tt.families, ",")) {
				t.Errorf("url %q families %q, want %q %q", o.Metrics.URL, o.Metrics.Families, tt.url, tt.families)
			}
			if o.Metrics.IntervalMs != defaultMetricsIntervalMs && !strings.Contains(strings.Join(tt.args, " "), "interval") {
				t.Errorf("interval %d", o.Metrics.IntervalMs)
			}
		})
	}
}

// TestCollectMetrics runs perfgo against perfgo serve exporting GPUs: the
// reported GPU figures are what the server was told (one GPU constant,
// one cycling 0.2/0.6 and 1000/3000 bytes), and the request counter's rate
// is the client's throughput.
func TestCollectMetrics(t *testing.T) {
	srv := servertest.Start(t, func(o *server.Options) {
		o.GPUs = []server.GPU{
			{UUID: "GPU-b", Utilization: []float64{0.2, 0.6}, PowerWatts: 75, MemoryUsedBytes: []uint64{1000, 3000}, MemoryTotalBytes: 16000},
			{UUID: "GPU-a", Utilization: []float64{0.5}, PowerWatts: 120.5, MemoryUsedBytes: []uint64{7}, MemoryTotalBytes: 8},
		}
	})
	dir := t.TempDir()
	csvPath, jsonPath := filepath.Join(dir, "out.csv"), filepath.Join(dir, "out.json")
	args := append([]string{"-m", "simple", "-u", srv.HTTPAddr, "--concurrency-range", "1:2", "-p", "400",
		"--collect-metrics", "--metrics-url", "http://" + srv.MetricsAddr + "/metrics", "--metrics-interval", "40",
		"--metric", "nv_inference_request_success", "-f", csvPath, "--verbose-csv", "--json", jsonPath}, anyWindows[2:]...)
	code, stdout, stderr := perfgo(t, context.Background(), args...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Count(stdout, "  Server Prometheus Metrics: \n    Avg GPU Utilization:\n      GPU-a : 50%\n      GPU-b : ") != 2 {
		t.Fatalf("want two Prometheus sections, GPUs in UUID order:\n%s", stdout)
	}
	for _, want := range []string{"    Avg GPU Power Usage:\n      GPU-a : 120.5 watts\n      GPU-b : 75 watts\n",
		"    Max GPU Memory Usage:\n      GPU-a : 7 bytes\n      GPU-b : 3000 bytes\n",
		"    Total GPU Memory:\n      GPU-a : 8 bytes\n      GPU-b : 16000 bytes\n"} {
		if strings.Count(stdout, want) != 2 {
			t.Errorf("want twice %q in\n%s", want, stdout)
		}
	}
	// Alternating 0.2 and 0.6 average 0.4 give or take 0.4/n for n
	// scrapes (n >= 2: at most 46.7 for 3); the first, the last or the
	// largest value would be 20 or 60.
	for _, m := range regexp.MustCompile(`GPU-b : ([0-9.]+)%`).FindAllStringSubmatch(stdout, -1) {
		if u, _ := strconv.ParseFloat(m[1], 64); math.Abs(u-40) > 7 {
			t.Errorf("GPU-b utilization %v%%, want about 40%%", u)
		}
	}
	rate := regexp.MustCompile(`(?m)^    nv_inference_request_success\{model="simple",version="1"\}: ([0-9.e+]+)/sec$`).FindAllStringSubmatch(stdout, -1)
	throughput := regexp.MustCompile(`(?m)^    Throughput: ([0-9.e+]+) infer/sec$`).FindAllStringSubmatch(stdout, -1)
	if len(rate) != 2 || len(throughput) != 2 {
		t.Fatalf("rates %q, throughputs %q in\n%s", rate, throughput, stdout)
	}
	for i := range rate {
		r, _ := strconv.ParseFloat(rate[i][1], 64)
		x, _ := strconv.ParseFloat(throughput[i][1], 64)
		// Generous: the scrapes span a little less than the windows.
		if !(r > 0.5*x && r < 2*x) {
			t.Errorf("level %d: request counter rate %v/s, client throughput %v/s", i+1, r, x)
		}
	}

	rows := readCSV(t, csvPath)
	header := strings.Join(rows[0], ",")
	if !strings.Contains(header, ",response wait,Avg GPU Utilization,Avg GPU Power Usage,Max GPU Memory Usage,Total GPU Memory,") ||
		!strings.HasSuffix(header, ",nv_inference_request_success") {
		t.Errorf("CSV header %s", header)
	}
	col := func(name string) int {
		for i, h := range rows[0] {
			if h == name {
				return i
			}
		}
		t.Fatalf("no CSV column %s", name)
		return -1
	}
	for _, r := range rows[1:] {
		if got := r[col("Max GPU Memory Usage")]; got != "GPU-a:7;GPU-b:3000;" {
			t.Errorf("Max GPU Memory Usage cell %q", got)
		}
		if got := r[col("Avg GPU Power Usage")]; got != "GPU-a:120.5;GPU-b:75;" {
			t.Errorf("Avg GPU Power Usage cell %q", got)
		}
		if got := r[col("nv_inference_request_success")]; !strings.Contains(got, "model=simple version=1:") {
			t.Errorf("request counter cell %q", got)
		}
	}

	doc := readJSON(t, jsonPath)
	levels := doc["levels"].([]any)
	for _, l := range levels {
		m, ok := l.(map[string]any)["metrics"].(map[string]any)
		if !ok {
			t.Fatalf("a level without metrics: %v", l)
		}
		gpus := m["gpus"].([]any)
		a := gpus[0].(map[string]any)
		if a["uuid"] != "GPU-a" || a["utilization"] != 0.5 || a["power_watts"] != 120.5 || a["memory_used_bytes"] != 7.0 || a["memory_total_bytes"] != 8.0 {
			t.Errorf("GPU-a in JSON: %v", a)
		}
		if m["scrapes"].(float64) < 2 {
			t.Errorf("%v scrapes", m["scrapes"])
		}
	}
	if s := doc["settings"].(map[string]any)["metrics"].(map[string]any); s["interval_ms"] != 40.0 {
		t.Errorf("settings.metrics %v", s)
	}
}

// TestCollectMetricsDeadURL: nothing answers at the metrics URL: one
// warning, and a complete run.
func TestCollectMetricsDeadURL(t *testing.T) {
	srv := servertest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String() + "/metrics"
	_ = ln.Close()
	args := append([]string{"-m", "simple", "-u", srv.HTTPAddr, "--concurrency-range", "1:2",
		"--collect-metrics", "--metrics-url", dead, "--metrics-interval", "20"}, anyWindows...)
	code, stdout, stderr := perfgo(t, context.Background(), args...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, c := range []string{"1", "2"} {
		if !strings.Contains(stdout, "Request concurrency: "+c+"\n  Client: \n") {
			t.Errorf("no reported block for concurrency %s:\n%s", c, stdout)
		}
	}
	if strings.Contains(stdout, "Prometheus") {
		t.Errorf("metrics reported from a dead URL:\n%s", stdout)
	}
	if n := strings.Count(stderr, "the server's metrics are missing"); n != 1 {
		t.Errorf("%d outage warnings, want 1:\n%s", n, stderr)
	}
}
