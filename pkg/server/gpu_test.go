package server_test

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func TestParseGPU(t *testing.T) {
	tests := []struct {
		spec    string
		want    server.GPU
		wantErr string
	}{
		{"GPU-0:0.5:120:1000:16000", server.GPU{UUID: "GPU-0", Utilization: []float64{0.5}, PowerWatts: 120, MemoryUsedBytes: []uint64{1000}, MemoryTotalBytes: 16000}, ""},
		{"GPU-0:0.2/0.6:0:1/3:3", server.GPU{UUID: "GPU-0", Utilization: []float64{0.2, 0.6}, MemoryUsedBytes: []uint64{1, 3}, MemoryTotalBytes: 3}, ""},
		{"GPU-0:0.5:120:1000", server.GPU{}, "4 fields"},
		{":0.5:120:1000:16000", server.GPU{}, "UUID is empty"},
		{"GPU-0:1.5:120:1000:16000", server.GPU{}, `utilization "1.5" is not a number from 0 to 1`},
		{"GPU-0:0.2/:120:1000:16000", server.GPU{}, `utilization "" is not`},
		{"GPU-0:NaN:120:1000:16000", server.GPU{}, `utilization "NaN"`},
		{"GPU-0:0.5:-1:1000:16000", server.GPU{}, `power "-1"`},
		{"GPU-0:0.5:1:20000:16000", server.GPU{}, `used memory "20000" is not a whole number of bytes up to the total`},
		{"GPU-0:0.5:1:1:1e9", server.GPU{}, `total memory "1e9"`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := server.ParseGPU(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), server.GPUFormat) {
					t.Fatalf("error %v, want one with %q and the format", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.UUID != tt.want.UUID || !slices.Equal(got.Utilization, tt.want.Utilization) || got.PowerWatts != tt.want.PowerWatts ||
				!slices.Equal(got.MemoryUsedBytes, tt.want.MemoryUsedBytes) || got.MemoryTotalBytes != tt.want.MemoryTotalBytes {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseGPU(f *testing.F) {
	f.Add("GPU-0:0.2/0.6:120:1000/3000:16000")
	f.Add("a:1:0:0:0")
	f.Fuzz(func(t *testing.T, spec string) {
		g, err := server.ParseGPU(spec)
		if err != nil {
			return
		}
		if g.UUID == "" || len(g.Utilization) == 0 || len(g.MemoryUsedBytes) == 0 {
			t.Fatalf("accepted %q as %+v", spec, g)
		}
		if _, err := server.New(server.Options{GPUs: []server.GPU{g}}); err != nil {
			t.Fatalf("the server refuses parsed GPU %+v: %v", g, err)
		}
	})
}

// TestGPUMetricsCycle: each scrape exports the next value of a cycled list.
func TestGPUMetricsCycle(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) {
		o.GPUs = []server.GPU{{UUID: "GPU-x", Utilization: []float64{0.25, 0.75}, PowerWatts: 42, MemoryUsedBytes: []uint64{5, 6, 7}, MemoryTotalBytes: 10}}
	})
	util := regexp.MustCompile(`(?m)^nv_gpu_utilization\{gpu_uuid="GPU-x"\} (\S+)$`)
	used := regexp.MustCompile(`(?m)^nv_gpu_memory_used_bytes\{gpu_uuid="GPU-x"\} (\S+)$`)
	var utils, useds []string
	for range 4 {
		resp, err := http.Get("http://" + s.MetricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`nv_gpu_power_usage{gpu_uuid="GPU-x"} 42`, `nv_gpu_memory_total_bytes{gpu_uuid="GPU-x"} 10`, "# TYPE nv_gpu_utilization gauge"} {
			if !strings.Contains(string(body), want) {
				t.Fatalf("no %q in\n%s", want, body)
			}
		}
		utils = append(utils, util.FindStringSubmatch(string(body))[1])
		useds = append(useds, used.FindStringSubmatch(string(body))[1])
	}
	if !slices.Equal(utils, []string{"0.25", "0.75", "0.25", "0.75"}) || !slices.Equal(useds, []string{"5", "6", "7", "5"}) {
		t.Errorf("utilizations %v, used %v", utils, useds)
	}
}

func TestGPUOptionsChecked(t *testing.T) {
	g := server.GPU{UUID: "a", Utilization: []float64{1}, MemoryUsedBytes: []uint64{1}, MemoryTotalBytes: 1}
	if _, err := server.New(server.Options{GPUs: []server.GPU{g, g}}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate UUID: %v", err)
	}
	if _, err := server.New(server.Options{GPUs: []server.GPU{{UUID: "b"}}}); err == nil {
		t.Error("a GPU without values accepted")
	}
}
