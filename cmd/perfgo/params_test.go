package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func TestRequestParamParsing(t *testing.T) {
	tests := []struct {
		arg     string
		name    string
		want    any
		wantErr string
	}{
		{"max_tokens:256:int", "max_tokens", int64(256), ""},
		{"n:-3:int", "n", int64(-3), ""},
		{"seed:18446744073709551615:uint", "seed", uint64(18446744073709551615), ""},
		{"temperature:0.7:double", "temperature", 0.7, ""},
		{"stream:false:bool", "stream", false, ""},
		{"url:http://a:8000/x:string", "url", "http://a:8000/x", ""},
		{"empty::string", "empty", "", ""},
		{"x:1", "", nil, "want name:value:type"},
		{":1:int", "", nil, "want name:value:type"},
		{"x:1.5:int", "", nil, "an int is a whole number"},
		{"x:-1:uint", "", nil, "a uint is a whole number"},
		{"x:yes:bool", "", nil, "a bool is true or false"},
		{"x:NaN:double", "", nil, "a double is a finite number"},
		{"x:1:float", "", nil, `type "float": use bool, int, uint, double or string`},
		{"sequence_id:1:int", "", nil, "perfgo sets sequence_id itself"},
		{"binary_data_output:false:bool", "", nil, "perfgo sets binary_data_output itself"},
	}
	for _, tt := range tests {
		o, err := parseOpts(t, "-m", "x", "--request-parameter", tt.arg)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--request-parameter") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: err %v; want one line naming the flag and %q", tt.arg, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.arg, err)
			continue
		}
		if got := o.RequestParams[tt.name]; got != tt.want {
			t.Errorf("%s: %s = %#v, want %#v", tt.arg, tt.name, got, tt.want)
		}
	}
	if _, err := parseOpts(t, "-m", "x", "--request-parameter", "a:1:int", "--request-parameter", "a:2:int"); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate name: err %v", err)
	}
}

