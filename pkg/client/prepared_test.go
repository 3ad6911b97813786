package client

import (
	"encoding/binary"
	"runtime"
	"sync"
	"testing"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// checkSimple checks a response of the simple model to simpleRequest.
func checkSimple(t testing.TB, r *InferResponse) {
	t.Helper()
	if len(r.Outputs) != 2 {
		t.Fatalf("%d outputs, want 2", len(r.Outputs))
	}
	for _, o := range r.Outputs {
		for j := range 16 {
			v := int32(binary.LittleEndian.Uint32(o.Data[4*j:]))
			want := int32(j) + 1
			if o.Name == "OUTPUT1" {
				want = int32(j) - 1
			}
			if v != want {
				t.Fatalf("%s[%d] = %d, want %d", o.Name, j, v, want)
			}
		}
	}
}

func simplePrepared(t testing.TB, c Client) Prepared {
	t.Helper()
	req := simpleRequest()
	req.Parameters = nil
	p, err := c.Prepare(req)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return p
}

// Two Calls of one Prepared, used at the same time, each get their answers.
func TestPreparedConcurrentCalls(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			ctx := testCtx(t)
			p := simplePrepared(t, newClient(t, tr.opts(s)))
			var wg sync.WaitGroup
			for range 2 {
				call, err := p.NewCall()
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					for i := range 20 {
						if _, err := call.Do(ctx); err != nil {
							t.Errorf("Do %d: %v", i, err)
							return
						}
					}
					r, err := call.Response()
					if err != nil {
						t.Errorf("Response: %v", err)
						return
					}
					checkSimple(t, r)
				})
			}
			wg.Wait()
		})
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// The Calls of one Prepared share its encoding: 50 Calls of a 10 MB
// request cost far less than 50 copies of it.
func TestPreparedSharesEncoding(t *testing.T) {
	s := servertest.Start(t)
	const size, calls = 10 << 20, 50
	for _, tr := range transports() {
		opts := tr.opts(s)
		if opts.InputTensorFormat == FormatJSON {
			continue // 10 MB of JSON numbers: slow, and the same sharing
		}
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, opts)
			req := &InferRequest{Model: "identity", Inputs: []Tensor{{Name: "INPUT0", Datatype: TypeFP32, Shape: []int64{1, size / 4}, Data: make([]byte, size)}}}
			p, err := c.Prepare(req)
			if err != nil {
				t.Fatal(err)
			}
			before := heapInUse()
			var cs []Call
			for range calls {
				call, err := p.NewCall()
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, call)
			}
			grown := int64(heapInUse()) - int64(before)
			t.Logf("%d Calls of a %d MB request: heap grew by %d KB", calls, size>>20, grown>>10)
			if grown > 50<<20 {
				t.Errorf("heap grew by %d MB for %d Calls: the encoding is copied per Call", grown>>20, calls)
			}
			if _, err := cs[0].Do(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			runtime.KeepAlive(cs)
			runtime.KeepAlive(p)
		})
	}
}
