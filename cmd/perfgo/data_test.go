package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// simpleData is perf_analyzer's JSON input format for the simple model:
// two steps, with the outputs each must produce; wrong flips one value.
func simpleData(t *testing.T, wrong bool) string {
	t.Helper()
	in0 := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	ones := make([]int, 16)
	for i := range ones {
		ones[i] = 1
	}
	sum, diff := make([]int, 16), make([]int, 16)
	for i := range in0 {
		sum[i], diff[i] = in0[i]+1, in0[i]-1
	}
	if wrong {
		sum[5]++
	}
	doc := map[string]any{
		"data": []map[string]any{
			{"INPUT0": in0, "INPUT1": ones},
			{"INPUT0": ones, "INPUT1": ones},
		},
		"validation_data": []map[string]any{
			{"OUTPUT0": sum, "OUTPUT1": diff},
			{"OUTPUT0": twos(16), "OUTPUT1": make([]int, 16)},
		},
	}
	return writeJSON(t, doc)
}

func twos(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = 2
	}
	return v
}

// --input-data files end to end: every response is checked against the
// file's validation_data; a wrong expectation fails every request of the
// step it belongs to, in class "validation".
func TestInputDataFiles(t *testing.T) {
	srv := servertest.Start(t)
	for _, proto := range []string{"grpc", "http"} {
		url := addrFor(srv, proto)
		t.Run(proto+" valid", func(t *testing.T) {
			code, stdout, stderr := perfgo(t, t.Context(), "-m", "simple", "-i", proto, "-u", url, "--input-data", simpleData(t, false), "--request-count", "40")
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			if !strings.HasPrefix(stdout, " Successfully read data for 1 stream/streams with 2 step/steps.\n") {
				t.Errorf("stdout does not start with perf_analyzer's loader line:\n%s", stdout)
			}
			if strings.Contains(stdout, "Failed requests") {
				t.Errorf("requests failed with correct validation data:\n%s", stdout)
			}
		})
		t.Run(proto+" wrong", func(t *testing.T) {
			code, stdout, stderr := perfgo(t, t.Context(), "-m", "simple", "-i", proto, "-u", url, "--input-data", simpleData(t, true), "--request-count", "40")
			// Steps alternate: half the requests fail validation.
			if code != exitFailures || !strings.Contains(stdout, "Failed requests: 20 of 40 (50.00%): validation 20") {
				t.Errorf("exit %d; want %d and 20 of 40 failed in class validation\n%s\n%s", code, exitFailures, stdout, stderr)
			}
			if !strings.Contains(stderr, `output "OUTPUT0"`) {
				t.Errorf("stderr does not name the output that differed:\n%s", stderr)
			}
		})
	}
}

