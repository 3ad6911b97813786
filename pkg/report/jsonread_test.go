package report

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/result"
)

// renderAll is every report of a run, by name: what reading a saved run
// back must reproduce byte for byte.
func renderAll(t *testing.T, r result.Run) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, render := range map[string]func(*bytes.Buffer) error{
		"json":        func(b *bytes.Buffer) error { return JSON(b, r) },
		"csv":         func(b *bytes.Buffer) error { return CSV(b, r, CSVOptions{}) },
		"csv verbose": func(b *bytes.Buffer) error { return CSV(b, r, CSVOptions{Verbose: true}) },
		"text":        func(b *bytes.Buffer) error { return Text(b, r, false) },
		"text -v":     func(b *bytes.Buffer) error { return Text(b, r, true) },
	} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = b.Bytes()
	}
	for _, m := range ComposingModels(r) {
		var b bytes.Buffer
		if err := ComposingCSV(&b, r, m); err != nil {
			t.Fatal(err)
		}
		out["composing csv "+m.Model] = b.Bytes()
	}
	return out
}

// TestReadJSONRoundTrip reads every golden run's JSON back: the run read
// back renders the same JSON, CSV (plain and verbose, composing models
// included) and stdout text as the run itself.
func TestReadJSONRoundTrip(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			want := renderAll(t, tc.run)
			back, err := ReadJSON(bytes.NewReader(want["json"]))
			if err != nil {
				t.Fatal(err)
			}
			got := renderAll(t, back)
			if len(got) != len(want) {
				t.Fatalf("read back renders %d reports, want %d", len(got), len(want))
			}
			for name := range want {
				compareText(t, tc.name+" "+name, got[name], want[name])
			}
		})
	}
}

// TestReadJSONGoldenFiles reads the committed JSON goldens (written by
// earlier perfgo runs of the same writer) and writes them again unchanged.
func TestReadJSONGoldenFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no JSON goldens: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			run, err := ReadJSON(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := JSON(&got, run); err != nil {
				t.Fatal(err)
			}
			compareText(t, f, got.Bytes(), want)
		})
	}
}

// TestReadJSONSettingsAdded: keys added to v1 after its first reports
// (SLOs) are read, and unknown keys, such as the derived "slo" object,
// are ignored.
func TestReadJSONSettingsAdded(t *testing.T) {
	run := paExampleRun()
	run.Settings.SLOs = []string{"p99<=20ms", "throughput>=1000"}
	run.Settings.SLOMode = "all"
	var b bytes.Buffer
	if err := JSON(&b, run); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(b.String(), `"schema": "perfgo.report/v1",`, `"schema": "perfgo.report/v1", "slo": {"met": true, "max_throughput": 2300}, "future_key": [1, {"x": null}],`, 1)
	back, err := ReadJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Settings.SLOs, run.Settings.SLOs) || back.Settings.SLOMode != "all" {
		t.Errorf("read SLOs %q mode %q, want %q mode all", back.Settings.SLOs, back.Settings.SLOMode, run.Settings.SLOs)
	}
	var again bytes.Buffer
	if err := JSON(&again, back); err != nil {
		t.Fatal(err)
	}
	compareText(t, "json with SLOs", again.Bytes(), b.Bytes())
}

