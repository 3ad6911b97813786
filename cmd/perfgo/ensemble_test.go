package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/loadgen"
	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// TestEnsembleComposing profiles perfgo serve's ensemble (identity, then
// delay): each level shows both steps as composing models whose counts
// equal the ensemble's and the client's, whose compute fits inside the
// ensemble's latency, and which get perf_analyzer's CSV files.
func TestEnsembleComposing(t *testing.T) {
	srv := servertest.Start(t, withDelay(2, 1))
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			url := addrFor(srv, proto)
			dir := t.TempDir()
			csvPath, jsonPath := filepath.Join(dir, "r.csv"), filepath.Join(dir, "r.json")
			const perLevel = 40
			code, stdout, stderr := perfgo(t, context.Background(), "-m", "ensemble", "-i", proto, "-u", url, "--concurrency-range", "2",
				"--request-count", "40", "--shape", "INPUT0:4", "-f", csvPath, "--json", jsonPath)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if strings.Count(stdout, "  Composing models: \n") != 1 || strings.Count(stdout, "  identity, version: 1\n") != 1 || strings.Count(stdout, "  delay, version: 1\n") != 1 {
				t.Errorf("want a composing block with identity and delay:\n%s", stdout)
			}
			levels, _ := readJSON(t, jsonPath)["levels"].([]any)
			if len(levels) != 1 {
				t.Fatalf("JSON has %d levels, want 1", len(levels))
			}
			for _, l := range levels {
				lv := l.(map[string]any)
				ens := lv["server"].(map[string]any)
				stat := func(m map[string]any, key, field string) float64 { return m[key].(map[string]any)[field].(float64) }
				steps, _ := ens["composing"].([]any)
				var names []string
				compute := 0.0
				for _, s := range steps {
					st := s.(map[string]any)
					names = append(names, st["model"].(string))
					if n := stat(st, "success", "count"); n != perLevel {
						t.Errorf("level %v: step %s counted %v requests, want %d", lv["value"], st["model"], n, perLevel)
					}
					for _, k := range []string{"compute_input", "compute_infer", "compute_output"} {
						compute += stat(st, k, "avg_us")
					}
				}
				slices.Sort(names)
				if !slices.Equal(names, []string{"delay", "identity"}) {
					t.Errorf("level %v: composing models %v, want delay and identity", lv["value"], names)
				}
				client := lv["client"].(map[string]any)
				if n, c := stat(ens, "success", "count"), client["requests"].(float64); n != perLevel || c != perLevel {
					t.Errorf("level %v: ensemble counted %v, client %v; want %d each", lv["value"], n, c, perLevel)
				}
				if avg := stat(ens, "success", "avg_us"); compute <= 0 || compute > avg {
					t.Errorf("level %v: the steps' compute %v us is not within the ensemble's latency %v us", lv["value"], compute, avg)
				}
			}
			main := readCSV(t, csvPath)
			for _, m := range []string{"identity", "delay"} {
				path := filepath.Join(dir, m+"_v1.r.csv")
				rows := readCSV(t, path)
				if len(rows) != len(main) || rows[0][0] != "Concurrency" || rows[0][len(rows[0])-1] != "Client Recv" {
					t.Fatalf("%s: %d rows, header %v; want %d rows ending in Client Recv", path, len(rows), rows[0], len(main))
				}
				// Every step served every request: the ensemble's throughput.
				for i := 1; i < len(rows); i++ {
					if rows[i][0] != main[i][0] || rows[i][1] != main[i][1] {
						t.Errorf("%s row %d: %v; the main CSV has %v", path, i, rows[i][:2], main[i][:2])
					}
				}
			}
		})
	}
}

// TestBLSComposingModels: --bls-composing-models adds the named models'
// statistics under the profiled model, as an ensemble's steps are.
func TestBLSComposingModels(t *testing.T) {
	srv := servertest.Start(t)
	dir := t.TempDir()
	code, stdout, stderr := perfgo(t, context.Background(), "-m", "identity", "-i", "grpc", "-u", srv.GRPCAddr, "--request-count", "20", "--shape", "INPUT0:4",
		"--bls-composing-models", "simple:1,delay", "-f", filepath.Join(dir, "r.csv"))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"  Composing models: \n", "  simple, version: 1\n", "  delay, version: 1\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, m := range []string{"simple", "delay"} {
		if _, err := os.Stat(filepath.Join(dir, m+"_v1.r.csv")); err != nil {
			t.Errorf("no CSV for composing model %s: %v", m, err)
		}
	}
}

