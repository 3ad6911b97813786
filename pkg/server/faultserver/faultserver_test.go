package faultserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server/faultserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// simpleBody asks the simple model for both outputs in binary.
const simpleBody = `{"inputs":[` +
	`{"name":"INPUT0","datatype":"INT32","shape":[1,16],"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]},` +
	`{"name":"INPUT1","datatype":"INT32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}],` +
	`"parameters":{"binary_data_output":true}}`

// answer is an HTTP inference answer as read by net/http.
type answer struct {
	status      int
	contentType string
	header      []byte // the JSON part
	body        []byte
	readErr     error
}

// outputs decodes the JSON header's outputs and their binary sizes.
func (a answer) outputs() ([]string, int, error) {
	var h struct {
		Outputs []struct {
			Name       string `json:"name"`
			Parameters struct {
				Size int `json:"binary_data_size"`
			} `json:"parameters"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(a.header, &h); err != nil {
		return nil, 0, err
	}
	var names []string
	size := 0
	for _, o := range h.Outputs {
		names = append(names, o.Name)
		size += o.Parameters.Size
	}
	return names, size, nil
}

func httpInfer(t *testing.T, ctx context.Context, c *http.Client, addr string) (answer, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v2/models/simple/infer", strings.NewReader(simpleBody))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	a.body, a.readErr = io.ReadAll(resp.Body)
	a.header = a.body
	if h, err := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length")); err == nil && h <= len(a.body) {
		a.header = a.body[:h]
	}
	return a, nil
}

func newHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestHTTPFaults(t *testing.T) {
	p := faultserver.Start(t)
	c := newHTTPClient(t)
	p.Set(faultserver.Fault{})
	normal, err := httpInfer(t, context.Background(), c, p.HTTPAddr)
	if err != nil || normal.status != 200 || normal.readErr != nil {
		t.Fatalf("no fault: %v %+v", err, normal)
	}
	tests := []struct {
		fault faultserver.Fault
		check func(a answer) string // what is wrong, "" if nothing
	}{
		{faultserver.Fault{}, func(a answer) string {
			names, size, err := a.outputs()
			if err != nil || len(names) != 2 || size != len(a.body)-len(a.header) {
				return "not a complete v2 answer with two binary outputs"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.Garbage}, func(a answer) string {
			if json.Valid(a.body) || len(a.body) != 512 {
				return "want 512 bytes that are not JSON"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.HTML}, func(a answer) string {
			if !strings.HasPrefix(a.contentType, "text/html") || !bytes.Contains(a.body, []byte("<html>")) {
				return "want an HTML page"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.MissingOutputs}, func(a answer) string {
			if names, _, err := a.outputs(); err != nil || len(names) != 0 {
				return "want well-formed JSON without outputs"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.ShortData}, func(a answer) string {
			names, size, err := a.outputs()
			if err != nil || len(names) != 2 || len(a.body)-len(a.header) >= size {
				return "want a header declaring more binary data than the body holds"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.Truncate}, func(a answer) string {
			if !errors.Is(a.readErr, io.ErrUnexpectedEOF) || len(a.body) >= len(normal.body) {
				return "want the body cut short (unexpected EOF)"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.Huge, Size: 3 << 20}, func(a answer) string {
			names, size, err := a.outputs()
			if err != nil || len(names) != 1 || size != 3<<20 || len(a.body)-len(a.header) != size {
				return "want one binary output of 3 MiB"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.Drip, Delay: time.Microsecond}, func(a answer) string {
			if !bytes.Equal(a.body, normal.body) {
				return "want the normal answer, dripped"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Kind.String(), func(t *testing.T) {
			p.Set(tt.fault)
			a, err := httpInfer(t, context.Background(), c, p.HTTPAddr)
			if err != nil || a.status != http.StatusOK {
				t.Fatalf("want a 200 answer: %v %+v", err, a)
			}
			if tt.fault.Kind != faultserver.Truncate && a.readErr != nil {
				t.Fatalf("reading the body: %v", a.readErr)
			}
			if msg := tt.check(a); msg != "" {
				t.Errorf("%s; got %d bytes (%q...)", msg, len(a.body), a.body[:min(len(a.body), 120)])
			}
		})
	}
}

// A slow drip cannot finish within a short deadline; the headers do arrive.
func TestHTTPDripOutlastsDeadline(t *testing.T) {
	p := faultserver.Start(t)
	c := newHTTPClient(t)
	p.Set(faultserver.Fault{Kind: faultserver.Drip, Delay: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	a, err := httpInfer(t, ctx, c, p.HTTPAddr)
	if err != nil {
		t.Fatalf("the headers should arrive: %v", err)
	}
	if a.readErr == nil {
		t.Fatalf("a body of %d bytes at one per 20 ms was read in full within 200 ms", len(a.body))
	}
}

// hold starts a request that the fault holds and waits until it is held.
func hold(t *testing.T, p *faultserver.Proxy, do func() error) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	before := p.Held()
	go func() { done <- do() }()
	for p.Held() == before {
		select {
		case err := <-done:
			t.Fatalf("the request was answered instead of held: %v", err)
		case <-time.After(2 * time.Millisecond):
		}
	}
	return done
}

func grpcConn(t *testing.T, addr string, opts ...grpc.CallOption) inferencepb.GRPCInferenceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return inferencepb.NewGRPCInferenceServiceClient(conn)
}

func grpcRequest() *inferencepb.ModelInferRequest {
	raw := make([]byte, 64)
	in := func(name string) *inferencepb.ModelInferRequest_InferInputTensor {
		return &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "INT32", Shape: []int64{1, 16}}
	}
	return &inferencepb.ModelInferRequest{ModelName: "simple",
		Inputs:           []*inferencepb.ModelInferRequest_InferInputTensor{in("INPUT0"), in("INPUT1")},
		RawInputContents: [][]byte{raw, raw}}
}

// Stall holds requests until the fault changes; Drop holds them until the
// client gives up, whatever Set does.
func TestStallReleaseAndDrop(t *testing.T) {
	p := faultserver.Start(t)
	c := newHTTPClient(t)
	g := grpcConn(t, p.GRPCAddr)
	protocols := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"http", func(ctx context.Context) error {
			a, err := httpInfer(t, ctx, c, p.HTTPAddr)
			if err == nil && (a.status != 200 || a.readErr != nil) {
				err = errors.New("bad answer")
			}
			return err
		}},
		{"grpc", func(ctx context.Context) error { _, err := g.ModelInfer(ctx, grpcRequest()); return err }},
	}
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			p.Set(faultserver.StallAfter(1))
			if err := proto.do(context.Background()); err != nil {
				t.Fatalf("the first request should pass: %v", err)
			}
			held := hold(t, p, func() error { return proto.do(context.Background()) })
			p.Set(faultserver.Fault{})
			if err := <-held; err != nil {
				t.Errorf("a released request should be answered: %v", err)
			}

			p.Set(faultserver.DropEvery(2))
			if err := proto.do(context.Background()); err != nil {
				t.Fatalf("the first request should pass: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			dropped := hold(t, p, func() error { return proto.do(ctx) })
			p.Set(faultserver.Fault{}) // does not release a drop
			select {
			case err := <-dropped:
				t.Fatalf("a dropped request was answered: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			cancel()
			if err := <-dropped; err == nil {
				t.Errorf("a dropped request ended without error")
			}
		})
	}
}

func TestGRPCFaults(t *testing.T) {
	p := faultserver.Start(t)
	g := grpcConn(t, p.GRPCAddr, grpc.MaxCallRecvMsgSize(16<<20))
	if md, err := g.ServerMetadata(context.Background(), &inferencepb.ServerMetadataRequest{}); err != nil || md.GetName() != "perfgo" {
		t.Fatalf("control calls should pass: %v %v", md, err)
	}
	tests := []struct {
		fault faultserver.Fault
		check func(r *inferencepb.ModelInferResponse, err error) string
	}{
		{faultserver.Fault{}, func(r *inferencepb.ModelInferResponse, err error) string {
			if err != nil || len(r.GetOutputs()) != 2 || len(r.GetRawOutputContents()) != 2 || len(r.GetRawOutputContents()[1]) != 64 {
				return "want two outputs of 64 bytes"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.MissingOutputs}, func(r *inferencepb.ModelInferResponse, err error) string {
			if err != nil || len(r.GetOutputs()) != 0 || len(r.GetRawOutputContents()) != 0 {
				return "want a response without outputs"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.ShortData}, func(r *inferencepb.ModelInferResponse, err error) string {
			if err != nil || len(r.GetOutputs()) != 2 || len(r.GetRawOutputContents()[1]) != 32 {
				return "want the last output's raw contents halved"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.Huge, Size: 5 << 20}, func(r *inferencepb.ModelInferResponse, err error) string {
			if err != nil || len(r.GetOutputs()) != 1 || r.GetOutputs()[0].GetShape()[0] != 5<<20 || len(r.GetRawOutputContents()[0]) != 5<<20 {
				return "want one output of 5 MiB"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.Huge, Size: 20 << 20}, func(_ *inferencepb.ModelInferResponse, err error) string {
			if status.Code(err) != codes.ResourceExhausted {
				return "want the client's receive limit to refuse it"
			}
			return ""
		}},
		{faultserver.Fault{Kind: faultserver.Garbage}, func(_ *inferencepb.ModelInferResponse, err error) string {
			if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "HTTP only") {
				return "want INTERNAL naming an HTTP-only fault"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Kind.String(), func(t *testing.T) {
			p.Set(tt.fault)
			r, err := g.ModelInfer(context.Background(), grpcRequest())
			if msg := tt.check(r, err); msg != "" {
				t.Errorf("%s; got %d outputs, error %v", msg, len(r.GetOutputs()), err)
			}
		})
	}
}

// Kill cuts every connection and refuses new ones; Restart serves again on
// the same ports.
func TestKillRestart(t *testing.T) {
	p := faultserver.Start(t)
	c := newHTTPClient(t)
	g := grpcConn(t, p.GRPCAddr)
	httpAddr, grpcAddr := p.HTTPAddr, p.GRPCAddr
	p.Set(faultserver.StallAfter(0))
	held := hold(t, p, func() error { _, err := httpInfer(t, context.Background(), c, p.HTTPAddr); return err })
	p.Kill()
	if err := <-held; err == nil {
		t.Errorf("a request in flight survived Kill")
	}
	p.Set(faultserver.Fault{})
	if _, err := net.Dial("tcp", httpAddr); err == nil {
		t.Errorf("HTTP connection accepted after Kill")
	}
	if _, err := g.ModelInfer(context.Background(), grpcRequest()); status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC after Kill: %v, want UNAVAILABLE", err)
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	if p.HTTPAddr != httpAddr || p.GRPCAddr != grpcAddr {
		t.Errorf("restarted on %s %s, want %s %s", p.HTTPAddr, p.GRPCAddr, httpAddr, grpcAddr)
	}
	if a, err := httpInfer(t, context.Background(), c, p.HTTPAddr); err != nil || a.status != 200 {
		t.Errorf("HTTP after Restart: %v %d", err, a.status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := g.ModelInfer(ctx, grpcRequest(), grpc.WaitForReady(true)); err != nil {
		t.Errorf("gRPC after Restart: %v", err)
	}
}

func TestTCP(t *testing.T) {
	tests := []struct {
		name  string
		start func(testing.TB) *faultserver.TCP
		want  string // the first bytes read; "" for none
	}{
		{"silent", faultserver.Silent, ""},
		{"not HTTP", faultserver.NotHTTP, "SSH-2.0-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.start(t)
			c, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			b := make([]byte, 64)
			n, err := io.ReadAtLeast(c, b, max(len(tt.want), 1))
			var ne net.Error
			switch {
			case tt.want == "" && (!errors.As(err, &ne) || !ne.Timeout() || n != 0):
				t.Errorf("read %q, %v: want nothing until the deadline", b[:n], err)
			case tt.want != "" && !strings.HasPrefix(string(b[:n]), tt.want):
				t.Errorf("read %q, %v: want %q", b[:n], err, tt.want)
			}
			if s.Accepted() != 1 {
				t.Errorf("accepted %d connections, want 1", s.Accepted())
			}
		})
	}
}
