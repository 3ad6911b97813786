package inputs

import (
	"os"
	"path/filepath"
	"testing"

	pb "github.com/perfgo/perfgo/pkg/inferencepb"
)

// fuzzModel has one input of every kind the loader treats apart: fixed
// and variable dims, BYTES, FP16, BOOL, and an optional one.
func fuzzModel() Model {
	return Model{
		Metadata: &pb.ModelMetadataResponse{
			Name: "f",
			Inputs: []*pb.ModelMetadataResponse_TensorMetadata{
				tm("A", "INT32", -1, 2), tm("B", "BYTES", -1, -1), tm("C", "FP16", -1, 1), tm("D", "BOOL", -1, 1),
			},
			Outputs: []*pb.ModelMetadataResponse_TensorMetadata{tm("O", "FP32", -1, -1)},
		},
		Config: &pb.ModelConfig{Name: "f", MaxBatchSize: 4, Input: []*pb.ModelInput{{Name: "D", Optional: true}}},
	}
}

func FuzzLoadJSON(f *testing.F) {
	for _, s := range []string{
		`{"data": [{"A": [1, 2], "B": {"content": ["x"], "shape": [1]}, "C": [0.5]}]}`,
		`{"data": [[{"A": {"b64": "AQAAAAIAAAA="}, "B": {"content": {"b64": "AQAAAHg="}, "shape": [1]}, "C": [1e-8], "D": [true]}]], "validation_data": [[{"O": [1.5]}]]}`,
		`{"data": [{"A": [[1], [2]], "B": {"content": ["a\u00e9\n", "b"], "shape": [2]}, "C": [65504]}, {"A": [3, 4], "B": {"content": [], "shape": [0]}, "C": [-0]}]}`,
		`{"data": [{"A": [1, 2, 3]}]}`,
		`{"data": [1, [2]]}`,
		`{"data": {"A": 1}}`,
		`[`,
	} {
		f.Add(s)
	}
	m := fuzzModel()
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "f.json")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := LoadData(m, []string{path}, Options{})
		if err != nil {
			return
		}
		_ = d.Summary()
		for b := 1; b <= 4; b++ {
			_, _ = d.Requests(m, b)
		}
	})
}

func FuzzLoadDir(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 2, 0, 0, 0}, []byte("a\nb\n"), []byte{0, 0x3c}, []byte{1}, true)
	f.Add([]byte{1}, []byte(""), []byte{}, []byte{}, false)
	m := fuzzModel()
	o := Options{Shapes: map[string][]int64{"B": {2}}}
	f.Fuzz(func(t *testing.T, a, b, c, d []byte, withD bool) {
		dir := t.TempDir()
		files := map[string][]byte{"A": a, "B": b, "C": c}
		if withD {
			files["D"] = d
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ds, err := LoadData(m, []string{dir}, o)
		if err != nil {
			return
		}
		if len(ds.Streams) != 1 || len(ds.Streams[0]) != 1 {
			t.Fatalf("a directory is one stream of one step, got %+v", ds.Streams)
		}
		for bs := 1; bs <= 4; bs++ {
			if _, err := ds.Requests(m, bs); err != nil {
				t.Fatal(err)
			}
		}
	})
}
