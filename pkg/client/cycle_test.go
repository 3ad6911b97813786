package client

import (
	"encoding/binary"
	"strings"
	"sync"
	"testing"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// stepRequest is the simple model's request whose INPUT1 is all k, so that
// OUTPUT0[0] = k tells which request was answered.
func stepRequest(k int32) *InferRequest {
	return &InferRequest{Model: "simple", Inputs: []Tensor{
		{Name: "INPUT0", Datatype: TypeInt32, Shape: []int64{1, 16}, Data: seq32(16, func(i int) int32 { return int32(i) })},
		{Name: "INPUT1", Datatype: TypeInt32, Shape: []int64{1, 16}, Data: seq32(16, func(int) int32 { return k })},
	}}
}

// answered returns k of the stepRequest the latest response answers.
func answered(t *testing.T, call Call) int32 {
	t.Helper()
	r, err := call.Response()
	if err != nil {
		t.Fatalf("Response: %v", err)
	}
	for _, o := range r.Outputs {
		if o.Name == "OUTPUT0" {
			return int32(binary.LittleEndian.Uint32(o.Data))
		}
	}
	t.Fatalf("no OUTPUT0 in %+v", r)
	return 0
}

func prepareSteps(t testing.TB, c Client, n int) []Prepared {
	t.Helper()
	var ps []Prepared
	for k := range n {
		p, err := c.Prepare(stepRequest(int32(100 + k)))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestCycle(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			ctx := testCtx(t)
			ps := prepareSteps(t, newClient(t, tr.opts(s)), 3)
			call, err := Cycle(ps, 4) // starts at 4 % 3 = 1
			if err != nil {
				t.Fatal(err)
			}
			if call.(*cycleCall).one == nil {
				t.Error("requests of one client: want one switched Call")
			}
			for i, want := range []int32{101, 102, 100, 101, 102, 100, 101} {
				if _, err := call.Do(ctx); err != nil {
					t.Fatalf("Do %d: %v", i, err)
				}
				if got := answered(t, call); got != want {
					t.Fatalf("Do %d answered request %d, want %d", i, got, want)
				}
			}
		})
	}
}

// Seek moves the cycle: the next Do sends the request sought, then on.
func TestCycleSeek(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			ctx := testCtx(t)
			call, err := Cycle(prepareSteps(t, newClient(t, tr.opts(s)), 3), 0)
			if err != nil {
				t.Fatal(err)
			}
			sk := call.(interface{ Seek(int) })
			for i, step := range []struct{ seek, want int32 }{{2, 102}, {-1, 100}, {0, 100}, {7, 101}, {-1, 102}} {
				if step.seek >= 0 {
					sk.Seek(int(step.seek))
				}
				if _, err := call.Do(ctx); err != nil {
					t.Fatalf("Do %d: %v", i, err)
				}
				if got := answered(t, call); got != step.want {
					t.Fatalf("Do %d answered request %d, want %d", i, got, step.want)
				}
			}
		})
	}
}

// Workers cycle through the same Prepared at the same time.
func TestCycleConcurrent(t *testing.T) {
	s := servertest.Start(t)
	for _, tr := range transports()[:2] { // gRPC and fasthttp
		t.Run(tr.name, func(t *testing.T) {
			ctx := testCtx(t)
			ps := prepareSteps(t, newClient(t, tr.opts(s)), 3)
			var wg sync.WaitGroup
			for w := range 3 {
				call, err := Cycle(ps, w)
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					for i := range 12 {
						if _, err := call.Do(ctx); err != nil {
							t.Errorf("worker %d Do %d: %v", w, i, err)
							return
						}
						r, err := call.Response()
						if err != nil {
							t.Errorf("worker %d Response %d: %v", w, i, err)
							return
						}
						if got, want := int32(binary.LittleEndian.Uint32(outputData(r, "OUTPUT0"))), int32(100+(w+i)%3); got != want {
							t.Errorf("worker %d Do %d answered request %d, want %d", w, i, got, want)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

func TestCycleErrors(t *testing.T) {
	if _, err := Cycle(nil, 0); err == nil {
		t.Error("Cycle(nil): no error")
	}
	if _, err := Cycle([]Prepared{nil}, 0); err == nil {
		t.Error("Cycle of a nil Prepared: no error")
	}
	// One Call serves every request, so they must share a Client.
	s := servertest.Start(t)
	g := prepareSteps(t, newClient(t, Options{Protocol: GRPC, URL: s.GRPCAddr}), 2)
	h := prepareSteps(t, newClient(t, Options{Protocol: HTTP, URL: s.HTTPAddr}), 2)
	if _, err := Cycle([]Prepared{g[0], h[1]}, 0); err == nil || !strings.Contains(err.Error(), "another client") {
		t.Errorf("Cycle over two clients: %v, want an error", err)
	}
}