func TestReadJSONErrors(t *testing.T) {
	valid := func() string {
		var b bytes.Buffer
		if err := JSON(&b, paExampleRun()); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}()
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("fixture has no %q", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "not valid JSON"},
		{"not json", "Concurrency,Inferences/Second\n", "not valid JSON at byte 1"},
		{"array", "[]", "the report is a JSON array, want an object"},
		{"no schema", `{"levels": []}`, `no "schema" key: not a perfgo report (perfgo reads "perfgo.report/v1"`},
		{"other schema", `{"schema": "perfgo.report/v2"}`, `schema is "perfgo.report/v2"; this perfgo reads "perfgo.report/v1"`},
		{"schema type", `{"schema": 1}`, `"schema" is a JSON number, want a string`},
		{"trailing data", valid + "{}", "not valid JSON"},
		{"wrong type", replace(`"windows": 3`, `"windows": "3"`), `"levels.windows" is a JSON string, want a whole number`},
		{"negative count", replace(`"requests": 21600`, `"requests": -1`), `"levels.client.requests" is a JSON number -1, want a whole number ≥ 0`},
		{"stop reason", replace(`"reason": "completed"`, `"reason": "done"`), `stop.reason: "done" is unknown`},
		{"time null", replace(`"duration_us": 18000000`, `"duration_us": null`), "levels[0].client.duration_us: NaN is not a time"},
		{"time huge", replace(`"duration_us": 18000000`, `"duration_us": 1e300`), "levels[0].client.duration_us: 1e+300 is not a time"},
		{"percentile order", replace(`{
              "p": 90,`, `{
              "p": 10,`), "levels[0].client.latency.percentiles[1].p: 10 follows 50"},
		{"percentile range", replace(`{
              "p": 50,`, `{
              "p": 150,`), "percentiles[0].p: 150 is not a percentile"},
		{"settings percentile", replace(`"percentile": 0,`, `"percentile": 101,`), "settings percentile 101 is outside 0–100"},
		{"settings slos", replace(`"percentile": 0,`, `"percentile": 0, "slos": ["x"],`), "report: settings slos: "},
		{"settings slo_mode", replace(`"percentile": 0,`, `"percentile": 0, "slos": ["p99<=1ms"], "slo_mode": "most",`), "report: settings slo_mode: "},
		{"hdr", replace(`"percentiles": [`, `"hdr": "bm90IGEgaGlzdG9ncmFt", "percentiles": [`), "levels[0].client.latency.hdr: not an HDR histogram"},
		{"negative server time", replace(`"total_us": 11058176`, `"total_us": -1`), "levels[0].server.success.total_us: -1 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadJSON(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("read %q: no error, want %q", tc.name, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error\n %q\nwant one line containing\n %q", err, tc.want)
			}
		})
	}
}

func TestReadJSONSizeLimit(t *testing.T) {
	doc := `{"schema": "perfgo.report/v1", "stop": {"reason": "completed"}}`
	if _, err := readJSON(strings.NewReader(doc), int64(len(doc))); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	_, err := readJSON(strings.NewReader(doc+" "), int64(len(doc)))
	if err == nil || !strings.Contains(err.Error(), "over 63 bytes") {
		t.Fatalf("over the limit: %v, want the limit named", err)
	}
}

func FuzzReadJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schema": "perfgo.report/v1", "stop": {"reason": "completed"}}`))
	f.Add([]byte(`{"schema": "perfgo.report/v1", "settings": {"slos": ["x"], "slo_mode": "any"}, "stop": {"reason": "completed"}}`))
	f.Add([]byte(`{"schema": "perfgo.report/v1", "stop": {"reason": "cancelled"}, "levels": [{"value": null, "client": {"latency": {"percentiles": [{"p": 99, "value_us": 1.0004}]}}, "server": {"composing": [{"model": "b"}, {"model": "a"}]}, "failures": [{"class": "z"}, {"class": "a"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := ReadJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		var first bytes.Buffer
		if err := JSON(&first, run); err != nil {
			t.Fatalf("accepted a run JSON cannot write: %v", err)
		}
		back, err := ReadJSON(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("cannot read its own output: %v\n%s", err, first.Bytes())
		}
		if path := diffRuns(reflect.ValueOf(run), reflect.ValueOf(back), "run"); path != "" {
			t.Fatalf("read back differs at %s", path)
		}
	})
}

// diffRuns returns the path of the first difference between a and b, ""
// when equal; unlike reflect.DeepEqual a NaN equals a NaN (null reads as NaN).
func diffRuns(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Float64:
		x, y := a.Float(), b.Float()
		if x == y || (math.IsNaN(x) && math.IsNaN(y)) {
			return ""
		}
		return path
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() == b.IsNil() {
				return ""
			}
			return path + " (nil)"
		}
		return diffRuns(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Len() != b.Len() {
			return path + " (length)"
		}
		for i := range a.Len() {
			if d := diffRuns(a.Index(i), b.Index(i), path+"["+strconv.Itoa(i)+"]"); d != "" {
				return d
			}
		}
		return ""
	case reflect.Struct:
		for i := range a.NumField() {
			if d := diffRuns(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return path
	}
	return ""
}
