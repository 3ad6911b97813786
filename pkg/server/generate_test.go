package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// genOpts is a generate model fast enough for tests, with a first response
// late enough to tell apart from the gaps.
func genOpts(o *server.Options) {
	o.Generate = server.GenerateOptions{FirstResponse: 30 * time.Millisecond, Gap: time.Millisecond, Tokens: 5}
}

func bytesElem(s string) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(s))), s...)
}

func generateRequest(id string, params map[string]*inferencepb.InferParameter) *inferencepb.ModelInferRequest {
	return &inferencepb.ModelInferRequest{ModelName: "generate", Id: id, Parameters: params,
		Inputs:           []*inputT{{Name: "text_input", Datatype: "BYTES", Shape: []int64{1}}},
		RawInputContents: [][]byte{bytesElem("hello")}}
}

func boolParam(v bool) *inferencepb.InferParameter {
	return &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: v}}
}

func int64Param(v int64) *inferencepb.InferParameter {
	return &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_Int64Param{Int64Param: v}}
}

// tokenText decodes the one BYTES element of a generate response.
func tokenText(t *testing.T, r *inferencepb.ModelInferResponse) string {
	t.Helper()
	if len(r.RawOutputContents) != 1 || len(r.RawOutputContents[0]) < 4 {
		t.Fatalf("response %q has outputs %v, want one BYTES element", r.Id, r.RawOutputContents)
	}
	b := r.RawOutputContents[0]
	n := binary.LittleEndian.Uint32(b)
	if int(n) != len(b)-4 {
		t.Fatalf("BYTES element length %d, %d bytes follow", n, len(b)-4)
	}
	return string(b[4:])
}

func wantTokens(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("tok%d ", i+1)
	}
	return out
}

// TestGenerateGRPCStream: several requests in flight on one stream, each
// answered by its tokens in order, with the empty final response when
// asked, the first no sooner than the configured time to first response.
func TestGenerateGRPCStream(t *testing.T) {
	s := servertest.Start(t, genOpts)
	c := grpcClient(t, s.GRPCAddr)
	tests := []struct {
		id         string
		params     map[string]*inferencepb.InferParameter
		wantTokens []string
		emptyFinal bool
	}{
		{"default", nil, wantTokens(5), false},
		{"max3", map[string]*inferencepb.InferParameter{"max_tokens": int64Param(3)}, wantTokens(3), false},
		{"final", map[string]*inferencepb.InferParameter{"triton_enable_empty_final_response": boolParam(true), "max_tokens": int64Param(2)}, wantTokens(2), true},
		{"one", map[string]*inferencepb.InferParameter{"stream": boolParam(false), "max_tokens": int64Param(3)}, []string{"tok1 tok2 tok3 "}, false},
	}
	var reqs []*inferencepb.ModelInferRequest
	for _, tt := range tests {
		reqs = append(reqs, generateRequest(tt.id, tt.params))
	}
	start := time.Now()
	resps := streamAll(t, c, reqs...)
	elapsed := time.Since(start)
	byID := map[string][]*inferencepb.ModelInferResponse{}
	for _, r := range resps {
		if r.ErrorMessage != "" {
			t.Fatalf("error response: %s", r.ErrorMessage)
		}
		byID[r.InferResponse.Id] = append(byID[r.InferResponse.Id], r.InferResponse)
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got := byID[tt.id]
			want := len(tt.wantTokens)
			if tt.emptyFinal {
				want++
			}
			if len(got) != want {
				t.Fatalf("%d responses, want %d", len(got), want)
			}
			for i, r := range got {
				final, present := finalFlag(r)
				if !present || final != (i == len(got)-1) {
					t.Errorf("response %d: triton_final_response %v (present %v)", i, final, present)
				}
				if i == len(tt.wantTokens) {
					if len(r.Outputs) != 0 {
						t.Errorf("the empty final response has %d outputs", len(r.Outputs))
					}
					continue
				}
				if text := tokenText(t, r); text != tt.wantTokens[i] {
					t.Errorf("response %d: %q, want %q", i, text, tt.wantTokens[i])
				}
			}
		})
	}
	if elapsed < 30*time.Millisecond {
		t.Errorf("all responses within %v, before the 30ms time to first response", elapsed)
	}
	st := stats(t, c, "generate")
	if st.InferenceStats.Success.Count != uint64(len(tests)) || st.InferenceCount != uint64(len(tests)) {
		t.Errorf("success %d, inference_count %d; want %d each (one per request)", st.InferenceStats.Success.Count, st.InferenceCount, len(tests))
	}
}