// A directory holds one raw little-endian file per input.
func TestInputDataDirectory(t *testing.T) {
	srv := servertest.Start(t)
	dir := t.TempDir()
	raw := make([]byte, 16*4)
	for i := range 16 {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(i))
	}
	for _, name := range []string{"INPUT0", "INPUT1"} {
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := perfgo(t, t.Context(), "-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--input-data", dir, "--request-count", "10")
	// perf_analyzer prints its loader line for JSON data only.
	if code != 0 || strings.Contains(stdout, "Successfully read") || !strings.Contains(stdout, "Request count: 10") {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if err := os.Remove(filepath.Join(dir, "INPUT1")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = perfgo(t, t.Context(), "-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--input-data", dir, "--request-count", "10")
	if code != exitError || !strings.Contains(stderr, "INPUT1") {
		t.Errorf("a directory without INPUT1: exit %d, stderr %q; want 99 naming INPUT1", code, stderr)
	}
}

// Bad --input-data values are refused before anything is sent.
func TestInputDataFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--input-data", "/no/such/file.json"}, "--input-data /no/such/file.json: no such file"},
		{[]string{"--input-data", "random", "--input-data", "x.json"}, "cannot be combined with data files"},
		{[]string{"--input-data", "zero", "--data-directory", "d"}, "give one of them"},
	} {
		code, _, stderr := perfgo(t, t.Context(), append([]string{"-m", "simple", "-u", "127.0.0.1:1"}, tc.args...)...)
		if code != exitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 99 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// Every datatype from perf_analyzer's JSON format, end to end through the
// identity models (OUTPUT0 echoes INPUT0): two streams, per-step shapes,
// base64 contents, validation_data that every response must match, and a
// batch of two steps.
func TestInputDataEveryDatatype(t *testing.T) {
	srv := servertest.Start(t)
	values := map[string][]any{
		"BOOL": {true, false, true, true}, "BYTES": {"a", "", "hello, world", "ü"},
		"FP16": {0.5, 1.25, -2, 3}, "BF16": {0.5, 1.25, -2, 3}, "FP32": {0.1, 1.25, -2, 3e10}, "FP64": {0.1, 1.25, -2, 3e100},
	}
	for _, dt := range []string{"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"} {
		values[dt] = []any{0, 1, 7, 100}
	}
	for dt, vs := range values {
		// Stream 0: a flat array (shape [4]) then a per-step shape [3];
		// stream 1: one step of [2]. validation_data mirrors data.
		step := func(vs []any, shaped bool) map[string]any {
			if shaped {
				return map[string]any{"INPUT0": map[string]any{"content": vs, "shape": []int{len(vs)}}}
			}
			return map[string]any{"INPUT0": vs}
		}
		want := func(vs []any) map[string]any {
			return map[string]any{"OUTPUT0": map[string]any{"content": vs, "shape": []int{len(vs)}}}
		}
		doc := map[string]any{
			"data":            [][]map[string]any{{step(vs, true), step(vs[:3], true)}, {step(vs[:2], true)}},
			"validation_data": [][]map[string]any{{want(vs), want(vs[:3])}, {want(vs[:2])}},
		}
		path := writeJSON(t, doc)
		for _, proto := range []string{"grpc", "http"} {
			url := addrFor(srv, proto)
			model := "identity_" + strings.ToLower(dt)
			code, stdout, stderr := perfgo(t, t.Context(), "-m", model, "-i", proto, "-u", url, "--input-data", path, "--request-count", "12")
			if code != 0 || strings.Contains(stdout, "Failed requests") || !strings.Contains(stdout, "Successfully read data for 2 stream/streams.") {
				t.Errorf("%s over %s: exit %d\n%s\n%s", model, proto, code, stdout, stderr)
			}
		}
	}

	// base64 contents (BYTES with their length prefixes) and a batch of two
	// steps of the same shape.
	le := func(vs ...uint32) string {
		b := make([]byte, 4*len(vs))
		for i, v := range vs {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	prefixed := base64.StdEncoding.EncodeToString([]byte("\x02\x00\x00\x00hi\x00\x00\x00\x00"))
	for _, tc := range []struct {
		model string
		doc   map[string]any
		args  []string
	}{
		{"identity_int32", map[string]any{
			"data":            []map[string]any{{"INPUT0": map[string]any{"b64": le(1, 2, 3), "shape": []int{3}}}},
			"validation_data": []map[string]any{{"OUTPUT0": map[string]any{"b64": le(1, 2, 3), "shape": []int{3}}}},
		}, nil},
		{"identity_bytes", map[string]any{
			"data":            []map[string]any{{"INPUT0": map[string]any{"b64": prefixed, "shape": []int{2}}}},
			"validation_data": []map[string]any{{"OUTPUT0": map[string]any{"b64": prefixed, "shape": []int{2}}}},
		}, nil},
		{"identity_fp32", map[string]any{
			"data": []map[string]any{
				{"INPUT0": map[string]any{"content": []float64{1, 2}, "shape": []int{2}}},
				{"INPUT0": map[string]any{"content": []float64{3, 4}, "shape": []int{2}}},
			},
			"validation_data": []map[string]any{
				{"OUTPUT0": map[string]any{"content": []float64{1, 2}, "shape": []int{2}}},
				{"OUTPUT0": map[string]any{"content": []float64{3, 4}, "shape": []int{2}}},
			},
		}, []string{"-b", "2"}},
	} {
		args := append([]string{"-m", tc.model, "-i", "grpc", "-u", srv.GRPCAddr, "--input-data", writeJSON(t, tc.doc), "--request-count", "6", "--json", filepath.Join(t.TempDir(), "r.json")}, tc.args...)
		code, stdout, stderr := perfgo(t, t.Context(), args...)
		if code != 0 || strings.Contains(stdout, "Failed requests") {
			t.Errorf("%s %v: exit %d\n%s\n%s", tc.model, tc.args, code, stdout, stderr)
		}
		if slices.Contains(tc.args, "-b") && !strings.Contains(stdout, "Throughput") {
			t.Errorf("%s: no throughput reported", tc.model)
		}
	}
}

func writeJSON(t *testing.T, doc any) string {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
