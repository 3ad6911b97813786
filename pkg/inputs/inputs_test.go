package inputs

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	pb "github.com/perfgo/perfgo/pkg/inferencepb"
)

func model(maxBatch int32, inputs ...*pb.ModelMetadataResponse_TensorMetadata) Model {
	cfg := &pb.ModelConfig{Name: "m", MaxBatchSize: maxBatch}
	return Model{
		Metadata: &pb.ModelMetadataResponse{Name: "m", Inputs: inputs, Outputs: []*pb.ModelMetadataResponse_TensorMetadata{{Name: "OUT", Datatype: "FP32"}}},
		Config:   cfg,
	}
}

// noConfig is a model on a server without the model_configuration extension.
func noConfig(inputs ...*pb.ModelMetadataResponse_TensorMetadata) Model {
	m := model(0, inputs...)
	m.Config = nil
	return m
}

func tm(name, dt string, shape ...int64) *pb.ModelMetadataResponse_TensorMetadata {
	return &pb.ModelMetadataResponse_TensorMetadata{Name: name, Datatype: dt, Shape: shape}
}

func TestBuildShapes(t *testing.T) {
	tests := []struct {
		name      string
		m         Model
		o         Options
		wantShape []int64
		wantBytes int
		wantErr   string
	}{
		{"batching fixed dims", model(8, tm("IN", "INT32", -1, 16)), Options{BatchSize: 4}, []int64{4, 16}, 4 * 16 * 4, ""},
		{"no batching", model(0, tm("IN", "FP32", 3, 2)), Options{}, []int64{3, 2}, 24, ""},
		{"variable dim from --shape", model(8, tm("IN", "FP32", -1, -1)), Options{BatchSize: 2, Shapes: map[string][]int64{"IN": {5}}}, []int64{2, 5}, 40, ""},
		{"variable dim missing", model(8, tm("IN", "FP32", -1, -1)), Options{}, nil, 0, "--shape IN:16"},
		{"shape rank mismatch", model(0, tm("IN", "FP32", -1)), Options{Shapes: map[string][]int64{"IN": {1, 2}}}, nil, 0, "has 2 dims"},
		{"shape contradicts fixed dim", model(0, tm("IN", "FP32", 4)), Options{Shapes: map[string][]int64{"IN": {5}}}, nil, 0, "does not match"},
		{"batch over max", model(8, tm("IN", "FP32", -1, 1)), Options{BatchSize: 9}, nil, 0, "exceeds model \"m\"'s max_batch_size 8"},
		{"batch without batching", model(0, tm("IN", "FP32", 1)), Options{BatchSize: 2}, nil, 0, "does not support batching"},
		{"unknown --shape input", model(0, tm("IN", "FP32", 1)), Options{Shapes: map[string][]int64{"NOPE": {1}}}, nil, 0, "not an input"},
		{"bytes", model(0, tm("S", "BYTES", 2)), Options{StringLength: 3}, []int64{2}, 2 * (4 + 3), ""},
		{"fp16", model(0, tm("H", "FP16", 3)), Options{}, []int64{3}, 6, ""},
		{"bad datatype", model(0, tm("X", "COMPLEX", 1)), Options{}, nil, 0, "unsupported datatype"},
		{"string data", model(0, tm("S", "BYTES", 3)), Options{StringLength: 9, StringData: "héllo"}, []int64{3}, 3 * (4 + 6), ""},
		// Without a model configuration a leading -1 is the batch dimension.
		{"no config: -b fills the leading -1", noConfig(tm("IN", "INT32", -1, 16)), Options{BatchSize: 2}, []int64{2, 16}, 2 * 16 * 4, ""},
		{"no config: batch 1", noConfig(tm("IN", "INT32", -1, 16)), Options{}, []int64{1, 16}, 16 * 4, ""},
		{"no config: --shape without the batch dim", noConfig(tm("IN", "FP32", -1, -1)), Options{BatchSize: 3, Shapes: map[string][]int64{"IN": {5}}}, []int64{3, 5}, 3 * 5 * 4, ""},
		{"no config: fixed shape at -b 1", noConfig(tm("IN", "FP32", 3, 2)), Options{}, []int64{3, 2}, 24, ""},
		{"no config: fixed shape refuses -b 2", noConfig(tm("IN", "FP32", 3, 2)), Options{BatchSize: 2}, nil, 0, "no leading -1 and the server gives no model configuration; use -b 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, outs, err := Build(tt.m, tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != 1 || !slices.Equal(ts[0].Shape, tt.wantShape) || len(ts[0].Data) != tt.wantBytes {
				t.Fatalf("got %+v (%d bytes), want shape %v and %d bytes", ts, len(ts[0].Data), tt.wantShape, tt.wantBytes)
			}
			if !slices.Equal(outs, []string{"OUT"}) {
				t.Fatalf("outputs = %v", outs)
			}
		})
	}
}

func TestBuildMissingShapeIsErrShape(t *testing.T) {
	_, _, err := Build(model(0, tm("IN", "FP32", -1)), Options{})
	if !errors.Is(err, ErrShape) {
		t.Fatalf("err = %v, want ErrShape", err)
	}
}

