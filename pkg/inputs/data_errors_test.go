package inputs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/perfgo/perfgo/pkg/inferencepb"
)

const ones16 = "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]"

func TestLoadDataErrors(t *testing.T) {
	optModel := simpleModel(0)
	optModel.Config.Input = []*pb.ModelInput{{Name: "INPUT1", Optional: true}}
	bytesModel := oneInput("BYTES", 2)
	tests := []struct {
		name, json string
		m          Model
		o          Options
		want       []string // all must appear in the one-line message
	}{
		{"malformed", "{\"data\": [\n  {\"INPUT0\": [1,]}]}", simpleModel(0), Options{}, []string{"d.json:2:17", "malformed JSON"}},
		{"not an object", `[1]`, simpleModel(0), Options{}, []string{"d.json:1:1", `"data" array`}},
		{"no data", `{"dat": []}`, simpleModel(0), Options{}, []string{`no "data" field`}},
		{"empty data", `{"data": []}`, simpleModel(0), Options{}, []string{`"data" is empty`}},
		{"empty stream", `{"data": [[]]}`, simpleModel(0), Options{}, []string{`stream 0 has no steps`}},
		{"mixed", `{"data": [{"INPUT0": ` + ones16 + `, "INPUT1": ` + ones16 + `}, []]}`, simpleModel(0), Options{}, []string{"mixes steps and streams"}},
		{"unknown input", `{"data": [{"INPUT0": ` + ones16 + `, "INPUT1": ` + ones16 + `, "INPUT9": [1]}]}`, simpleModel(0), Options{}, []string{`step 0 has "INPUT9"`, "not an input", "INPUT0, INPUT1"}},
		{"missing input", `{"data": [{"INPUT0": ` + ones16 + `}]}`, simpleModel(0), Options{}, []string{`step 0 has no data for input "INPUT1"`, "optional"}},
		{"twice", `{"data": [{"INPUT0": ` + ones16 + `, "INPUT0": ` + ones16 + `, "INPUT1": ` + ones16 + `}]}`, simpleModel(0), Options{}, []string{`"INPUT0" twice`}},
		{"too few", `{"data": [{"INPUT0": [1,2], "INPUT1": ` + ones16 + `}]}`, simpleModel(0), Options{}, []string{`input "INPUT0" (INT32)`, "2 elements but the shape needs 16"}},
		{"uint8 range", `{"data": [{"X": [1, 300]}]}`, oneInput("UINT8", 2), Options{}, []string{"element 1", "300"}},
		{"bool", `{"data": [{"X": [1]}]}`, oneInput("BOOL", 1), Options{}, []string{"true or false"}},
		{"bad b64", `{"data": [{"X": {"b64": "!!!"}}]}`, oneInput("INT32", 1), Options{}, []string{"not valid base64"}},
		{"b64 size", `{"data": [{"X": {"b64": "AQID"}}]}`, oneInput("INT32", 1), Options{}, []string{"holds 3 bytes", "needs 1 elements of 4 bytes"}},
		{"b64 bytes no prefix", `{"data": [{"X": {"b64": "aGVsbG8="}}]}`, bytesModel, Options{}, []string{"4-byte little-endian length"}},
		{"bytes not strings", `{"data": [{"X": [1, 2]}]}`, bytesModel, Options{}, []string{"must be JSON strings"}},
		{"variable without shape", `{"data": [{"X": [1, 2]}]}`, oneInput("INT32", -1), Options{}, []string{"variable dims", "--shape X:16"}},
		{"step shape rank", `{"data": [{"X": {"content": [1, 2], "shape": [1, 2]}}]}`, oneInput("INT32", -1), Options{}, []string{`"shape" [1,2] has 2 dims`}},
		{"step shape fixed", `{"data": [{"X": {"content": [1, 2], "shape": [2]}}]}`, oneInput("INT32", 3), Options{}, []string{"does not match the model's fixed shape"}},
		{"step shape dim", `{"data": [{"X": {"content": [1], "shape": [1.5]}}]}`, oneInput("INT32", -1), Options{}, []string{"1.5 is not a whole number"}},
		{"no content", `{"data": [{"X": {"shape": [1]}}]}`, oneInput("INT32", -1), Options{}, []string{`{"content": [...]`}},
		{"shape flag count", `{"data": [{"X": [1, 2]}]}`, oneInput("INT32", -1), Options{Shapes: map[string][]int64{"X": {3}}}, []string{"2 elements but the shape needs 3"}},
		{"shape flag unknown", `{"data": [{"X": [1]}]}`, oneInput("INT32", 1), Options{Shapes: map[string][]int64{"Y": {3}}}, []string{"--shape names \"Y\""}},
		{"unknown output", `{"data": [{"INPUT0": ` + ones16 + `, "INPUT1": ` + ones16 + `}], "validation_data": [{"OUTPUT9": [1]}]}`, simpleModel(0), Options{}, []string{`validation_data step 0 has "OUTPUT9"`, "not an output"}},
		{"validation misaligned", `{"data": [{"INPUT0": ` + ones16 + `, "INPUT1": ` + ones16 + `}], "validation_data": [{}, {}]}`, simpleModel(0), Options{}, []string{`does not align`}},
		{"nested step not object", `{"data": [[1]]}`, simpleModel(0), Options{}, []string{`stream 0 element 0 must be a step object`}},
		{"nested location", `{"data": [[{"INPUT0": ` + ones16 + `, "INPUT1": ` + ones16 + `}], [{"INPUT0": [1], "INPUT1": ` + ones16 + `}]]}`, simpleModel(0), Options{}, []string{`stream 1 step 0, input "INPUT0"`}},
		{"fp16 range", `{"data": [{"X": [1e6]}]}`, oneInput("FP16", 1), Options{}, []string{"out of the range of FP16"}},
		{"object element", `{"data": [{"X": [{"a": 1}]}]}`, oneInput("FP16", 1), Options{}, []string{"is an object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadData(tt.m, []string{writeTemp(t, "d.json", tt.json)}, tt.o)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, "d.json") && tt.o.Shapes == nil {
				t.Errorf("message must be one line naming the file: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
	// The optional input may be left out.
	if _, err := LoadData(optModel, []string{writeTemp(t, "d.json", `{"data": [{"INPUT0": `+ones16+`}]}`)}, Options{}); err != nil {
		t.Errorf("optional input left out: %v", err)
	}
}

func TestLoadDirErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("INPUT0", strings.Repeat("\x01\x00\x00\x00", 16))
	_, err := LoadData(simpleModel(0), []string{dir}, Options{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "INPUT1")) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	write("INPUT1", "abc")
	_, err = LoadData(simpleModel(0), []string{dir}, Options{})
	if err == nil || !strings.Contains(err.Error(), "has 3 bytes but shape [16] needs 16 elements of 4 bytes (64 bytes)") {
		t.Errorf("short file: %v", err)
	}
	write("S", "a\nb\nc\n")
	_, err = LoadData(oneInput("BYTES", 2).withName("S"), []string{dir}, Options{})
	if err == nil || !strings.Contains(err.Error(), "3 lines but the shape needs 2 strings") {
		t.Errorf("BYTES lines: %v", err)
	}
	_, err = LoadData(oneInput("INT32", -1).withName("INPUT0"), []string{dir}, Options{})
	if err == nil || !strings.Contains(err.Error(), "--shape INPUT0:16") {
		t.Errorf("variable dims: %v", err)
	}
	d, err := LoadData(oneInput("INT32", -1).withName("INPUT0"), []string{dir}, Options{Shapes: map[string][]int64{"INPUT0": {4, 4}}})
	if err == nil || !strings.Contains(err.Error(), "--shape INPUT0:4,4 has 2 dims") {
		t.Errorf("--shape rank: %v %v", d, err)
	}
	_, err = LoadData(simpleModel(0), []string{dir, dir}, Options{})
	if err == nil || !strings.Contains(err.Error(), "must be the only --input-data") {
		t.Errorf("two dirs: %v", err)
	}
	_, err = LoadData(simpleModel(0), []string{filepath.Join(dir, "nope.json")}, Options{})
	if err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("missing file: %v", err)
	}
}

// withName renames a one-input model's input.
func (m Model) withName(name string) Model {
	m.Metadata.Inputs[0].Name = name
	return m
}
