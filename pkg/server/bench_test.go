package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// End-to-end over loopback: client and server share the process, so the
// allocation figures include both; the handler benchmarks in
// bench_internal_test.go isolate the server.

func BenchmarkLoopbackHTTPBinary(b *testing.B) {
	s := servertest.Start(b)
	hdr := `{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"FP32","parameters":{"binary_data_size":64}}],"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}`
	body := append([]byte(hdr), make([]byte, 64)...)
	tr := &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	url := "http://" + s.HTTPAddr + "/v2/models/identity/infer"
	rd := bytes.NewReader(body)
	req, _ := http.NewRequest(http.MethodPost, url, io.NopCloser(rd))
	req.ContentLength = int64(len(body))
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func BenchmarkLoopbackGRPC(b *testing.B) {
	s := servertest.Start(b)
	c := grpcClient(b, s.GRPCAddr)
	in := &inferencepb.ModelInferRequest{ModelName: "identity",
		Inputs:           []*inputT{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{1, 16}}},
		RawInputContents: [][]byte{make([]byte, 64)}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ModelInfer(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
