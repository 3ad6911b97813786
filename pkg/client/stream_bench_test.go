package client

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// The server runs in a child process (servertest.StartProcess), so
// allocs/op are the client's alone.

// benchLoop runs Do b.N times after one warm-up Do, with before (if set)
// called before each, and reports allocations per response too.
func benchLoop(b *testing.B, call Call, before func(i int)) {
	ctx := context.Background()
	if before != nil {
		before(0)
	}
	if _, err := call.Do(ctx); err != nil { // connect outside the timer
		b.Fatal(err)
	}
	b.ReportAllocs()
	responses, i := 0, 0
	for b.Loop() {
		if before != nil {
			before(i)
		}
		i++
		t, err := call.Do(ctx)
		if err != nil {
			b.Fatal(err)
		}
		responses += max(1, t.Responses)
	}
	b.ReportMetric(float64(responses)/float64(b.N), "responses/op")
}

func benchStreamCall(b *testing.B, opts Options, req *InferRequest) Call {
	httpAddr, grpcAddr := servertest.StartProcess(b)
	opts.URL = httpAddr
	if opts.Protocol == GRPC {
		opts.URL = grpcAddr
	}
	c, err := New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if req.Model == "sequence" {
		call, err := c.NewCall(req)
		if err != nil {
			b.Fatal(err)
		}
		return call
	}
	p, err := c.(StreamPreparer).PrepareStream(req)
	if err != nil {
		b.Fatal(err)
	}
	call, err := p.NewCall()
	if err != nil {
		b.Fatal(err)
	}
	return call
}

// BenchmarkGRPCStream: the repeat model answers each request with 8
// responses and an empty final one.
func BenchmarkGRPCStream(b *testing.B) {
	benchLoop(b, benchStreamCall(b, Options{Protocol: GRPC, Timeout: time.Hour}, repeatRequest(1, 2, 3, 4, 5, 6, 7, 8)), nil)
}

// sequenceStep alternates between 4 sequences, restarting them.
func sequenceStep(call Call) func(int) {
	sq := call.(Sequencer)
	return func(i int) { sq.SetSequence(Sequence{ID: uint64(1 + i%4), Start: true}) }
}

func BenchmarkSequenceGRPC(b *testing.B) {
	call := benchStreamCall(b, Options{Protocol: GRPC}, seqRequest(5))
	benchLoop(b, call, sequenceStep(call))
}

func BenchmarkSequenceHTTP(b *testing.B) {
	call := benchStreamCall(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary}, seqRequest(5))
	benchLoop(b, call, sequenceStep(call))
}

func BenchmarkSequenceHTTPNetHTTP(b *testing.B) {
	call := benchStreamCall(b, Options{Protocol: HTTP, InputTensorFormat: FormatBinary, OutputTensorFormat: FormatBinary, httpTransport: transportNet}, seqRequest(5))
	benchLoop(b, call, sequenceStep(call))
}

// BenchmarkSequenceGRPCStream sends each request of a sequence on the
// Call's stream (the sequence model answers once, unmarked).
func BenchmarkSequenceGRPCStream(b *testing.B) {
	httpAddr, grpcAddr := servertest.StartProcess(b)
	_ = httpAddr
	c, err := NewGRPC(context.Background(), Options{URL: grpcAddr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	p, err := c.PrepareStream(seqRequest(5))
	if err != nil {
		b.Fatal(err)
	}
	call, err := p.NewCall()
	if err != nil {
		b.Fatal(err)
	}
	benchLoop(b, call, sequenceStep(call))
}

// BenchmarkHTTPStream reads 8 events per request from a canned
// generate_stream server: a loopback goroutine that reads each request and
// writes the same chunked answer, allocating nothing per request itself.
func BenchmarkHTTPStream(b *testing.B) {
	var events strings.Builder
	for range 8 {
		events.WriteString("data: {\"model_name\":\"text\",\"model_version\":\"1\",\"TEXT\":\"token\"}\n\n")
	}
	answer := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", events.Len(), events.String())
	addr := serveCanned(b, []byte(answer))
	c, err := NewHTTP(context.Background(), Options{URL: addr, InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON, Timeout: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	p, err := c.PrepareStream(textRequest("text"))
	if err != nil {
		b.Fatal(err)
	}
	call, err := p.NewCall()
	if err != nil {
		b.Fatal(err)
	}
	benchLoop(b, call, nil)
}

// serveCanned answers every HTTP/1.1 request on 127.0.0.1 with answer.
func serveCanned(b *testing.B, answer []byte) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	conns := map[net.Conn]bool{}
	var mu sync.Mutex
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[nc] = true
			mu.Unlock()
			wg.Go(func() { cannedConn(nc, answer) })
		}
	})
	b.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for nc := range conns {
			_ = nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func cannedConn(nc net.Conn, answer []byte) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	for {
		length := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			const cl = "content-length: "
			if len(line) > len(cl) && bytes.EqualFold(line[:len(cl)], []byte(cl)) {
				length = parseHeaderLen(bytes.TrimSpace(line[len(cl):]))
			}
		}
		if _, err := br.Discard(length); err != nil {
			return
		}
		if _, err := nc.Write(answer); err != nil {
			return
		}
	}
}
