package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/result"
)

// TestPreStreamingGoldens pins the goldens written before streams and
// sequences were reported: runs without them must print byte for byte what
// they printed, and -update must not have quietly rewritten them. If one
// of these outputs changes on purpose, put the new file's SHA-256 here.
func TestPreStreamingGoldens(t *testing.T) {
	for name, want := range map[string]string{
		"cache.csv":                   "b6b7e4b4d376ec83c5c25061edd6d650047c5f54b606e74f2d7e4426a5daba98",
		"cache.stdout":                "1122f2b8d882f81afad20909327643bb5944788251a2d372da05a1628365de54",
		"count_windows.csv":           "94439e94a2616cd811440c5874cc9e5ad28e2169179b925a374918dcf64f9654",
		"count_windows.stdout":        "55ecc19237abed310754b962c742cd789b22c19a7248b172c5bf2af008fdc7a5",
		"decoupled.csv":               "21ae6ea536428866c0fdd7b911b815191e15fd6d5f7797fa5f57f78f7e5d84b1",
		"decoupled.stdout":            "171c40e1a8cf3775c9f53a99774d7db1565eab962049c549664309f4b1fe22a4",
		"detector_v1.ensemble.csv":    "52726822066697c2074949eebb2f886bc6dc597ed59cd72ac9350aea7da8a2cf",
		"ensemble.csv":                "87912c026dd184dd1a692e988609ed9c133a0a7f644081a4281edebdf1cb2847",
		"ensemble.json":               "a5d8574d538081d5eb776f76897798f94a2596251b67acd4f9cec2bedf7f6596",
		"ensemble.stdout":             "aab72fc67f2c3f3ffc835d8bdfa76a78e161d6ce275adbe6614f9b9fbf9ce463",
		"failures.csv":                "67963b1046d144ae46aedfb4c90df90a1dc46ad4882ba5ecaa9781f745f73ed2",
		"failures.json":               "2f842d23e2e0c4bf3857259c496b91078d3d240dde5bac074578b0cebefc8c4a",
		"failures.stdout":             "02918a39b9e284ee3750c9d06ade2126050389398dd69a1c848273d250f77ef0",
		"grpc.csv":                    "29d552dfa83f9f82d169b0b48a4ef4a538fad1ed47ffa6c43bdfe6f6956ad69f",
		"grpc.stdout":                 "f7712ad44443f3b271afe54c03c84d0ff54c9bd3e3cbd05a56e092f7ae30eb43",
		"grpc_verbose.csv":            "75d162cc057458c07e2ed8feafe95cdcfbd9ddf8ef8195d56b972022fe3f4507",
		"grpc_verbose.stdout":         "324647ff490121634d7d835add2ed285d54b1f0e8d209163ecdbde5676ef6004",
		"http_verbose.csv":            "c261ca8463726445117919f0b2ea3316a8193e7ac320a176332fe07a513fcd65",
		"http_verbose.stdout":         "687c0ffb3f5fb095e0675992ec6c9e8d6c087e63d89f55257ca5e10ed8ce8ce8",
		"no_server_stats.csv":         "f608bf178c36b3fc411de6d18de7df6770a05596501a0990a45de23eb0959619",
		"no_server_stats.stdout":      "3f41f8bbf0cbae675583a102918225432c4f120648f3faaea2ab124cb8aa9371",
		"p95.csv":                     "29d552dfa83f9f82d169b0b48a4ef4a538fad1ed47ffa6c43bdfe6f6956ad69f",
		"p95.stdout":                  "f7fc0f22c7750d6de967d51f7cca91f4eef13942d9d5d296c8406d8e0d7a24af",
		"p99.9_async.csv":             "b96fc9dfb95a9cb612bf5788ca22bd6779886f3864c47bc875e5104383fbbf3f",
		"p99.9_async.json":            "70a36045b70af330f476d0f36859372d038f43a96cd1a172fb44dce608c4ac7f",
		"p99.9_async.stdout":          "9c55a8a90951351b36f39b001e9be57d296f8f7dbe291c381214ebf5895b8fa1",
		"postprocess_v1.ensemble.csv": "b3d0341780d3e40876059057dde88523a1010830ba7f5545d92434d6e6b7ebad",
		"preprocess_v1.ensemble.csv":  "9719291b7e2b91c9629fb8c5e5d9cca082338739872771329e97aaeea9c09c42",
		"rate_closed_loop.csv":        "fa2e8289f88fd00731938f954017238b82c2f63094b8965d61b80a2f5040a1dc",
		"rate_closed_loop.stdout":     "be614c34e83c26cdba3810ec0f945db26c1c7fe825eec08917c666339f72f2e6",
		"rate_open_loop.csv":          "18922ca044912c88e30a7d3f7bcebc1e3ce42b596d59ad58f6a4bc721f05a054",
		"rate_open_loop.json":         "0d54472921335431712e1555f2c2a5ca61ef841a63129c6414740693a28706b3",
		"rate_open_loop.stdout":       "373bdb27c77c5b954d5a46a335efd02e89875fda0a2321b77ceca5dbcb233136",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("testdata/%s changed (sha256 %s): output without streams or sequences must stay as it was", name, got)
		}
	}
}

