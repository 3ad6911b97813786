package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// sseServer is a generate_stream server for faults, by model name:
// "text" streams three events of tokens, "err" an error event, "ctype"
// the wrong Content-Type, "missing" a 404, "hang" one event and then
// nothing, "cut" an event without its blank line, "abort" one event and
// then the connection closed mid-body, "big" more than any
// small maximum response size, "seq" an event echoing the request's
// parameters.
type sseServer struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (f *sseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	model := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/models/"), "/generate_stream")
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/generate_stream") {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	event := func(data string) {
		fmt.Fprintf(w, "data: %s\n\n", data)
		w.(http.Flusher).Flush()
	}
	switch model {
	case "text":
		event(`{"model_name":"text","model_version":"1","TEXT":"to"}`)
		fmt.Fprint(w, ": a comment\r\nevent: token\r\ndata: {\"TEXT\":\r\ndata: [\"k\",\"en\"]}\r\n\r\n") // CRLF, two data lines
		event(`{"TEXT":"s","N":[1,2]}`)
		event(`{"model_name":"text","model_version":"1"}`) // an empty final response
	case "mixed":
		event(`{"TEXT":"a","N":[1,2]}`)
		event(`{"TEXT":"b","N":[3,4]}`)
	case "err":
		event(`{"TEXT":"a"}`)
		event(`{"error":"the model failed"}`)
	case "ctype":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"TEXT":"a"}`)
	case "missing":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"unknown model: 'missing'"}`)
	case "hang":
		event(`{"TEXT":"a"}`)
		<-r.Context().Done()
	case "cut":
		io.WriteString(w, `data: {"TEXT":"a"}`)
	case "abort":
		event(`{"TEXT":"a"}`)
		panic(http.ErrAbortHandler) // no last chunk: the body is cut short
	case "big":
		for range 100 {
			event(`{"TEXT":"` + strings.Repeat("x", 100) + `"}`)
		}
	case "seq":
		var req struct {
			Parameters json.RawMessage `json:"parameters"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		b, _ := json.Marshal(map[string]string{"P": string(req.Parameters)})
		event(string(b))
	}
}

func newSSEClient(t *testing.T, timeout time.Duration, maxResponse int64) (*HTTPClient, *sseServer) {
	f := &sseServer{}
	ts := httptest.NewServer(f) // 127.0.0.1:0
	t.Cleanup(ts.Close)
	c, err := NewHTTP(testCtx(t), Options{URL: ts.URL, Timeout: timeout, MaxResponseSize: maxResponse, InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, f
}

func textRequest(model string) *InferRequest {
	return &InferRequest{Model: model, Inputs: []Tensor{
		{Name: "PROMPT", Datatype: TypeBytes, Shape: []int64{1}, Data: AppendBytesElement(nil, []byte("hi"))},
		{Name: "MAX", Datatype: TypeInt32, Shape: []int64{1}, Data: int32Data(8)},
		{Name: "IDS", Datatype: TypeInt32, Shape: []int64{2}, Data: int32Data(1, 2)},
	}, Parameters: map[string]any{"stream": true}}
}

func TestSSE(t *testing.T) {
	c, f := newSSEClient(t, 500*time.Millisecond, 4096)
	ctx := testCtx(t)
	tests := []struct {
		model     string
		outputs   []string
		class     string
		responses int
		elements  int64
	}{
		{"text", nil, "", 3, 4},
		{"text", []string{"TEXT"}, "", 3, 4},
		{"mixed", []string{"TEXT", "N"}, "", 2, 2}, // N's numbers are not text, even asked for
		{"text", []string{"TEXT", "NOPE"}, "protocol", 0, 0},
		{"err", nil, "http:STREAM_ERROR", 1, 1},
		{"ctype", nil, "protocol", 0, 0},
		{"missing", nil, "http:404", 0, 0},
		{"hang", nil, "timeout", 1, 1},
		{"cut", nil, "truncated", 0, 0},
		{"abort", nil, "truncated", 1, 1},
		{"big", nil, "too_large", -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.model+strings.Join(tt.outputs, ","), func(t *testing.T) {
			req := textRequest(tt.model)
			req.Outputs = tt.outputs
			call := prepareStream(t, c, req)
			for i := range 2 { // the Call recovers after each failure
				tm, err := call.Do(ctx)
				if Class(err) != tt.class {
					t.Fatalf("Do %d: %v (class %q), want class %q", i, err, Class(err), tt.class)
				}
				if tt.model == "text" && tt.class == "" {
					tt.elements = 4
				}
				if tt.responses >= 0 && (tm.Responses != tt.responses || tm.Elements != tt.elements) {
					t.Errorf("Do %d: %d responses, %d elements; want %d, %d", i, tm.Responses, tm.Elements, tt.responses, tt.elements)
				}
				if err == nil && (len(tm.Gaps) != tm.Responses-1 || tm.First <= 0 || tm.First > tm.Total) {
					t.Errorf("Do %d: %+v: want Responses-1 gaps and 0 < First <= Total", i, tm)
				}
			}
			if tt.class == "" {
				r, err := call.Response()
				if err != nil || len(r.Outputs) == 0 || r.Outputs[len(r.Outputs)-1].Name != "TEXT" {
					t.Errorf("Response = %+v, %v", r, err)
				}
			}
		})
	}
	if len(tests) > 0 {
		f.mu.Lock()
		got := string(f.bodies[0])
		f.mu.Unlock()
		if want := `{"parameters":{"stream":true},"PROMPT":"hi","MAX":8,"IDS":[1,2]}`; got != want {
			t.Errorf("request body %s, want %s", got, want)
		}
	}
}

func TestSSESequence(t *testing.T) {
	c, _ := newSSEClient(t, 0, 0)
	ctx := testCtx(t)
	call := prepareStream(t, c, textRequest("seq"))
	steps := []struct {
		s    Sequence
		want string
	}{
		{Sequence{ID: 7, Start: true}, `{"stream":true,"sequence_id":7,"sequence_start":true}`},
		{Sequence{ID: 7}, `{"stream":true,"sequence_id":7}`},
		{Sequence{ID: 8, StringID: true, End: true}, `{"stream":true,"sequence_id":"8","sequence_end":true}`},
		{Sequence{}, `{"stream":true}`},
	}
	for _, st := range steps {
		call.(Sequencer).SetSequence(st.s)
		if _, err := call.Do(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := call.Response()
		if err != nil {
			t.Fatal(err)
		}
		var got any
		_ = json.Unmarshal(bytes.TrimSpace(bytes.TrimPrefix(r.Outputs[0].Data, []byte{r.Outputs[0].Data[0], 0, 0, 0})), &got)
		var want any
		_ = json.Unmarshal([]byte(st.want), &want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%+v: server saw parameters %s, want %s", st.s, r.Outputs[0].Data[4:], st.want)
		}
	}
}

func TestIsEventStream(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/event-stream": true, "text/event-stream; charset=utf-8": true, "TEXT/Event-Stream ;x=y": true,
		"text/event-streams": false, "application/json": false, "": false, "text/event": false,
	} {
		if got := isEventStream(ct); got != want {
			t.Errorf("isEventStream(%q) = %v", ct, got)
		}
	}
}

// readEvents splits a whole stream into events.
func readEvents(r io.Reader) ([]string, error) {
	s := sseReader{r: bufio.NewReaderSize(r, 16)}
	var out []string
	for {
		d, err := s.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(d))
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"data: a\n\ndata:b\n\n", []string{"a", "b"}, false},
		{"data: a\r\ndata: b\r\n\r\n", []string{"a\nb"}, false},
		{"data: a\rdata: b\r\r", []string{"a\nb"}, false},
		{": comment\nevent: x\nid: 1\nretry: 5\ndata\n\n", []string{""}, false},
		{"event: only\n\n\n\n", nil, false},
		{"data:  two spaces\n\n", []string{" two spaces"}, false},
		{"data: " + strings.Repeat("long", 40) + "\n\n", []string{strings.Repeat("long", 40)}, false},
		{"data: cut", nil, true},
		{"data: cut\n", nil, true},
		{"", nil, false},
	}
	for _, tt := range tests {
		got, err := readEvents(strings.NewReader(tt.in))
		if (err != nil) != tt.err || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%q: %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// FuzzSSEReader checks that events do not depend on how the stream is cut
// into reads, and that nothing panics.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{"data: a\n\n", "data: a\r\n\r\ndata: b\rdata: c\r\r", ": x\ndata\n\n", "data: {\"x\":1}\n\ndata: cut"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		whole, err1 := readEvents(bytes.NewReader(b))
		bytewise, err2 := readEvents(iotest.OneByteReader(bytes.NewReader(b)))
		if fmt.Sprintf("%q", whole) != fmt.Sprintf("%q", bytewise) || (err1 == nil) != (err2 == nil) {
			t.Fatalf("%q: %q, %v read whole; %q, %v byte by byte", b, whole, err1, bytewise, err2)
		}
		if err1 != nil && !errors.Is(err1, errTruncated) {
			t.Fatalf("%q: %v", b, err1)
		}
	})
}