// TestGenerateFirstResponseTime: the first token comes no sooner than the
// configured time after the request, on the client's clock (which starts
// before the server's).
func TestGenerateFirstResponseTime(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) {
		o.Generate = server.GenerateOptions{FirstResponse: 40 * time.Millisecond, Gap: 10 * time.Millisecond, Tokens: 3}
	})
	st, err := grpcClient(t, s.GRPCAddr).ModelStreamInfer(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := st.Send(generateRequest("r", nil)); err != nil {
		t.Fatal(err)
	}
	var at []time.Duration
	for range 3 {
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		at = append(at, time.Since(start))
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("after the last token: %v, want EOF", err)
	}
	if at[0] < 40*time.Millisecond || at[2] < 60*time.Millisecond {
		t.Errorf("responses at %v; want the first at >= 40ms and the third at >= 60ms", at)
	}
}

func TestGenerateRefusedOutsideStreams(t *testing.T) {
	s := servertest.Start(t, genOpts)
	_, err := grpcClient(t, s.GRPCAddr).ModelInfer(testCtx(t), generateRequest("r", nil))
	wantCode(t, err, codes.Unimplemented, "ModelInfer RPC doesn't support models with decoupled transaction policy")
	h := newHTTPClient(t, s.HTTPAddr)
	errorBody(t, h.inferJSON("generate", `{"inputs":[{"name":"text_input","shape":[1],"datatype":"BYTES","data":["hi"]}]}`),
		501, "HTTP end point doesn't support models with decoupled transaction policy")
}

