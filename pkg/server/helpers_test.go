package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testCtx is a context for one RPC; generous, because a noisy machine is not
// a failure.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// httpClient talks to one server's HTTP listener.
type httpClient struct {
	t    testing.TB
	base string
	c    *http.Client
}

func newHTTPClient(t testing.TB, addr string) *httpClient {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &httpClient{t: t, base: "http://" + addr, c: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

func (h *httpClient) do(method, path string, header map[string]string, body []byte) httpResult {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *httpClient) get(path string) httpResult { return h.do(http.MethodGet, path, nil, nil) }

// inferJSON posts a JSON inference request.
func (h *httpClient) inferJSON(model, body string) httpResult {
	h.t.Helper()
	return h.do(http.MethodPost, "/v2/models/"+model+"/infer", map[string]string{"Content-Type": "application/json"}, []byte(body))
}

// inferBinary posts a JSON header followed by binary data.
func (h *httpClient) inferBinary(model, hdr string, data ...[]byte) httpResult {
	h.t.Helper()
	body := append([]byte(hdr), bytes.Join(data, nil)...)
	return h.do(http.MethodPost, "/v2/models/"+model+"/infer", map[string]string{
		"Content-Type":                    "application/octet-stream",
		"Inference-Header-Content-Length": strconv.Itoa(len(hdr)),
	}, body)
}

// decodedOutput is one output of an HTTP inference response.
type decodedOutput struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int64         `json:"shape"`
	Data       json.RawMessage `json:"data"`
	Parameters struct {
		BinaryDataSize *int `json:"binary_data_size"`
	} `json:"parameters"`
	raw []byte // binary data, when sent binary
}

type decodedResponse struct {
	ModelName    string          `json:"model_name"`
	ModelVersion string          `json:"model_version"`
	ID           string          `json:"id"`
	Outputs      []decodedOutput `json:"outputs"`
	Error        string          `json:"error"`
}

// decodeHTTP splits and decodes an inference response, JSON or binary.
func decodeHTTP(t testing.TB, r httpResult) decodedResponse {
	t.Helper()
	hdr, bin := r.body, []byte(nil)
	if v := r.header.Get("Inference-Header-Content-Length"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n > len(r.body) {
			t.Fatalf("bad Inference-Header-Content-Length %q for a %d-byte body", v, len(r.body))
		}
		hdr, bin = r.body[:n], r.body[n:]
		if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("binary response has Content-Type %q, want application/octet-stream", ct)
		}
	} else if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("JSON response has Content-Type %q, want application/json", ct)
	}
	var d decodedResponse
	if err := json.Unmarshal(hdr, &d); err != nil {
		t.Fatalf("response header is not JSON: %v: %s", err, hdr)
	}
	for i := range d.Outputs {
		if sz := d.Outputs[i].Parameters.BinaryDataSize; sz != nil {
			if *sz > len(bin) {
				t.Fatalf("output %s binary_data_size %d, only %d bytes left", d.Outputs[i].Name, *sz, len(bin))
			}
			d.Outputs[i].raw, bin = bin[:*sz], bin[*sz:]
		}
	}
	if len(bin) != 0 {
		t.Fatalf("%d bytes of binary data left over after the outputs", len(bin))
	}
	return d
}

func (d decodedResponse) output(t testing.TB, name string) decodedOutput {
	t.Helper()
	for _, o := range d.Outputs {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("response has no output %q: %+v", name, d)
	return decodedOutput{}
}

// checkGolden compares got with testdata/name.golden, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v: %s", name, err, got)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, path, buf.Bytes(), want)
	}
}

// timingFields hides the values that change from run to run.
var timingFields = regexp.MustCompile(`"(ns|last_inference)":\s*[0-9]+`)

func maskTimings(b []byte) []byte { return timingFields.ReplaceAll(b, []byte(`"$1":"<masked>"`)) }

// grpcClient dials the server's gRPC listener.
func grpcClient(t testing.TB, addr string) inferencepb.GRPCInferenceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return inferencepb.NewGRPCInferenceServiceClient(conn)
}

func grpcConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func int32s(v ...int32) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, uint32(x))
	}
	return out
}

func fp32s(v ...float32) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
	}
	return out
}

func decodeInt32s(t testing.TB, b []byte) []int32 {
	t.Helper()
	if len(b)%4 != 0 {
		t.Fatalf("INT32 data has %d bytes, not a multiple of 4", len(b))
	}
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// stats fetches one model's statistics over gRPC.
func stats(t testing.TB, c inferencepb.GRPCInferenceServiceClient, model string) *inferencepb.ModelStatistics {
	t.Helper()
	r, err := c.ModelStatistics(testCtx(t), &inferencepb.ModelStatisticsRequest{Name: model})
	if err != nil {
		t.Fatalf("ModelStatistics(%s): %v", model, err)
	}
	if len(r.ModelStats) != 1 {
		t.Fatalf("ModelStatistics(%s) returned %d models, want 1", model, len(r.ModelStats))
	}
	return r.ModelStats[0]
}
