package server

import (
	"context"
	"time"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// ensembleStep is one step of an ensemble: a served model and the tensor
// names it reads and writes, in Triton's terms (input_map: the step
// model's input -> an ensemble tensor; output_map: the step model's
// output -> an ensemble tensor).
type ensembleStep struct {
	model     *model
	inputMap  map[string]string
	outputMap map[string]string
}

// ensembleBackend runs its steps one after the other, each as a request
// to the step's model, which records its own statistics as Triton's
// composing models do: a client sees per-step queue and compute, and each
// step's counts equal the ensemble's.
type ensembleBackend struct {
	steps []ensembleStep
}

// ensembleModel is "ensemble": FP32 INPUT0 [-1] through identity (a
// preprocessing step that costs next to nothing) and then delay, whose
// OUTPUT0 is the ensemble's. It batches up to the smaller of the two
// steps' maximum.
func ensembleModel(identity, delay *model) *model {
	steps := []ensembleStep{
		{model: identity, inputMap: map[string]string{"INPUT0": "INPUT0"}, outputMap: map[string]string{"OUTPUT0": "preprocessed"}},
		{model: delay, inputMap: map[string]string{"INPUT0": "preprocessed"}, outputMap: map[string]string{"OUTPUT0": "OUTPUT0"}},
	}
	spec := modelSpec{
		name:     "ensemble",
		maxBatch: min(identity.maxBatch, delay.maxBatch),
		inputs:   []tensorSpec{{name: "INPUT0", dt: datatype.FP32, dims: []int64{-1}}},
		outputs:  []tensorSpec{{name: "OUTPUT0", dt: datatype.FP32, dims: []int64{-1}}},
	}
	m := newModel(spec, &ensembleBackend{steps: steps}, nil)
	m.config.Platform, m.config.Backend = "ensemble", ""
	m.metadata.Platform = "ensemble"
	sched := &inferencepb.ModelEnsembling{}
	for _, s := range steps {
		sched.Step = append(sched.Step, &inferencepb.ModelEnsembling_Step{
			ModelName: s.model.name, ModelVersion: -1, InputMap: s.inputMap, OutputMap: s.outputMap,
		})
	}
	m.config.SchedulingChoice = &inferencepb.ModelConfig_EnsembleScheduling{EnsembleScheduling: sched}
	return m
}

// execute runs the steps. The ensemble's own queue and compute times are
// the sums of its steps'; it counts one execution per request.
func (b *ensembleBackend) execute(ctx context.Context, m *model, r *request, pt *phaseTimes, res *response) error {
	tensors := make(map[string]tensor, len(r.inputs)+len(b.steps))
	for _, in := range r.inputs {
		tensors[in.name] = in
	}
	for _, s := range b.steps {
		if err := s.run(ctx, r, tensors, pt); err != nil {
			return err
		}
	}
	res.outputs = res.buf[:0]
	for _, out := range m.outputs {
		if r.wantsOutput(out.name) {
			t := tensors[out.name]
			t.name = out.name
			res.outputs = append(res.outputs, t)
		}
	}
	m.stats.recordExecution(r.batch, pt.computeInput, pt.computeInfer, pt.computeOutput)
	return nil
}

// run sends the step's model a request made of the ensemble tensors its
// input map names, records the step in that model's statistics and adds
// its outputs to tensors.
func (s ensembleStep) run(ctx context.Context, parent *request, tensors map[string]tensor, total *phaseTimes) error {
	m := s.model
	sub := &request{modelName: m.name, version: modelVersion, id: parent.id, received: time.Now()}
	for name, from := range s.inputMap {
		t := tensors[from]
		t.name = name
		sub.inputs = append(sub.inputs, t)
	}
	m.stats.inflight.Add(1)
	defer m.stats.inflight.Add(-1)
	var res response
	err := m.validate(sub)
	if err == nil {
		err = m.backend.execute(ctx, m, sub, &sub.times, &res)
	}
	if err != nil {
		m.stats.fail.add(time.Since(sub.received))
		return err
	}
	end := time.Now()
	m.stats.recordSuccess(end.Sub(sub.received), &sub.times, end)
	total.queue += sub.times.queue
	total.computeInput += sub.times.computeInput
	total.computeInfer += sub.times.computeInfer
	total.computeOutput += sub.times.computeOutput
	for _, out := range res.outputs {
		if to, ok := s.outputMap[out.name]; ok {
			tensors[to] = out
		}
	}
	return nil
}
