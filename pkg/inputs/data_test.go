package inputs

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/datatype"
	pb "github.com/perfgo/perfgo/pkg/inferencepb"
)

// simpleModel is Triton's `simple`: INPUT0, INPUT1 INT32 [16] in,
// OUTPUT0, OUTPUT1 INT32 [16] out; maxBatch 0 or 8 in perfgo serve.
func simpleModel(maxBatch int32) Model {
	dims := []int64{16}
	if maxBatch > 0 {
		dims = []int64{-1, 16}
	}
	io := func(names ...string) []*pb.ModelMetadataResponse_TensorMetadata {
		var out []*pb.ModelMetadataResponse_TensorMetadata
		for _, n := range names {
			out = append(out, tm(n, "INT32", dims...))
		}
		return out
	}
	return Model{
		Metadata: &pb.ModelMetadataResponse{Name: "simple", Inputs: io("INPUT0", "INPUT1"), Outputs: io("OUTPUT0", "OUTPUT1")},
		Config:   &pb.ModelConfig{Name: "simple", MaxBatchSize: maxBatch},
	}
}

func int32s(v ...int32) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, uint32(x))
	}
	return out
}

func seq(from, n int32) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = from + int32(i)
	}
	return out
}

func writeTemp(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func tensor(t testing.TB, ts []client.Tensor, name string) client.Tensor {
	t.Helper()
	i := slices.IndexFunc(ts, func(x client.Tensor) bool { return x.Name == name })
	if i < 0 {
		t.Fatalf("no tensor %q in %+v", name, ts)
	}
	return ts[i]
}

func TestLoadDataExamples(t *testing.T) {
	td := func(n string) string { return filepath.Join("testdata", "data", n) }
	d, err := LoadData(simpleModel(0), []string{td("simple.json")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Summary(), " Successfully read data for 1 stream/streams with 3 step/steps."; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	in0 := tensor(t, d.Streams[0][1].Inputs, "INPUT0")
	if !bytes.Equal(in0.Data, int32s(seq(17, 16)...)) || !slices.Equal(in0.Shape, []int64{16}) || in0.Datatype != "INT32" {
		t.Errorf("step 1 INPUT0 = %+v", in0)
	}
	if d.Streams[0][0].Expected != nil {
		t.Errorf("Expected without validation_data = %+v", d.Streams[0][0].Expected)
	}

	d, err = LoadData(simpleModel(0), []string{td("b64.json")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tensor(t, d.Streams[0][0].Inputs, "INPUT0").Data; !bytes.Equal(got, int32s(seq(1, 16)...)) {
		t.Errorf("b64 INPUT0 = %v", got)
	}
	if got := tensor(t, d.Streams[0][0].Inputs, "INPUT1").Data; !bytes.Equal(got, int32s(slices.Repeat([]int32{1}, 16)...)) {
		t.Errorf("content b64 INPUT1 = %v", got)
	}

	d, err = LoadData(simpleModel(8), []string{td("simple_validation.json")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out0 := tensor(t, d.Streams[0][0].Expected, "OUTPUT0")
	if !bytes.Equal(out0.Data, int32s(seq(2, 16)...)) || !slices.Equal(out0.Shape, []int64{16}) {
		t.Errorf("expected OUTPUT0 = %+v", out0)
	}

	seqModel := Model{Metadata: &pb.ModelMetadataResponse{Name: "seq", Inputs: []*pb.ModelMetadataResponse_TensorMetadata{tm("INPUT", "INT32", 1)}}}
	d, err = LoadData(seqModel, []string{td("sequence.json"), td("sequence.json")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Summary(), " Successfully read data for 4 stream/streams."; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if len(d.Streams[1]) != 3 || !bytes.Equal(d.Streams[1][2].Inputs[0].Data, int32s(300)) {
		t.Errorf("stream 1 = %+v", d.Streams[1])
	}

	// Flat files add their steps to stream 0.
	d, err = LoadData(simpleModel(0), []string{td("simple.json"), td("simple.json")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Summary(), " Successfully read data for 1 stream/streams with 6 step/steps."; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}

	varModel := Model{Metadata: &pb.ModelMetadataResponse{Name: "v", Inputs: []*pb.ModelMetadataResponse_TensorMetadata{tm("INPUT0", "INT32", -1, -1), tm("INPUT1", "INT32", -1, -1)}}}
	d, err = LoadData(varModel, []string{td("shapes.json")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Streams[0][1].Inputs[0]; !slices.Equal(got.Shape, []int64{2, 3}) || len(got.Data) != 24 {
		t.Errorf("per-step shape: %+v", got)
	}
}

// typeCase is one datatype's values as JSON and as the binary layout.
type typeCase struct {
	dt    string
	json  string
	lines string // directory form for BYTES
	want  []byte
}

func typeCases() []typeCase {
	le := binary.LittleEndian
	var bytesWant []byte
	for _, s := range []string{"a", "", "héllo"} {
		bytesWant = datatype.AppendBytesElement(bytesWant, []byte(s))
	}
	return []typeCase{
		{"BOOL", "[true, false, true]", "", []byte{1, 0, 1}},
		{"UINT8", "[0, 255, 7]", "", []byte{0, 255, 7}},
		{"UINT16", "[0, 65535, 1]", "", le.AppendUint16(le.AppendUint16(le.AppendUint16(nil, 0), 65535), 1)},
		{"UINT32", "[0, 4294967295, 1]", "", le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 0), math.MaxUint32), 1)},
		{"UINT64", "[0, 18446744073709551615, 1]", "", le.AppendUint64(le.AppendUint64(le.AppendUint64(nil, 0), math.MaxUint64), 1)},
		{"INT8", "[-128, 127, -1]", "", []byte{0x80, 0x7f, 0xff}},
		{"INT16", "[-32768, 32767, -1]", "", le.AppendUint16(le.AppendUint16(le.AppendUint16(nil, 0x8000), 0x7fff), 0xffff)},
		{"INT32", "[-2147483648, 2147483647, -1]", "", int32s(math.MinInt32, math.MaxInt32, -1)},
		{"INT64", "[-9223372036854775808, 9223372036854775807, -1]", "", le.AppendUint64(le.AppendUint64(le.AppendUint64(nil, 1<<63), math.MaxInt64), math.MaxUint64)},
		{"FP16", "[1, -2, 0.5]", "", le.AppendUint16(le.AppendUint16(le.AppendUint16(nil, 0x3c00), 0xc000), 0x3800)},
		{"BF16", "[1, -2, 0.5]", "", le.AppendUint16(le.AppendUint16(le.AppendUint16(nil, 0x3f80), 0xc000), 0x3f00)},
		{"FP32", "[1.5, -2, 0.1]", "", le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-2)), math.Float32bits(0.1))},
		{"FP64", "[1.5, -2, 0.1]", "", le.AppendUint64(le.AppendUint64(le.AppendUint64(nil, math.Float64bits(1.5)), math.Float64bits(-2)), math.Float64bits(0.1))},
		{"BYTES", `["a", "", "h\u00e9llo"]`, "a\n\nhéllo\n", bytesWant},
	}
}

func oneInput(dt string, dims ...int64) Model {
	return Model{Metadata: &pb.ModelMetadataResponse{Name: "m", Inputs: []*pb.ModelMetadataResponse_TensorMetadata{tm("X", dt, dims...)}}}
}

func TestLoadDataTypes(t *testing.T) {
	for _, tc := range typeCases() {
		t.Run(tc.dt, func(t *testing.T) {
			m := oneInput(tc.dt, 3)
			forms := map[string]string{
				"array":   `{"data": [{"X": ` + tc.json + `}]}`,
				"b64":     `{"data": [{"X": {"b64": "` + base64.StdEncoding.EncodeToString(tc.want) + `"}}]}`,
				"content": `{"data": [{"X": {"content": ` + tc.json + `, "shape": [3]}}]}`,
			}
			for form, text := range forms {
				d, err := LoadData(m, []string{writeTemp(t, "d.json", text)}, Options{})
				if err != nil {
					t.Fatalf("%s: %v", form, err)
				}
				got := d.Streams[0][0].Inputs[0]
				if !bytes.Equal(got.Data, tc.want) || !slices.Equal(got.Shape, []int64{3}) || got.Datatype != tc.dt {
					t.Errorf("%s: got %+v, want data %v", form, got, tc.want)
				}
			}
			dir := t.TempDir()
			file := tc.want
			if tc.dt == "BYTES" {
				file = []byte(tc.lines)
			}
			if err := os.WriteFile(filepath.Join(dir, "X"), file, 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := LoadData(m, []string{dir}, Options{})
			if err != nil {
				t.Fatalf("dir: %v", err)
			}
			if got := d.Streams[0][0].Inputs[0]; !bytes.Equal(got.Data, tc.want) {
				t.Errorf("dir: got %+v, want data %v", got, tc.want)
			}
			if d.Summary() != "" {
				t.Errorf("dir Summary() = %q, want none (perf_analyzer prints none)", d.Summary())
			}
		})
	}
}
