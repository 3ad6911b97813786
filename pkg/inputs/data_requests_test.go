package inputs

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// steps makes a flat file for the simple model whose step i has INPUT0 all i.
func simpleSteps(n int) string {
	var b strings.Builder
	b.WriteString(`{"data": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		v := strings.Repeat(fmt.Sprintf("%d,", i), 16)
		fmt.Fprintf(&b, `{"INPUT0": [%s], "INPUT1": %s}`, v[:len(v)-1], ones16)
	}
	b.WriteString("]}")
	return b.String()
}

func TestRequests(t *testing.T) {
	tests := []struct {
		name      string
		steps     int
		maxBatch  int32
		batch     int
		wantSteps [][]int32 // INPUT0's value per batch member, per request
		wantErr   string
	}{
		{"no batching", 3, 0, 1, [][]int32{{0}, {1}, {2}}, ""},
		{"batching, b=1", 3, 8, 1, [][]int32{{0}, {1}, {2}}, ""},
		{"b=2 of 3: the last step is not sent", 3, 8, 2, [][]int32{{0, 1}}, ""},
		{"b=2 of 4", 4, 8, 2, [][]int32{{0, 1}, {2, 3}}, ""},
		{"b=4 of 3 wraps", 3, 8, 4, [][]int32{{0, 1, 2, 0}}, ""},
		{"b over max", 3, 8, 9, nil, "max_batch_size 8"},
		{"b without batching", 3, 0, 2, nil, "does not support batching"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := simpleModel(tt.maxBatch)
			d, err := LoadData(m, []string{writeTemp(t, "d.json", simpleSteps(tt.steps))}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			reqs, err := d.Requests(m, tt.batch)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) != len(tt.wantSteps) {
				t.Fatalf("%d requests, want %d", len(reqs), len(tt.wantSteps))
			}
			for i, r := range reqs {
				in0 := tensor(t, r.Inputs, "INPUT0")
				var want []byte
				for _, v := range tt.wantSteps[i] {
					want = append(want, int32s(slices.Repeat([]int32{v}, 16)...)...)
				}
				wantShape := []int64{16}
				if tt.maxBatch > 0 {
					wantShape = []int64{int64(len(tt.wantSteps[i])), 16}
				}
				if !bytes.Equal(in0.Data, want) || !slices.Equal(in0.Shape, wantShape) {
					t.Errorf("request %d INPUT0: shape %v data %v, want shape %v data %v", i, in0.Shape, in0.Data, wantShape, want)
				}
				if len(r.Inputs) != 2 || r.Expected != nil {
					t.Errorf("request %d: %d inputs, expected %v", i, len(r.Inputs), r.Expected)
				}
			}
		})
	}
}

func TestRequestsShapesAndStreams(t *testing.T) {
	m := oneInput("INT32", -1, -1)
	m.Config = nil
	d, err := LoadData(m, []string{filepath.Join("testdata", "data", "sequence.json")}, Options{Shapes: map[string][]int64{"X": {1}}})
	if err == nil {
		t.Fatalf("sequence.json names INPUT, not X: got %+v", d)
	}
	m = simpleModel(8)
	m.Metadata.Inputs[0].Shape = []int64{-1, -1}
	m.Metadata.Inputs[1].Shape = []int64{-1, -1}
	m.Metadata.Outputs[0].Shape = []int64{-1, -1}
	m.Metadata.Outputs[1].Shape = []int64{-1, -1}
	text := `{"data": [[{"INPUT0": {"content": [1, 2], "shape": [2]}, "INPUT1": {"content": [1, 2], "shape": [2]}},
		{"INPUT0": {"content": [1, 2, 3], "shape": [3]}, "INPUT1": {"content": [1, 2, 3], "shape": [3]}}],
		[{"INPUT0": {"content": [5], "shape": [1]}, "INPUT1": {"content": [6], "shape": [1]}}]],
		"validation_data": [[{"OUTPUT0": [1, 2]}, {"OUTPUT0": [1, 2, 3]}], [{"OUTPUT1": {"b64": "BwAAAA=="}}]]}`
	d, err = LoadData(m, []string{writeTemp(t, "d.json", text)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := d.Requests(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 3 || !slices.Equal(reqs[1].Inputs[0].Shape, []int64{1, 3}) || !slices.Equal(reqs[2].Inputs[1].Data, int32s(6)) {
		t.Fatalf("requests stream by stream: %+v", reqs)
	}
	if e := reqs[2].Expected; len(e) != 1 || e[0].Name != "OUTPUT1" || !slices.Equal(e[0].Shape, []int64{1, 1}) || !bytes.Equal(e[0].Data, int32s(7)) {
		t.Errorf("expected of stream 1: %+v", e)
	}
	if _, err := d.Requests(m, 2); err == nil || !strings.Contains(err.Error(), `"INPUT0" has shape [2] in step 0 but [3] in step 1`) {
		t.Errorf("different shapes in a batch: %v", err)
	}
}

// TestLoadDataMemory loads a generated ~20 MB file: the loader must
// allocate (in all, garbage included) at most 2.5x the file's size.
func TestLoadDataMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 20 MB")
	}
	m := oneInput("FP32", 4096)
	var b strings.Builder
	row := strings.TrimSuffix(strings.Repeat("0.12345678,", 4096), ",")
	b.WriteString(`{"data": [`)
	for i := 0; b.Len() < 20<<20; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(`{"X": [` + row + `]}`)
	}
	b.WriteString("]}")
	size := b.Len()
	path := writeTemp(t, "big.json", b.String())
	b.Reset()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := LoadData(m, []string{path}, Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	ratio := float64(alloc) / float64(size)
	t.Logf("file %.1f MB, %d steps: allocated %.1f MB (%.2fx the file), %d allocations", float64(size)/(1<<20), len(d.Streams[0]), float64(alloc)/(1<<20), ratio, after.Mallocs-before.Mallocs)
	if ratio > 2.5 {
		t.Errorf("allocated %.2fx the file's size, want at most 2.5x", ratio)
	}
}
