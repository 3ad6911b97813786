package export

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/result"
)

func i32s(vs ...int32) []byte {
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return b
}

func strs(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

func fp32(v float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)) }

var t0 = time.Unix(1_700_000_000, 0)

func at(ns int64) time.Time { return t0.Add(time.Duration(ns)) }

// goldenRun writes a constructed run of two levels through a Writer: a
// unary request, a streamed one, one with a sequence, an FP16 output
// left out, BYTES and scalars, and a buffer that fills up.
func goldenRun(t *testing.T) ([]byte, []string) {
	t.Helper()
	ins0, skipped := Inputs([]client.Tensor{
		{Name: "INPUT0", Datatype: "INT32", Data: i32s(1, 2, 3)},
		{Name: "TEXT", Datatype: "BYTES", Data: strs("hello \"world\"")},
		{Name: "HALF", Datatype: "FP16", Data: []byte{0, 0x3c}},
	})
	if len(skipped) != 1 || skipped[0] != "FP16" {
		t.Fatalf("skipped inputs = %v, want [FP16]", skipped)
	}
	ins1, _ := Inputs([]client.Tensor{{Name: "INPUT0", Datatype: "INT32", Data: i32s(7)}})
	var out bytes.Buffer
	x := NewWriter(&out, Options{Version: "perfgo v1.2.3", Inputs: [][]byte{ins0, ins1}})

	x.Level(result.Concurrency, 2)
	b := x.Buffer()
	b.Begin(at(100), 0, 0) // a warm-up request: before the windows
	b.Response(at(150))
	b.Outputs([]client.Tensor{{Name: "OUT", Datatype: "INT32", Data: i32s(5)}})
	b.End()
	b = x.Send(b)
	x.Window(at(1000), at(2000))
	b.Begin(at(1100), 1, 42) // a stream of two responses, one output left out
	b.Response(at(1200))
	b.Outputs([]client.Tensor{{Name: "TOKEN", Datatype: "BYTES", Data: strs("a", "b")}, {Name: "H", Datatype: "FP16", Data: []byte{0, 0}}})
	b.Response(at(1300))
	b.Outputs([]client.Tensor{{Name: "TOKEN", Datatype: "BYTES", Data: strs("c")}, {Name: "P", Datatype: "FP32", Data: fp32(0.5)}})
	b.End()
	b.Begin(at(1400), 0, 0) // outputs not kept: an empty object
	b.Response(at(1500))
	b.End()
	b = x.Send(b)
	x.Window(at(2000), at(3000))

	x.Level(result.RequestRate, 100)
	for i := range BufferRecords + 1 {
		b.Begin(at(int64(4000+i)), 1, 0)
		b.Response(at(int64(5000 + i)))
		b.Outputs([]client.Tensor{{Name: "OUT", Datatype: "BOOL", Data: []byte{byte(i % 2)}}})
		b.End()
		if b.Full() {
			if i != BufferRecords-1 {
				t.Fatalf("buffer full after %d records, want %d", i+1, BufferRecords)
			}
			b = x.Send(b)
		}
	}
	x.Send(b)
	x.Window(at(4000), at(6000))
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), x.Skipped()
}

func TestWriterGolden(t *testing.T) {
	got, skipped := goldenRun(t)
	if len(skipped) != 1 || skipped[0] != "FP16" {
		t.Errorf("skipped outputs = %v, want [FP16]", skipped)
	}
	if !json.Valid(got) {
		t.Fatalf("not valid JSON:\n%s", got)
	}
	// The golden file keeps the first level whole and the second's first
	// request: 257 more alike would bury the layout.
	cut := got
	if i := bytes.Index(got, []byte(`{"timestamp":1700000000000004001`)); i > 0 {
		j := bytes.Index(got, []byte(`],"window_boundaries":[1700000000000004000`))
		cut = append(append(append([]byte{}, got[:i-1]...), "…"...), got[j:]...)
	}
	path := filepath.Join("testdata", "export.golden")
	if *update {
		if err := os.WriteFile(path, cut, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cut, want) {
		t.Errorf("export differs from %s (go test -update rewrites it)\ngot:  %s\nwant: %s", path, cut, want)
	}
	sum, err := Check(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("Check refuses the writer's own export: %v", err)
	}
	wantSum := []Experiment{
		{Mode: "concurrency", Value: 2, Requests: 3, Responses: 4, Windows: 2},
		{Mode: "request_rate", Value: 100, Requests: BufferRecords + 1, Responses: BufferRecords + 1, Windows: 1},
	}
	if len(sum.Experiments) != len(wantSum) {
		t.Fatalf("experiments = %+v, want %+v", sum.Experiments, wantSum)
	}
	for i := range wantSum {
		if sum.Experiments[i] != wantSum[i] {
			t.Errorf("experiment %d = %+v, want %+v", i+1, sum.Experiments[i], wantSum[i])
		}
	}
	if sum.Version != "perfgo v1.2.3" || sum.ServiceKind != "triton" || sum.Endpoint != "" {
		t.Errorf("trailer = %q %q %q", sum.Version, sum.ServiceKind, sum.Endpoint)
	}
}

// An export closed before any level (a run that failed to start, or was
// interrupted at once) is still a valid document.
func TestWriterEmpty(t *testing.T) {
	var out bytes.Buffer
	x := NewWriter(&out, Options{Version: "perfgo x"})
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"experiments":[],"version":"perfgo x","service_kind":"triton","endpoint":""}` + "\n"
	if out.String() != want {
		t.Errorf("got %s, want %s", out.String(), want)
	}
	if _, err := Check(strings.NewReader(out.String())); err != nil {
		t.Error(err)
	}
}

// Buffers are recycled: a worker's steady state takes its buffer back
// from the writer instead of making new ones.
func TestWriterRecyclesBuffers(t *testing.T) {
	var out bytes.Buffer
	x := NewWriter(&out, Options{})
	x.Level(result.Concurrency, 1)
	b := x.Buffer()
	seen := map[*Buffer]bool{}
	for i := range 100 * BufferRecords {
		b.Begin(at(int64(i)), 0, 0)
		b.Response(at(int64(i + 1)))
		b.End()
		if b.Full() {
			seen[b] = true
			b = x.Send(b)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(seen); n > queued+spare+2 {
		t.Errorf("%d distinct buffers for 100 sends, want at most %d: buffers are not recycled", n, queued+spare+2)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

// A write error is returned by Close, and senders never block on it.
func TestWriterError(t *testing.T) {
	x := NewWriter(failingWriter{}, Options{})
	x.Level(result.Concurrency, 1)
	b := x.Buffer()
	for i := range 10 * BufferRecords {
		b.Begin(at(int64(i)), 0, 0)
		b.Response(at(int64(i + 1)))
		b.End()
		if b.Full() {
			b = x.Send(b)
		}
	}
	if err := x.Close(); err == nil {
		t.Error("Close returned no error after failed writes")
	}
}

func TestBufferFullOnBytes(t *testing.T) {
	b := NewBuffer()
	big := make([]byte, bufferBytes/2+1)
	b.Begin(t0, 0, 0)
	b.Response(t0)
	b.Outputs([]client.Tensor{{Name: "O", Datatype: "UINT8", Data: big}})
	b.End()
	if b.Full() {
		t.Fatal("full after half the arena")
	}
	b.Begin(t0, 0, 0)
	b.Response(t0)
	b.Outputs([]client.Tensor{{Name: "O", Datatype: "UINT8", Data: big}})
	b.End()
	if !b.Full() {
		t.Error("not full past the arena's bytes: large outputs would grow memory with the record count")
	}
}
