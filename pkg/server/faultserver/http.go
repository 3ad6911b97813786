package faultserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// headerLength is Triton's binary tensor extension header.
const headerLength = "Inference-Header-Content-Length"

// faultKey carries the Fault of a forwarded request to modifyResponse.
type faultKey struct{}

// serveHTTP forwards control calls and applies the fault to inference calls.
func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.enter() {
		panic(http.ErrAbortHandler)
	}
	defer p.handlers.Done()
	stream := strings.HasSuffix(r.URL.Path, "/generate_stream")
	if r.Method != http.MethodPost || !stream && !strings.HasSuffix(r.URL.Path, "/infer") {
		p.rp.ServeHTTP(w, r)
		return
	}
	f, st := p.next()
	switch {
	case stream && f.Kind.unaryOnly():
		http.Error(w, fmt.Sprintf("faultserver: the %v fault applies to unary requests only", f.Kind), http.StatusInternalServerError)
		return
	case !stream && f.Kind.streamOnly():
		http.Error(w, fmt.Sprintf("faultserver: the %v fault applies to streamed requests only", f.Kind), http.StatusInternalServerError)
		return
	case f.Kind.streamOnly():
		r = r.WithContext(context.WithValue(r.Context(), streamKey{}, streamFault{p: p, f: f, st: st}))
	}
	switch f.Kind {
	case Stall, Drop:
		if !p.hold(r.Context(), f.Kind, st) {
			panic(http.ErrAbortHandler)
		}
	case Garbage:
		write(w, "application/octet-stream", garbage)
		return
	case HTML:
		write(w, "text/html; charset=utf-8", []byte("<!DOCTYPE html>\n<html><head><title>Welcome</title></head>"+
			"<body><h1>It works!</h1><p>This is not an inference server.</p></body></html>\n"))
		return
	case MissingOutputs:
		write(w, "application/json", fmt.Appendf(nil, `{"model_name":%q,"model_version":"1","outputs":[]}`, modelOf(r.URL.Path)))
		return
	case Huge:
		writeHuge(w, modelOf(r.URL.Path), f.size())
		return
	case Drip, ShortData, Truncate:
		r = r.WithContext(context.WithValue(r.Context(), faultKey{}, f))
	}
	p.rp.ServeHTTP(w, r)
}

func write(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// modelOf is the model name in /v2/models/{model}[/versions/{v}]/infer.
func modelOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/v2/models/")
	if !ok {
		return ""
	}
	m, _, _ := strings.Cut(rest, "/")
	return m
}

// garbage is 512 random bytes (the same each time): Garbage's body.
var garbage = func() []byte {
	b := make([]byte, 512)
	_, _ = rand.NewChaCha8([32]byte{}).Read(b)
	return b
}()

// zeros is the chunk Huge bodies are written from.
var zeros = make([]byte, 64<<10)

// writeHuge streams a binary-extension answer with one UINT8 output of size
// bytes, until done or the client hangs up.
func writeHuge(w http.ResponseWriter, model string, size int64) {
	hdr := hugeHeader(model, size)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(headerLength, strconv.Itoa(len(hdr)))
	w.Header().Set("Content-Length", strconv.FormatInt(int64(len(hdr))+size, 10))
	if _, err := w.Write(hdr); err != nil {
		return
	}
	for left := size; left > 0; {
		n := min(left, int64(len(zeros)))
		if _, err := w.Write(zeros[:n]); err != nil {
			return
		}
		left -= n
	}
}

func hugeHeader(model string, size int64) []byte {
	return fmt.Appendf(nil, `{"model_name":%q,"model_version":"1","outputs":[{"name":"OUTPUT0","datatype":"UINT8","shape":[%d],"parameters":{"binary_data_size":%d}}]}`,
		model, size, size)
}

// streamKey carries the streamFault of a forwarded generate_stream
// request to modifyResponse.
type streamKey struct{}

type streamFault struct {
	p  *Proxy
	f  Fault
	st *faultState
}

// modifyResponse applies the faults that need the backend's answer.
func modifyResponse(resp *http.Response) error {
	if sf, ok := resp.Request.Context().Value(streamKey{}).(streamFault); ok {
		if resp.StatusCode == http.StatusOK {
			resp.Body = newSSEFault(resp, sf.p, sf.f, sf.st)
		}
		return nil
	}
	f, ok := resp.Request.Context().Value(faultKey{}).(Fault)
	if !ok || resp.StatusCode != http.StatusOK {
		return nil
	}
	if f.Kind == Drip {
		resp.Body = &dripReader{body: resp.Body, ctx: resp.Request.Context(), delay: f.delay()}
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	switch f.Kind {
	case ShortData:
		keep := len(body) / 2
		if h, err := strconv.Atoi(resp.Header.Get(headerLength)); err == nil && h <= len(body) {
			keep = h + (len(body)-h)/2
		}
		body = body[:keep]
		resp.ContentLength = int64(keep)
		resp.Header.Set("Content-Length", strconv.Itoa(keep))
		resp.Body = io.NopCloser(bytes.NewReader(body))
	case Truncate:
		// The declared Content-Length stays; the body ends in an error, on
		// which the reverse proxy aborts the connection.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:len(body)/2]), errReader{io.ErrUnexpectedEOF}))
	}
	return nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// dripReader hands out one byte per Read, delay apart.
type dripReader struct {
	body  io.ReadCloser
	ctx   context.Context
	delay time.Duration
	timer *time.Timer
}

func (d *dripReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if d.timer == nil {
		d.timer = time.NewTimer(d.delay)
	} else {
		d.timer.Reset(d.delay)
	}
	select {
	case <-d.timer.C:
	case <-d.ctx.Done():
		d.timer.Stop()
		return 0, d.ctx.Err()
	}
	return d.body.Read(b[:1])
}

func (d *dripReader) Close() error {
	if d.timer != nil {
		d.timer.Stop()
	}
	return d.body.Close()
}