func TestBuildSkipsOptionalInputs(t *testing.T) {
	m := model(0, tm("A", "FP32", 1), tm("B", "FP32", 1))
	m.Config.Input = []*pb.ModelInput{{Name: "B", Optional: true}}
	ts, _, err := Build(m, Options{})
	if err != nil || len(ts) != 1 || ts[0].Name != "A" {
		t.Fatalf("got %+v, %v; want only A", ts, err)
	}
}

func TestZeroAndRandomData(t *testing.T) {
	m := model(0, tm("IN", "INT32", 64))
	zero, _, err := Build(m, Options{Data: Zero})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(zero[0].Data, func(b byte) bool { return b != 0 }) {
		t.Fatal("zero data has a non-zero byte")
	}
	r1, _, _ := Build(m, Options{Seed: 1})
	r2, _, _ := Build(m, Options{Seed: 1})
	r3, _, _ := Build(m, Options{Seed: 2})
	if !slices.Equal(r1[0].Data, r2[0].Data) {
		t.Fatal("same seed gave different data")
	}
	if slices.Equal(r1[0].Data, r3[0].Data) {
		t.Fatal("different seeds gave the same data")
	}
}

func TestBytesElementsArePrefixed(t *testing.T) {
	ts, _, err := Build(model(0, tm("S", "BYTES", 3)), Options{StringLength: 5})
	if err != nil {
		t.Fatal(err)
	}
	d := ts[0].Data
	for i := 0; i < 3; i++ {
		if n := binary.LittleEndian.Uint32(d); n != 5 {
			t.Fatalf("element %d length prefix = %d, want 5", i, n)
		}
		d = d[9:]
	}
	if len(d) != 0 {
		t.Fatalf("%d trailing bytes", len(d))
	}
}

func TestParseShape(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		dims    []int64
		wantErr bool
	}{
		{"INPUT0:3,224,224", "INPUT0", []int64{3, 224, 224}, false},
		{"a:b:7", "a:b", []int64{7}, false},
		{"IN: 4 , 5", "IN", []int64{4, 5}, false},
		{"IN:0", "", nil, true},
		{"IN:-1", "", nil, true},
		{"IN:", "", nil, true},
		{":3", "", nil, true},
		{"IN", "", nil, true},
		{"IN:3,,4", "", nil, true},
		{"IN:x", "", nil, true},
	}
	for _, tt := range tests {
		name, dims, err := ParseShape(tt.in)
		if (err != nil) != tt.wantErr || name != tt.name || !slices.Equal(dims, tt.dims) {
			t.Errorf("ParseShape(%q) = %q, %v, %v", tt.in, name, dims, err)
		}
	}
}

func FuzzParseShape(f *testing.F) {
	for _, s := range []string{"INPUT0:3,224,224", "a:b:7", "IN:", ":", "IN:1,-2", "x:9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, dims, err := ParseShape(s)
		if err != nil {
			return
		}
		if name == "" || len(dims) == 0 {
			t.Fatalf("ParseShape(%q) accepted an empty name or no dims", s)
		}
		for _, d := range dims {
			if d <= 0 {
				t.Fatalf("ParseShape(%q) accepted dim %d", s, d)
			}
		}
		name2, dims2, err := ParseShape(name + ":" + FormatDims(dims))
		if err != nil || name2 != name || !slices.Equal(dims2, dims) {
			t.Fatalf("round trip of %q gave %q %v %v", s, name2, dims2, err)
		}
	})
}

func TestStringDataOverridesZeroAndLength(t *testing.T) {
	for _, data := range []string{Random, Zero} {
		ts, _, err := Build(model(0, tm("S", "BYTES", 2)), Options{Data: data, StringLength: 3, StringData: "a:b"})
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{3, 0, 0, 0, 'a', ':', 'b', 3, 0, 0, 0, 'a', ':', 'b'}
		if !slices.Equal(ts[0].Data, want) {
			t.Errorf("%s: data %q, want %q", data, ts[0].Data, want)
		}
	}
}

// TestNoConfigSuggestionIsPastable: the suggested --shape leaves out the
// batch dimension, so pasting it gives batch 1.
func TestNoConfigSuggestionIsPastable(t *testing.T) {
	m := noConfig(tm("IN", "FP32", -1, -1, 3))
	_, _, err := Build(m, Options{})
	if err == nil || !strings.HasSuffix(err.Error(), "--shape IN:16,3") {
		t.Fatalf("err = %v, want the suggestion --shape IN:16,3 at its end", err)
	}
	name, dims, err := ParseShape("IN:16,3")
	if err != nil {
		t.Fatal(err)
	}
	ts, _, err := Build(m, Options{Shapes: map[string][]int64{name: dims}})
	if err != nil || !slices.Equal(ts[0].Shape, []int64{1, 16, 3}) {
		t.Fatalf("pasted: %v, %v; want shape 1,16,3", ts, err)
	}
}