// configOnly answers ModelConfig from a map; nothing else is called.
type configOnly struct {
	client.Client
	configs map[string]*inferencepb.ModelConfig
}

func (c configOnly) ModelConfig(_ context.Context, model, _ string) (*inferencepb.ModelConfig, error) {
	if cfg, ok := c.configs[model]; ok {
		return cfg, nil
	}
	return nil, client.ErrModelNotFound
}

func ensembleOf(name string, steps ...string) *inferencepb.ModelConfig {
	e := &inferencepb.ModelEnsembling{}
	for _, s := range steps {
		e.Step = append(e.Step, &inferencepb.ModelEnsembling_Step{ModelName: s, ModelVersion: -1})
	}
	return &inferencepb.ModelConfig{Name: name, SchedulingChoice: &inferencepb.ModelConfig_EnsembleScheduling{EnsembleScheduling: e}}
}

// TestEnsembleSteps: nested ensembles become nested composing models, a
// model used twice is listed once, and an ensemble naming itself or a
// missing step is one error, not a loop.
func TestEnsembleSteps(t *testing.T) {
	cl := configOnly{configs: map[string]*inferencepb.ModelConfig{
		"outer": ensembleOf("outer", "pre", "inner", "pre"),
		"inner": ensembleOf("inner", "leaf"),
		"pre":   {Name: "pre"}, "leaf": {Name: "leaf"},
		"loop":   ensembleOf("loop", "loop"),
		"broken": ensembleOf("broken", "nowhere"),
	}}
	got, err := ensembleSteps(context.Background(), cl, cl.configs["outer"], 0)
	want := []loadgen.ComposingModel{{Name: "pre"}, {Name: "inner", Composing: []loadgen.ComposingModel{{Name: "leaf"}}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("outer: %+v, %v; want %+v", got, err, want)
	}
	if _, err := ensembleSteps(context.Background(), cl, cl.configs["loop"], 0); err == nil || !strings.Contains(err.Error(), "name itself") {
		t.Errorf("loop: %v; want the nesting error", err)
	}
	if _, err := ensembleSteps(context.Background(), cl, cl.configs["broken"], 0); err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("broken: %v; want an error naming the step", err)
	}
}

// TestResponseCacheReport: against perfgo serve's response cache, every
// request after the first (perfgo sends the same one) is a hit, and the
// report has perf_analyzer's cache lines and columns.
func TestResponseCacheReport(t *testing.T) {
	srv := servertest.Start(t, func(o *server.Options) { o.ResponseCache = true })
	dir := t.TempDir()
	csvPath, jsonPath := filepath.Join(dir, "r.csv"), filepath.Join(dir, "r.json")
	code, stdout, stderr := perfgo(t, context.Background(), "-m", "identity", "-i", "http", "-u", srv.HTTPAddr, "--request-count", "30",
		"--shape", "INPUT0:4", "-f", csvPath, "--json", jsonPath)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"    Cache hit count: 29\n", "    Cache miss count: 1\n", "Average Cache Hit Latency: ", "Average Cache Miss Latency: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if h := readCSV(t, csvPath)[0]; !slices.Contains(h, "Server Cache Hit") || !slices.Contains(h, "Server Cache Miss") {
		t.Errorf("CSV header %v lacks the cache columns", h)
	}
	levels, _ := readJSON(t, jsonPath)["levels"].([]any)
	srvStats := levels[0].(map[string]any)["server"].(map[string]any)
	if hit, miss := srvStats["cache_hit"].(map[string]any)["count"], srvStats["cache_miss"].(map[string]any)["count"]; hit != 29.0 || miss != 1.0 {
		t.Errorf("JSON cache hits %v, misses %v; want 29 and 1", hit, miss)
	}
}
