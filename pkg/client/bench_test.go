package client

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// Benchmarks send Triton's "simple" request (2 × INT32[1,16]) to the
// reference server over loopback. The server runs in a child process, so
// B/op and allocs/op are the client's alone.

// largeRequest is 1 MiB of FP32 each way through identity.
func largeRequest() *InferRequest {
	return &InferRequest{Model: "identity", Inputs: []Tensor{{Name: "INPUT0", Datatype: TypeFP32, Shape: []int64{1, 1 << 18}, Data: make([]byte, 1<<20)}}}
}

func benchCall(b *testing.B, opts Options) { benchCallReq(b, opts, simpleRequest()) }

func benchCallReq(b *testing.B, opts Options, req *InferRequest) {
	httpAddr, grpcAddr := servertest.StartProcess(b)
	ctx := context.Background()
	switch opts.Protocol {
	case GRPC:
		opts.URL = grpcAddr
	default:
		opts.URL = httpAddr
	}
	c, err := New(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	call, err := c.NewCall(req)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(2 * len(req.Inputs[0].Data)))
	if _, err := call.Do(ctx); err != nil { // connect outside the timer
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := call.Do(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// benchParallel runs 8 workers, each with its own Call, over one client:
// ns/op is the inverse of throughput on this machine (server included).
func benchParallel(b *testing.B, opts Options) {
	httpAddr, grpcAddr := servertest.StartProcess(b)
	opts.URL = httpAddr
	if opts.Protocol == GRPC {
		opts.URL = grpcAddr
	}
	const workers = 8
	opts.Workers = workers
	c, err := New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.SetParallelism(workers / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		call, err := c.NewCall(simpleRequest())
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if _, err := call.Do(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGRPCCallParallel(b *testing.B) { benchParallel(b, Options{Protocol: GRPC}) }

func BenchmarkHTTPCallParallel(b *testing.B) {
	benchParallel(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary})
}

func BenchmarkHTTPCallParallelNetHTTP(b *testing.B) {
	benchParallel(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary, httpTransport: transportNet})
}

func BenchmarkGRPCCall(b *testing.B) { benchCall(b, Options{Protocol: GRPC}) }

func BenchmarkHTTPCallNetHTTP(b *testing.B) {
	benchCall(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary, httpTransport: transportNet})
}

func BenchmarkHTTPCallLargeNetHTTP(b *testing.B) {
	benchCallReq(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary, httpTransport: transportNet}, largeRequest())
}

func BenchmarkGRPCCallGzip(b *testing.B) {
	benchCall(b, Options{Protocol: GRPC, GRPCCompression: "gzip"})
}

func BenchmarkHTTPCall(b *testing.B) {
	benchCall(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary})
}

func BenchmarkHTTPCallJSON(b *testing.B) {
	benchCall(b, Options{Protocol: HTTP, InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON})
}

func BenchmarkHTTPCallTimeout(b *testing.B) {
	benchCall(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary, Timeout: 1 << 40})
}

func BenchmarkGRPCCallLarge(b *testing.B) { benchCallReq(b, Options{Protocol: GRPC}, largeRequest()) }

func BenchmarkHTTPCallLarge(b *testing.B) {
	benchCallReq(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary}, largeRequest())
}

// BenchmarkGRPCStub is the baseline: the generated stub with the request
// message built once, marshalled and its response unmarshalled every time.
func BenchmarkGRPCStub(b *testing.B)      { benchStub(b, simpleRequest()) }
func BenchmarkGRPCStubLarge(b *testing.B) { benchStub(b, largeRequest()) }

func benchStub(b *testing.B, req *InferRequest) {
	_, grpcAddr := servertest.StartProcess(b)
	conn, err := grpc.NewClient("passthrough:///"+grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	stub := inferencepb.NewGRPCInferenceServiceClient(conn)
	checked, err := checkRequest(req)
	if err != nil {
		b.Fatal(err)
	}
	pb := checked.toPB(nil)
	ctx := context.Background()
	if _, err := stub.ModelInfer(ctx, pb, grpc.MaxCallRecvMsgSize(1<<30)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(2 * len(req.Inputs[0].Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stub.ModelInfer(ctx, pb, grpc.MaxCallRecvMsgSize(1<<30)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPPost is the baseline: http.Post of the same binary body
// (encoded once) with a sized transport, reading the response with io.ReadAll.
func BenchmarkHTTPPost(b *testing.B)      { benchPost(b, simpleRequest()) }
func BenchmarkHTTPPostLarge(b *testing.B) { benchPost(b, largeRequest()) }

func benchPost(b *testing.B, req *InferRequest) {
	httpAddr, _ := servertest.StartProcess(b)
	checked, err := checkRequest(req)
	if err != nil {
		b.Fatal(err)
	}
	body, headerLen, err := encodeHTTPRequest(checked, true, true)
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	url := "http://" + httpAddr + "/v2/models/" + req.Model + "/infer"
	post := func() error {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set(headerInferLen, strconv.Itoa(headerLen))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		return err
	}
	if err := post(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(2 * len(req.Inputs[0].Data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := post(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckHTTP is the response check alone on the simple model's
// binary answer; compare with BenchmarkHTTPCall's ns/op.
func BenchmarkCheckHTTP(b *testing.B) {
	c := newOutputCheck([]string{"OUTPUT0", "OUTPUT1"})
	body := simpleBinaryBody()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.checkHTTP(body, len(simpleBinaryHeader)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckGRPC is the gRPC response scan and check alone on the
// simple model's answer; compare with BenchmarkGRPCCall's ns/op.
func BenchmarkCheckGRPC(b *testing.B) {
	out := func(n string) *inferencepb.ModelInferResponse_InferOutputTensor {
		return &inferencepb.ModelInferResponse_InferOutputTensor{Name: n, Datatype: TypeInt32, Shape: []int64{1, 16}}
	}
	msg, err := proto.Marshal(&inferencepb.ModelInferResponse{ModelName: "simple", ModelVersion: "1",
		Outputs:           []*inferencepb.ModelInferResponse_InferOutputTensor{out("OUTPUT0"), out("OUTPUT1")},
		RawOutputContents: [][]byte{make([]byte, 64), make([]byte, 64)}})
	if err != nil {
		b.Fatal(err)
	}
	c := newOutputCheck([]string{"OUTPUT0", "OUTPUT1"})
	b.ReportAllocs()
	for b.Loop() {
		s, err := scanInferResponse(msg)
		if err == nil {
			err = c.checkPB(msg, s)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPCycle is BenchmarkHTTPCall cycling through 4 requests:
// the switch between requests must add no allocation.
func BenchmarkHTTPCycle(b *testing.B) {
	httpAddr, _ := servertest.StartProcess(b)
	ctx := context.Background()
	c, err := New(ctx, Options{Protocol: HTTP, URL: httpAddr, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	call, err := Cycle(prepareSteps(b, c, 4), 0)
	if err != nil {
		b.Fatal(err)
	}
	for range 4 { // connect outside the timer
		if _, err := call.Do(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := call.Do(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPCallExpected is BenchmarkHTTPCall with both outputs
// compared against expected ones: still 0 allocs/op.
func BenchmarkHTTPCallExpected(b *testing.B) {
	benchCallReq(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary}, expectedSimple(-1))
}

// BenchmarkGRPCCallExpected is BenchmarkGRPCCall with both outputs
// compared against expected ones: no allocation beyond grpc-go's.
func BenchmarkGRPCCallExpected(b *testing.B) {
	benchCallReq(b, Options{Protocol: GRPC}, expectedSimple(-1))
}