// streamLevel is the reference example's first level with stream
// statistics: 4 responses per request, the p99.9 cached too.
func streamLevel() result.Level {
	l := paExampleRun().Levels[0]
	withP999 := func(d result.Distribution, v int64) result.Distribution {
		d.Quantiles = append(d.Quantiles, result.Quantile{Percentile: 99.9, Value: micro(v, 999)})
		return d
	}
	l.Client.Latency = withP999(l.Client.Latency, 1500)
	l.Client.Stream = &result.StreamStats{
		First:      withP999(dist(micro(300), micro(40), micro(290, 999), micro(350), micro(380), micro(440)), 610),
		Between:    withP999(dist(micro(70), micro(10), micro(68), micro(82), micro(88), micro(110)), 150),
		Final:      withP999(l.Client.Latency, 1500),
		PerRequest: 4,
	}
	l.Client.Responses, l.Client.ResponseThroughput = 4*l.Client.Requests, 4800
	return l
}

// streamCase is a streamed run's settings and streamLevel, each edited
// by its function when that is not nil.
func streamCase(latency string, editS func(*result.Settings), editL func(*result.Level)) (result.Settings, result.Level) {
	s := paExampleSettings()
	s.Streaming, s.StreamLatency = true, latency
	l := streamLevel()
	if editS != nil {
		editS(&s)
	}
	if editL != nil {
		editL(&l)
	}
	return s, l
}

