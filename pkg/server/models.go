package server

import (
	"context"
	"encoding/binary"
	"strings"
	"time"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// inlineParams marks models that execute in the request's own goroutine:
// there is no queue and no instance limit, so the config names no
// instance_group rather than inventing one.
func inlineParams() map[string]string {
	return map[string]string{"execution": "inline: runs in the request's goroutine, no queue, no instance limit"}
}

// identityModel echoes INPUT0 as OUTPUT0 and the request parameters as
// response parameters. The model called "identity" is
// FP32; "identity_<type>" exist for every datatype so that clients can test
// each encoding. cache enables the response cache.
func identityModel(name string, dt datatype.Type, cache bool) *model {
	return newModel(modelSpec{
		name:       name,
		maxBatch:   8,
		inputs:     []tensorSpec{{name: "INPUT0", dt: dt, dims: []int64{-1}}},
		outputs:    []tensorSpec{{name: "OUTPUT0", dt: dt, dims: []int64{-1}}},
		parameters: inlineParams(),
		cache:      cache,
	}, inlineBackend{run: echo}, nil)
}

// identityModels returns "identity" and one identity model per datatype.
func identityModels(cache bool) []*model {
	out := []*model{identityModel("identity", datatype.FP32, cache)}
	for _, dt := range datatype.All() {
		out = append(out, identityModel("identity_"+strings.ToLower(dt.String()), dt, cache))
	}
	return out
}

// simpleModel is Triton's example "simple": OUTPUT0 = INPUT0+INPUT1 and
// OUTPUT1 = INPUT0-INPUT1 over INT32 [16], batching up to 8.
func simpleModel() *model {
	dims := []int64{16}
	return newModel(modelSpec{
		name:     "simple",
		maxBatch: 8,
		inputs: []tensorSpec{
			{name: "INPUT0", dt: datatype.Int32, dims: dims},
			{name: "INPUT1", dt: datatype.Int32, dims: dims},
		},
		outputs: []tensorSpec{
			{name: "OUTPUT0", dt: datatype.Int32, dims: dims},
			{name: "OUTPUT1", dt: datatype.Int32, dims: dims},
		},
		parameters: inlineParams(),
	}, inlineBackend{run: addSub}, nil)
}

// inlineBackend runs a pure function of the inputs in the caller's
// goroutine; each request is one execution.
type inlineBackend struct {
	// run computes the outputs; it returns when input preparation ended
	// (t1) and when the computation ended (t2).
	run func(m *model, r *request, res *response) (t1, t2 time.Time)
}

func (b inlineBackend) execute(_ context.Context, m *model, r *request, pt *phaseTimes, res *response) error {
	t0 := time.Now()
	t1, t2 := b.run(m, r, res)
	t3 := time.Now()
	pt.computeInput, pt.computeInfer, pt.computeOutput = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2)
	m.stats.recordExecution(r.batch, pt.computeInput, pt.computeInfer, pt.computeOutput)
	return nil
}

// echo answers output k with input k, sharing its bytes, and the request's
// parameters with the same parameters, so that a client can check what the
// server received.
func echo(m *model, r *request, res *response) (t1, t2 time.Time) {
	t1 = time.Now()
	res.echoParams = true
	res.outputs = res.buf[:0]
	for k := range m.outputs {
		out := &m.outputs[k]
		if !r.wantsOutput(out.name) {
			continue
		}
		in := r.input(m.inputs[k].name)
		res.outputs = append(res.outputs, tensor{name: out.name, dt: out.dt, shape: in.shape, data: in.data})
	}
	return t1, time.Now()
}

// addSub is the "simple" model's computation.
func addSub(_ *model, r *request, res *response) (t1, t2 time.Time) {
	a, b := r.input("INPUT0"), r.input("INPUT1")
	n := len(a.data)
	buf := make([]byte, 2*n) // both outputs in one allocation
	t1 = time.Now()
	for i := 0; i+4 <= n; i += 4 {
		x := int32(binary.LittleEndian.Uint32(a.data[i:]))
		y := int32(binary.LittleEndian.Uint32(b.data[i:]))
		binary.LittleEndian.PutUint32(buf[i:], uint32(x+y))
		binary.LittleEndian.PutUint32(buf[n+i:], uint32(x-y))
	}
	t2 = time.Now()
	res.outputs = res.buf[:0]
	if r.wantsOutput("OUTPUT0") {
		res.outputs = append(res.outputs, tensor{name: "OUTPUT0", dt: datatype.Int32, shape: a.shape, data: buf[:n:n]})
	}
	if r.wantsOutput("OUTPUT1") {
		res.outputs = append(res.outputs, tensor{name: "OUTPUT1", dt: datatype.Int32, shape: a.shape, data: buf[n:]})
	}
	return t1, t2
}

// instanceGroup is the config view of n CPU instances.
func instanceGroup(name string, n int) []*inferencepb.ModelInstanceGroup {
	return []*inferencepb.ModelInstanceGroup{{Name: name + "_0", Kind: inferencepb.ModelInstanceGroup_KIND_CPU, Count: int32(n)}}
}
