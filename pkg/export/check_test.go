package export

import (
	"bytes"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/result"
)

const okReq = `{"timestamp":10,"request_inputs":{},"response_timestamps":[20,30],"response_outputs":[{},{}]}`

func doc(requests, bounds string) string {
	return `{"experiments":[{"experiment":{"mode":"concurrency","value":1},"requests":[` + requests +
		`],"window_boundaries":[` + bounds + `]}],"version":"perfgo","service_kind":"triton","endpoint":""}`
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want: a part of the error, "" for none
	}{
		{"ok", doc(okReq+","+okReq, "5,40"), ""},
		{"sequence id", doc(`{"timestamp":10,"sequence_id":3,"request_inputs":{"A":1},"response_timestamps":[20],"response_outputs":[{"B":[1,2]}]}`, ""), ""},
		{"response before its request", doc(`{"timestamp":10,"request_inputs":{},"response_timestamps":[9],"response_outputs":[{}]}`, ""), "request 1: its response at 9 precedes the request's timestamp 10"},
		{"responses out of order", doc(okReq+`,{"timestamp":10,"request_inputs":{},"response_timestamps":[30,20],"response_outputs":[{},{}]}`, ""), "request 2: response 2 at 20 precedes response 1 at 30"},
		{"outputs per response", doc(`{"timestamp":10,"request_inputs":{},"response_timestamps":[20,30],"response_outputs":[{}]}`, ""), "1 response outputs for 2 responses"},
		{"no timestamp", doc(`{"request_inputs":{},"response_timestamps":[20],"response_outputs":[{}]}`, ""), "no timestamp"},
		{"no response", doc(`{"timestamp":1,"request_inputs":{},"response_timestamps":[],"response_outputs":[]}`, ""), "no response timestamp"},
		{"sequence id 0", doc(`{"timestamp":1,"sequence_id":0,"request_inputs":{},"response_timestamps":[2],"response_outputs":[{}]}`, ""), "sequence_id 0"},
		{"inputs not an object", doc(`{"timestamp":1,"request_inputs":[],"response_timestamps":[2],"response_outputs":[{}]}`, ""), "request_inputs is not an object"},
		{"unknown key", doc(`{"timestamp":1,"request_inputs":{},"response_timestamps":[2],"response_outputs":[{}],"x":1}`, ""), ""},
		{"boundaries descending", doc(okReq, "5,40,30"), "window boundary 3 (30) comes before boundary 2 (40)"},
		{"truncated", doc(okReq+","+okReq, "5,40")[:120], "truncated"},
		{"truncated at the end", strings.TrimSuffix(doc(okReq, "5"), "}"), "truncated"},
		{"trailing data", doc(okReq, "5") + "{}", "something follows"},
		{"keys out of order", `{"version":"x","experiments":[]}`, `where the key "experiments" was expected`},
		{"bad mode", strings.Replace(doc(okReq, ""), "concurrency", "sessions", 1), `mode "sessions"`},
		{"no trailer", `{"experiments":[]}`, `where the key "version" was expected`},
		{"not json", `hello`, "invalid character"},
		{"empty", ``, "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(strings.NewReader(tc.in))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("accepted, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestAgainst(t *testing.T) {
	sum := Summary{Experiments: []Experiment{
		{Mode: "concurrency", Value: 1, Requests: 105},
		{Mode: "concurrency", Value: 2, Requests: 200},
	}}
	for _, tc := range []struct {
		name string
		rc   RunCounts
		want string
	}{
		{"exact with warm-up", RunCounts{Levels: []LevelCount{{"concurrency", 1, 100}, {"concurrency", 2, 195}}, Outside: 5, Warmup: 5}, ""},
		{"exact without warm-up", RunCounts{Levels: []LevelCount{{"concurrency", 1, 100}, {"concurrency", 2, 195}}, Outside: 10}, ""},
		{"a request missing", RunCounts{Levels: []LevelCount{{"concurrency", 1, 100}, {"concurrency", 2, 196}}, Outside: 10}, "has 305 requests but the run completed 306"},
		{"a request too many", RunCounts{Levels: []LevelCount{{"concurrency", 1, 100}, {"concurrency", 2, 194}}, Outside: 10}, "but the run completed 304"},
		{"level short", RunCounts{Levels: []LevelCount{{"concurrency", 1, 106}, {"concurrency", 2, 199}}}, "experiment 1 (concurrency 1) has 105 requests but the run counted 106"},
		{"level missing", RunCounts{Levels: []LevelCount{{"request_rate", 1, 1}}}, "no such experiment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sum.Against(tc.rc)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzCheck: the reader never panics on any file (FuzzWriterCheck has
// the writer's files).
func FuzzCheck(f *testing.F) {
	f.Add([]byte(doc(okReq, "5,40")))
	f.Add([]byte(doc(okReq+","+okReq, "")))
	f.Add([]byte(`{"experiments":[],"version":"","service_kind":"","endpoint":""}`))
	f.Add([]byte(`{"experiments":[{"experiment":{"mode":"request_rate","value":1e400}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = Check(bytes.NewReader(in))
	})
}

// FuzzWriterCheck: the reader accepts whatever the writer writes, with
// every request counted: any number of requests, of 1 to 4 responses
// each (the engine exports only requests that were answered), and any
// output text.
func FuzzWriterCheck(f *testing.F) {
	f.Add(uint16(3), uint8(1), "a")
	f.Add(uint16(BufferRecords+1), uint8(3), "hello \"world\"\n\u00e9")
	f.Add(uint16(0), uint8(0), "")
	f.Fuzz(func(t *testing.T, n uint16, responses uint8, text string) {
		n %= 3 * BufferRecords
		var out bytes.Buffer
		x := NewWriter(&out, Options{Version: "perfgo fuzz"})
		x.Level(result.RequestRate, 100)
		b := x.Buffer()
		for i := range int64(n) {
			b.Begin(at(1000+i), 0, 0)
			for r := range 1 + int64(responses%4) {
				b.Response(at(1001 + i + r))
				b.Outputs([]client.Tensor{{Name: "TEXT", Datatype: "BYTES", Data: strs(text)}})
			}
			b.End()
			if b.Full() {
				b = x.Send(b)
			}
		}
		x.Send(b)
		x.Window(at(1000), at(2000+int64(n)))
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		sum, err := Check(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("the reader refused the writer's file of %d requests: %v\n%s", n, err, out.Bytes())
		}
		if got := sum.Requests(); got != uint64(n) {
			t.Fatalf("the reader counted %d requests, the writer wrote %d", got, n)
		}
	})
}