// levelLines renders a level's blocks as lines.
func levelLines(t *testing.T, s result.Settings, l result.Level) []string {
	t.Helper()
	var b bytes.Buffer
	if err := Level(&b, s, l, false); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

func TestStreamLines(t *testing.T) {
	const (
		first    = "    First response: p50 290 usec, p90 350 usec, p95 380 usec, p99 440 usec"
		first999 = "    First response: p50 290 usec, p90 350 usec, p95 380 usec, p99 440 usec, p99.9 610 usec"
		between  = "    Between responses: p50 68 usec, p90 82 usec, p95 88 usec, p99 110 usec"
		final    = "    Final response: avg 829 usec, p50 812 usec, p90 951 usec, p95 1004 usec, p99 1187 usec"
	)
	for _, tc := range []struct {
		name string
		s    func(*result.Settings)
		l    func(*result.Level)
		want []string // the lines after the client-library line, before "  Server: "
	}{
		{
			name: "no stream statistics: no block",
			l:    func(l *result.Level) { l.Client.Stream = nil },
		},
		{
			name: "average latency: p50 to p99",
			want: []string{first, between, final, "    Responses: 4 per request, 4800 responses/sec"},
		},
		{
			name: "--percentile 99.9 inserted after p99 in every line",
			s:    func(s *result.Settings) { s.Percentile = 99.9 },
			want: []string{first999,
				"    Between responses: p50 68 usec, p90 82 usec, p95 88 usec, p99 110 usec, p99.9 150 usec",
				"    Final response: avg 829 usec, p50 812 usec, p90 951 usec, p95 1004 usec, p99 1187 usec, p99.9 1500 usec",
				"    Responses: 4 per request, 4800 responses/sec"},
		},
		{
			name: "text outputs: elements per second",
			l: func(l *result.Level) {
				l.Client.Stream.Elements, l.Client.Stream.ElementThroughput = 86400, 4800.5
				l.Client.Stream.PerRequest = 3.99995
			},
			want: []string{first, between, final, "    Responses: 3.99995 per request, 4800 responses/sec, 4800.5 output elements/sec"},
		},
		{
			name: "one response per request: nothing between",
			l: func(l *result.Level) {
				l.Client.Stream.Between = result.Distribution{}
				l.Client.Stream.PerRequest, l.Client.ResponseThroughput = 1, 1200
			},
			want: []string{first, "    Between responses: none", final, "    Responses: 1 per request, 1200 responses/sec"},
		},
		{
			name: "no final response recorded",
			l:    func(l *result.Level) { l.Client.Stream.Final = result.Distribution{} },
			want: []string{first, between, "    Final response: none", "    Responses: 4 per request, 4800 responses/sec"},
		},
		{
			name: "before perfgo's failure lines",
			l:    func(l *result.Level) { l.Total.Failed = 2 },
			want: []string{first, between, final, "    Responses: 4 per request, 4800 responses/sec",
				"    Failed requests: 2 of 21602 (0.01%)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, l := streamCase(StreamLatencyFinal, tc.s, tc.l)
			lines := levelLines(t, s, l)
			var got []string
			in := false
			for _, line := range lines {
				switch {
				case strings.HasPrefix(line, "    Avg HTTP time:"):
					in = true
				case line == "  Server: ":
					in = false
				case in:
					got = append(got, line)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("stream block\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestStreamHeaderLine(t *testing.T) {
	const decoupled = "  Detected decoupled model, using the first response for measuring latency"
	for _, tc := range []struct {
		name                 string
		decoupled, streaming bool
		latency              string
		want                 string // the header's last line, "" for none after the sync/async one
	}{
		{"decoupled, first: perf_analyzer's line", true, true, StreamLatencyFirst, decoupled},
		{"decoupled, final: perfgo's line, not perf_analyzer's untrue one", true, true, StreamLatencyFinal, "  Streaming: latency is measured to the final response"},
		{"--streaming, first", false, true, StreamLatencyFirst, "  Streaming: latency is measured to the first response"},
		{"--streaming, final", false, true, StreamLatencyFinal, "  Streaming: latency is measured to the final response"},
		{"decoupled, not streamed: perf_analyzer's line as before", true, false, "", decoupled},
		{"not streamed: a stray latency name prints nothing", false, false, "bogus", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := paExampleSettings()
			s.Async, s.Decoupled, s.Streaming, s.StreamLatency = true, tc.decoupled, tc.streaming, tc.latency
			var b bytes.Buffer
			if err := Header(&b, s); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n\n"), "\n")
			last := lines[len(lines)-1]
			if tc.want == "" {
				tc.want = "  Using asynchronous calls for inference"
			}
			if last != tc.want {
				t.Errorf("last header line = %q, want %q", last, tc.want)
			}
			if n := strings.Count(b.String(), "response"); n > 1 {
				t.Errorf("the latency's response is named %d times, want one line:\n%s", n, b.String())
			}
		})
	}
}

func TestSequenceLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		seq  *result.SequenceSettings
		want string // the line before "Throughput", "" for none
	}{
		{"sequence model", &result.SequenceSettings{Length: 20}, "    Sequence count: 1080 (60.0001 seq/sec)"},
		{"sequence model without an ended sequence", &result.SequenceSettings{}, "    Sequence count: 0 (0 seq/sec)"},
		{"other models", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := paExampleSettings()
			s.Sequence = tc.seq
			l := paExampleRun().Levels[0]
			if tc.want != "" && !strings.Contains(tc.want, " 0 (") {
				l.Client.Sequences, l.Client.SequenceRate = 1080, 60.00006
			}
			lines := levelLines(t, s, l)
			i := 0
			for i < len(lines) && !strings.HasPrefix(lines[i], "    Throughput:") {
				i++
			}
			before := lines[i-1]
			if tc.want == "" {
				if strings.Contains(strings.Join(lines, "\n"), "Sequence") {
					t.Errorf("sequence line printed for a model without sequences: %q", lines)
				}
				return
			}
			if before != tc.want {
				t.Errorf("line before Throughput = %q, want %q", before, tc.want)
			}
		})
	}
}

func TestCSVStreamColumns(t *testing.T) {
	s := paExampleSettings()
	s.Percentile, s.Streaming, s.StreamLatency = 99.9, true, StreamLatencyFirst
	s.Sequence = &result.SequenceSettings{Length: 20}
	var names []string
	for _, c := range csvColumns(s, CSVOptions{}) {
		names = append(names, c.name)
	}
	got := strings.Join(names, ",")
	want := ",Failed Requests,Over Failure Limit," +
		"First Response p50,First Response p90,First Response p95,First Response p99,First Response p99.9," +
		"Between Responses p50,Between Responses p90,Between Responses p95,Between Responses p99,Between Responses p99.9," +
		"Final Response Avg,Final Response p50,Final Response p90,Final Response p95,Final Response p99,Final Response p99.9," +
		"Responses/Request,Responses/Second,Output Elements/Second,Sequences/Second"
	if !strings.HasSuffix(got, want) {
		t.Errorf("columns\n got %s\nwant a tail of %s", got, want)
	}
	// perf_analyzer's columns keep their places.
	if !strings.HasPrefix(got, "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,") {
		t.Errorf("columns start %s", got)
	}
}

func TestCSVStreamCells(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    func(*result.Settings)
		l    func(*result.Level)
		want map[string]string
	}{
		{
			name: "percentiles truncated to µs; p99.9 from the cache",
			s:    func(s *result.Settings) { s.Percentile = 99.9 },
			want: map[string]string{"First Response p50": "290", "First Response p99.9": "610",
				"Between Responses p99.9": "150", "Final Response Avg": "829", "Final Response p99.9": "1500",
				"Responses/Request": "4", "Responses/Second": "4800", "Output Elements/Second": "0", "p99.9 latency": "1500"},
		},
		{
			name: "network from the final response, not a first-response latency",
			l:    func(l *result.Level) { l.Client.Latency = l.Client.Stream.First },
			want: map[string]string{"Network+Server Send/Recv": "260", "p50 latency": "290"},
		},
		{
			name: "a level without stream statistics reads as zeros",
			l: func(l *result.Level) {
				l.Client.Stream, l.Client.Responses, l.Client.ResponseThroughput = nil, 0, 0
			},
			want: map[string]string{"First Response p50": "0", "Final Response Avg": "0", "Responses/Second": "0"},
		},
		{
			name: "not streamed: no stream columns even with data",
			s:    func(s *result.Settings) { s.Streaming = false },
			want: map[string]string{"First Response p50": "", "Responses/Second": "", "Sequences/Second": ""},
		},
		{
			name: "sequence rate",
			s:    func(s *result.Settings) { s.Sequence = &result.SequenceSettings{} },
			l:    func(l *result.Level) { l.Client.SequenceRate = 12.3456789 },
			want: map[string]string{"Sequences/Second": "12.3457"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, l := streamCase(StreamLatencyFirst, tc.s, tc.l)
			cells := csvCells(t, s, CSVOptions{}, l)
			for col, want := range tc.want {
				got, ok := cells[col]
				switch {
				case want == "" && ok:
					t.Errorf("column %q present (%q), want absent", col, got)
				case want != "" && got != want:
					t.Errorf("%s = %q (present %v), want %q", col, got, ok, want)
				}
			}
		})
	}
}

func TestJSONStream(t *testing.T) {
	type doc struct {
		Settings map[string]json.RawMessage
		Levels   []struct {
			Client map[string]json.RawMessage
		}
	}
	render := func(t *testing.T, run result.Run) doc {
		t.Helper()
		var b bytes.Buffer
		if err := JSON(&b, run); err != nil {
			t.Fatal(err)
		}
		var d doc
		if err := json.Unmarshal(b.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}

	plain := render(t, paExampleRun())
	for _, k := range []string{"streaming", "stream_latency", "sequence"} {
		if _, ok := plain.Settings[k]; ok {
			t.Errorf("settings.%s present in a run without streams or sequences", k)
		}
	}
	for _, k := range []string{"stream", "sequences", "sequence_rate"} {
		if _, ok := plain.Levels[0].Client[k]; ok {
			t.Errorf("client.%s present in a run without streams or sequences", k)
		}
	}

	run := paExampleRun()
	run.Settings.Streaming, run.Settings.StreamLatency = true, StreamLatencyFinal
	run.Settings.Sequence = &result.SequenceSettings{Length: 20, Variation: 12.5, IDStart: 5, IDEnd: 1 << 40, StringID: true, Live: 4, Serial: true}
	run.Levels = []result.Level{streamLevel()}
	run.Levels[0].Client.Stream.ElementThroughput = 4800.25
	d := render(t, run)
	if got := string(d.Settings["stream_latency"]); got != `"final"` {
		t.Errorf("stream_latency = %s", got)
	}
	var seq map[string]any
	if err := json.Unmarshal(d.Settings["sequence"], &seq); err != nil {
		t.Fatal(err)
	}
	wantSeq := map[string]any{"length": 20.0, "variation": 12.5, "id_start": 5.0, "id_end": float64(1 << 40), "string_id": true, "live": 4.0, "serial": true}
	for k, v := range wantSeq {
		if seq[k] != v {
			t.Errorf("sequence.%s = %v, want %v", k, seq[k], v)
		}
	}
	c := d.Levels[0].Client
	// A sequence model reports its count even when no sequence ended.
	if string(c["sequences"]) != "0" || string(c["sequence_rate"]) != "0" {
		t.Errorf("sequences, sequence_rate = %s, %s; want 0, 0", c["sequences"], c["sequence_rate"])
	}
	var st struct {
		First, Between, Final struct {
			Count       int64
			Percentiles []struct {
				P       float64
				ValueUs float64 `json:"value_us"`
			}
		}
		Responses           uint64
		ResponsesPerRequest float64 `json:"responses_per_request"`
		ResponseThroughput  float64 `json:"response_throughput"`
		ElementThroughput   float64 `json:"element_throughput"`
	}
	if err := json.Unmarshal(c["stream"], &st); err != nil {
		t.Fatal(err)
	}
	if st.Responses != 4*21600 || st.ResponsesPerRequest != 4 || st.ResponseThroughput != 4800 || st.ElementThroughput != 4800.25 {
		t.Errorf("stream counts = %+v", st)
	}
	// The distributions are encoded like the latency: exact µs, cached p99.9 included.
	if n := len(st.Between.Percentiles); n != 5 || st.Between.Percentiles[4].P != 99.9 || st.Between.Percentiles[4].ValueUs != 150.999 {
		t.Errorf("between percentiles = %+v", st.Between.Percentiles)
	}
	if st.First.Percentiles[0].ValueUs != 290.999 {
		t.Errorf("first p50 = %v µs, want 290.999", st.First.Percentiles[0].ValueUs)
	}
}

func TestStreamBadInput(t *testing.T) {
	badLatency := paExampleRun()
	badLatency.Settings.Streaming, badLatency.Settings.StreamLatency = true, "last"
	badHist := paExampleRun()
	badHist.Settings.Streaming, badHist.Settings.StreamLatency = true, StreamLatencyFirst
	h := histDist(t, 1000)
	h.Hist.SignificantFigures = 9
	l := streamLevel()
	l.Client.Stream.Between = h
	badHist.Levels = []result.Level{l}

	var b bytes.Buffer
	for _, tc := range []struct {
		name    string
		render  func() error
		wantErr string
	}{
		{"header: unknown stream latency", func() error { return Header(&b, badLatency.Settings) }, `stream latency "last" is unknown; set it to "first" or "final"`},
		{"json: unknown stream latency", func() error { return JSON(&b, badLatency) }, `stream latency "last" is unknown`},
		{"level: corrupt between histogram", func() error { return Level(&b, badHist.Settings, l, false) }, "concurrency 1: between responses: histogram snapshot is invalid"},
		{"csv: corrupt between histogram", func() error { return CSV(&b, badHist, CSVOptions{}) }, "concurrency 1: between responses: histogram snapshot is invalid"},
		{"json: corrupt between histogram", func() error { return JSON(&b, badHist) }, "concurrency 1: between responses: histogram snapshot is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.render(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func BenchmarkStreamLevel(b *testing.B) {
	s := paExampleSettings()
	s.Streaming, s.StreamLatency, s.Percentile = true, StreamLatencyFirst, 99.9
	l := streamLevel()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := Level(&buf, s, l, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamCSV(b *testing.B) {
	run := streamDecoupledRun()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := CSV(&buf, run, CSVOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