// TestRequestParamReachesServer: the parameters of --request-parameter are
// in the request perfgo builds, over both protocols; the identity model
// echoes what the server received.
func TestRequestParamReachesServer(t *testing.T) {
	srv := servertest.Start(t)
	for _, tc := range []struct{ proto, format string }{{"http", "binary"}, {"http", "json"}, {"grpc", ""}} {
		proto := tc.proto
		t.Run(proto+tc.format, func(t *testing.T) {
			url := addrFor(srv, proto)
			args := []string{"-m", "identity", "-i", proto, "-u", url, "--shape", "INPUT0:4"}
			if tc.format != "" {
				args = append(args, "--input-tensor-format", tc.format, "--output-tensor-format", tc.format)
			}
			o, err := parseOpts(t, append(args,
				"--request-parameter", "max_tokens:256:int", "--request-parameter", "url:http://a:1/b:string",
				"--request-parameter", "t:0.5:double", "--request-parameter", "s:7:uint", "--request-parameter", "on:true:bool")...)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			cl, err := client.New(ctx, client.Options{Protocol: client.Protocol(proto), URL: url, Workers: 1, ControlTimeout: o.ControlTimeout,
				InputTensorFormat: o.InputTensorFormat, OutputTensorFormat: o.OutputTensorFormat})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			tg, err := discover(ctx, cl, o, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			lo, err := o.loadgenOptions(tg, cl, cl, nil)
			if err != nil {
				t.Fatal(err)
			}
			caller, err := lo.NewCaller(0)
			if err != nil {
				t.Fatal(err)
			}
			call := caller.(client.Call)
			if _, err := call.Do(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := call.Response()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"max_tokens": int64(256), "url": "http://a:1/b", "t": 0.5, "on": true}
			for k, v := range want {
				if res.Parameters[k] != v {
					t.Errorf("server echoed %s = %#v, want %#v (all: %v)", k, res.Parameters[k], v, res.Parameters)
				}
			}
			// JSON has no unsigned type: over HTTP 7 comes back as int64.
			if s := res.Parameters["s"]; s != uint64(7) && s != int64(7) {
				t.Errorf("server echoed s = %#v, want 7", s)
			}
		})
	}
}

func TestStringDataFlag(t *testing.T) {
	o, err := parseOpts(t, "-m", "x", "--string-data", "a:b c")
	if err != nil || o.StringData != "a:b c" {
		t.Fatalf("--string-data: %q, %v", o.StringData, err)
	}
	srv := servertest.Start(t)
	code, stdout, stderr := perfgo(t, context.Background(), "-m", "identity_bytes", "-u", srv.HTTPAddr, "--shape", "INPUT0:3",
		"--string-data", "hello", "--request-count", "5")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestNoConfigBatch: against a server without model configuration, -b 2
// fills the leading -1 of each input: the server counts two inferences per
// request, as the report does.
func TestNoConfigBatch(t *testing.T) {
	srv := servertest.Start(t, func(o *server.Options) { o.HideModelConfig = true })
	for i, proto := range []string{"http", "grpc"} {
		url := addrFor(srv, proto)
		jsonPath := filepath.Join(t.TempDir(), "out.json")
		code, stdout, stderr := perfgo(t, context.Background(), "-m", "simple", "-b", "2", "-i", proto, "-u", url,
			"--concurrency-range", "2", "--request-count", "40", "--json", jsonPath)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", proto, code, stdout, stderr)
		}
		if !strings.Contains(stderr, "warning: the server gives no model configuration: the leading -1 of each input is taken as the batch dimension (-b N fills it)\n") {
			t.Errorf("%s: stderr lacks the no-configuration line:\n%s", proto, stderr)
		}
		if !strings.Contains(stdout, "  No model configuration: the leading -1 of each input is the batch dimension (-b fills it)\n") {
			t.Errorf("%s: the settings header does not say how the batch dimension was chosen:\n%s", proto, stdout)
		}
		st, err := srv.Statistics("simple")
		if err != nil {
			t.Fatal(err)
		}
		ms := st.GetModelStats()[0]
		// The server's counters are cumulative over both protocols.
		wantReq := uint64(40 * (i + 1))
		if got := ms.GetInferenceStats().GetSuccess().GetCount(); got != wantReq {
			t.Errorf("%s: server answered %d requests, want %d", proto, got, wantReq)
		}
		if got := ms.GetInferenceCount(); got != 2*wantReq {
			t.Errorf("%s: server counted %d inferences, want 2 per request: %d", proto, got, 2*wantReq)
		}
		level := jsonLevel(t, jsonPath)
		client := level["client"].(map[string]any)
		if req, inf := client["requests"].(float64), client["inferences"].(float64); req != 40 || inf != 80 {
			t.Errorf("%s: report says %v requests, %v inferences; want 40 and 80", proto, req, inf)
		}
	}
}

// TestNoConfigShapeSuggestionWorks: the --shape suggested for a variable
// input, pasted as is, runs at batch 1.
func TestNoConfigShapeSuggestionWorks(t *testing.T) {
	srv := servertest.Start(t, func(o *server.Options) { o.HideModelConfig = true })
	code, stdout, stderr := perfgo(t, context.Background(), "-m", "identity", "-u", srv.HTTPAddr, "--request-count", "10")
	m := regexp.MustCompile(`--shape (\S+)\n`).FindStringSubmatch(stderr)
	if code == 0 || m == nil {
		t.Fatalf("exit %d, want a --shape suggestion:\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = perfgo(t, context.Background(), "-m", "identity", "-u", srv.HTTPAddr, "--request-count", "10", "--shape", m[1])
	if code != 0 {
		t.Fatalf("pasted --shape %s: exit %d\n%s\n%s", m[1], code, stdout, stderr)
	}
	st, err := srv.Statistics("identity")
	if err != nil {
		t.Fatal(err)
	}
	if ms := st.GetModelStats()[0]; ms.GetInferenceCount() != 10 || ms.GetExecutionCount() != 10 {
		t.Errorf("server: %d inferences in %d executions; want 10 of batch 1", ms.GetInferenceCount(), ms.GetExecutionCount())
	}
}

func jsonLevel(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Levels []map[string]any `json:"levels"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Levels) != 1 {
		t.Fatalf("report: %v, %d levels", err, len(rep.Levels))
	}
	return rep.Levels[0]
}

// addrFor is srv's address for the protocol.
func addrFor(srv *servertest.Server, proto string) string {
	if proto == "grpc" {
		return srv.GRPCAddr
	}
	return srv.HTTPAddr
}

func TestNoConfigServeFlag(t *testing.T) {
	var got server.Options
	cmd := newServeCmdWith(func(_ context.Context, opts server.Options, _ io.Writer) error { got = opts; return nil })
	cmd.SetArgs([]string{"--no-model-config"})
	if err := cmd.Execute(); err != nil || !got.HideModelConfig {
		t.Fatalf("--no-model-config: HideModelConfig %v, %v", got.HideModelConfig, err)
	}
}
