package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// A decoupled model goes on streams without --streaming; with
// --request-count every request is in the one window, so the client's
// counts of requests and responses are exact and equal the server's.
func TestStreamingDecoupledExactCounts(t *testing.T) {
	srv := servertest.Start(t)
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"decoupled implied", []string{"-m", "repeat", "--shape", "IN:8"}},
		{"decoupled final latency", []string{"-m", "repeat", "--shape", "IN:8", "--streaming", "--stream-latency", "final"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := successCount(t, srv, "repeat")
			csvPath := filepath.Join(t.TempDir(), "out.csv")
			args := append([]string{"-i", "grpc", "-u", srv.GRPCAddr, "--concurrency-range", "3", "--request-count", "120", "-f", csvPath}, tt.args...)
			levels := jsonLevels(t, args...)
			c := levels[0]["client"].(map[string]any)
			st, ok := c["stream"].(map[string]any)
			if !ok {
				t.Fatalf("no stream statistics in %v", c)
			}
			if c["requests"].(float64) != 120 || st["responses"].(float64) != 960 || st["responses_per_request"].(float64) != 8 {
				t.Errorf("%v requests, %v responses, %v per request; want 120, 960, 8", c["requests"], st["responses"], st["responses_per_request"])
			}
			if got := successCount(t, srv, "repeat") - before; got != 120 {
				t.Errorf("the server saw %d requests, the client 120", got)
			}
			rows := readCSV(t, csvPath)
			header := strings.Join(rows[0], ",")
			for _, col := range []string{"Response Throughput", "First Response p50", "Between Responses p99", "Final Response Avg", "Responses/Request"} {
				if !strings.Contains(header, col) {
					t.Errorf("CSV header lacks %q: %s", col, header)
				}
			}
		})
	}
}

func successCount(t *testing.T, srv *servertest.Server, model string) uint64 {
	t.Helper()
	st, err := srv.Statistics(model)
	if err != nil {
		t.Fatal(err)
	}
	return st.GetModelStats()[0].GetInferenceStats().GetSuccess().GetCount()
}

// --streaming sends a model that is not decoupled on streams too: one
// response per request, no time between responses.
func TestStreamingOneResponseModel(t *testing.T) {
	srv := servertest.Start(t)
	code, stdout, stderr := perfgo(t, context.Background(), append([]string{"-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--streaming", "--concurrency-range", "2"}, anyWindows...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"  Streaming: latency is measured to the first response\n", "  Using asynchronous calls for inference\n", "    Between responses: none\n", "    Responses: 1 per request, "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

// Sequences over both protocols: each sequence sends one data stream, in
// order, from its start: the stateful model's running sums equal the
// data's validation_data, which every response is checked against.
func TestSequencesWithDataStreams(t *testing.T) {
	srv := servertest.Start(t)
	type step map[string][]int
	data := writeJSON(t, map[string]any{
		"data":            [][]step{{{"INPUT": {1}}, {"INPUT": {2}}, {"INPUT": {3}}}, {{"INPUT": {10}}, {"INPUT": {20}}}},
		"validation_data": [][]step{{{"OUTPUT": {1}}, {"OUTPUT": {3}}, {"OUTPUT": {6}}}, {{"OUTPUT": {10}}, {"OUTPUT": {30}}}},
	})
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			url := srv.GRPCAddr
			if proto == "http" {
				url = srv.HTTPAddr
			}
			code, stdout, stderr := perfgo(t, context.Background(), append([]string{"-m", "sequence", "-i", proto, "-u", url,
				"--input-data", data, "--concurrency-range", "1:3", "--sequence-id-range", "100:103"}, anyWindows...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			if n := strings.Count(stdout, "    Sequence count: "); n != 3 {
				t.Errorf("%d sequence count lines; want 3:\n%s", n, stdout)
			}
			if strings.Contains(stdout, "Failed requests") || stderr != "" {
				t.Errorf("failures or warnings:\n%s\n%s", stdout, stderr)
			}
		})
	}
}

// A sequence id range smaller than the concurrency is refused in one line.
func TestSequenceIDRangeTooSmall(t *testing.T) {
	srv := servertest.Start(t)
	code, stdout, stderr := perfgo(t, context.Background(), "-m", "sequence", "-i", "grpc", "-u", srv.GRPCAddr,
		"--concurrency-range", "4", "--sequence-id-range", "1:3")
	if code != exitError || !strings.Contains(stderr, "sequence id range 1:3 holds 2 ids, fewer than the concurrency needs at once (4): widen the range") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want %d and one line about the range\n%s", code, stderr, exitError, stdout)
	}
}