// sseEvents splits a server-sent event body into its data payloads.
func sseEvents(t *testing.T, body io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q is not a data line", line)
		}
		out = append(out, data)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGenerateHTTP(t *testing.T) {
	s := servertest.Start(t, genOpts)
	h := newHTTPClient(t, s.HTTPAddr)
	type generated struct {
		ModelName    string          `json:"model_name"`
		ModelVersion string          `json:"model_version"`
		TextOutput   string          `json:"text_output"`
		Output0      json.RawMessage `json:"OUTPUT0"`
		Error        string          `json:"error"`
	}
	tests := []struct {
		name, model, path, body string
		status                  int
		wantText                []string // text_output per event (stream) or of the one response
		wantOutput0             string
		wantErr                 string
	}{
		{"stream default", "generate", "generate_stream", `{"text_input":"hi"}`, 200, wantTokens(5), "", ""},
		{"stream max_tokens parameter", "generate", "generate_stream", `{"text_input":"hi","parameters":{"max_tokens":2}}`, 200, wantTokens(2), "", ""},
		{"stream max_tokens top level", "generate", "generate_stream", `{"text_input":"hi","max_tokens":3}`, 200, wantTokens(3), "", ""},
		{"stream max_tokens input", "generate", "generate_stream", `{"text_input":["hi"],"max_tokens":[1]}`, 200, wantTokens(1), "", ""},
		{"one response", "generate", "generate", `{"text_input":"hi","parameters":{"stream":false,"max_tokens":3}}`, 200, []string{"tok1 tok2 tok3 "}, "", ""},
		{"several responses on generate", "generate", "generate", `{"text_input":"hi"}`, 400, nil, "", "expected a single response, got 2"},
		{"max_tokens over the limit", "generate", "generate_stream", `{"text_input":"hi","max_tokens":5000}`, 400, nil, "", "max_tokens is 5000"},
		{"max_tokens not a number", "generate", "generate", `{"text_input":"hi","parameters":{"max_tokens":"many"}}`, 400, nil, "", "max_tokens"},
		{"no text_input", "generate", "generate_stream", `{"parameters":{"max_tokens":2}}`, 400, nil, "", "text_input"},
		{"object parameter", "generate", "generate", `{"text_input":"hi","temperature":{"x":1}}`, 400, nil, "", "temperature"},
		{"not JSON", "generate", "generate", `text`, 400, nil, "", "malformed generate request"},
		{"identity", "identity", "generate", `{"INPUT0":[1,2.5,3]}`, 200, nil, "[1,2.5,3]", ""},
		{"identity stream", "identity", "generate_stream", `{"INPUT0":[4]}`, 200, nil, "4", ""},
		{"unknown model", "nope", "generate", `{}`, 404, nil, "", "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.c.Post(h.base+"/v2/models/"+tt.model+"/"+tt.path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			var payloads []string
			if tt.path == "generate_stream" && tt.status == 200 {
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				payloads = sseEvents(t, resp.Body)
			} else {
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				b, _ := io.ReadAll(resp.Body)
				payloads = []string{string(b)}
			}
			var got []generated
			for _, p := range payloads {
				var g generated
				if err := json.Unmarshal([]byte(p), &g); err != nil {
					t.Fatalf("event %q: %v", p, err)
				}
				got = append(got, g)
			}
			if tt.wantErr != "" {
				if len(got) != 1 || !strings.Contains(got[0].Error, tt.wantErr) {
					t.Fatalf("got %+v, want an error mentioning %q", got, tt.wantErr)
				}
				return
			}
			if tt.wantText != nil && len(got) != len(tt.wantText) {
				t.Fatalf("%d responses, want %d: %+v", len(got), len(tt.wantText), got)
			}
			for i, g := range got {
				if g.Error != "" || g.ModelName != tt.model || g.ModelVersion != "1" {
					t.Errorf("response %d: %+v", i, g)
				}
				if tt.wantText != nil && g.TextOutput != tt.wantText[i] {
					t.Errorf("response %d: text_output %q, want %q", i, g.TextOutput, tt.wantText[i])
				}
				if tt.wantOutput0 != "" && string(g.Output0) != tt.wantOutput0 {
					t.Errorf("response %d: OUTPUT0 %s, want %s", i, g.Output0, tt.wantOutput0)
				}
			}
		})
	}
}

// waitIdle waits until the server has no generate request in flight, or
// fails after a generous deadline.
func waitIdle(t *testing.T, s *servertest.Server, model string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.InFlight(model) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d %s requests still in flight 20s after their clients left", s.InFlight(model), model)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGenerateClientGone: a client leaving mid-generation stops it at once
// (the generation would otherwise run for minutes), and it counts as failed.
func TestGenerateClientGone(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) {
		o.Generate = server.GenerateOptions{FirstResponse: time.Millisecond, Gap: 100 * time.Millisecond, Tokens: server.MaxTokens}
	})
	t.Run("grpc", func(t *testing.T) {
		ctx, cancel := context.WithCancel(testCtx(t))
		defer cancel()
		st, err := grpcClient(t, s.GRPCAddr).ModelStreamInfer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(generateRequest("r", nil)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		waitIdle(t, s, "generate")
	})
	t.Run("http", func(t *testing.T) {
		ctx, cancel := context.WithCancel(testCtx(t))
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.HTTPAddr+"/v2/models/generate/generate_stream", strings.NewReader(`{"text_input":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		h := newHTTPClient(t, s.HTTPAddr)
		resp, err := h.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "data: ") {
			t.Fatalf("first event %q, %v", line, err)
		}
		cancel()
		waitIdle(t, s, "generate")
	})
	st := stats(t, grpcClient(t, s.GRPCAddr), "generate")
	if st.InferenceStats.Fail.Count != 2 || st.InferenceStats.Success.Count != 0 {
		t.Errorf("fail %d success %d; want 2 and 0", st.InferenceStats.Fail.Count, st.InferenceStats.Success.Count)
	}
}
