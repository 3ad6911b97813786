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
// to the step's model run the way the server runs any request, so that the
// step model records its own statistics (and uses its response cache) as
// Triton's composing models do: a client sees per-step queue and compute,
// and each step's counts equal the ensemble's.
type ensembleBackend struct {
	steps []ensembleStep
	// infer is the server core's infer, set by New once the core exists.
	infer func(ctx context.Context, r *request, res *response) error
}

// ensembleModel is "ensemble": FP32 INPUT0 [-1] through identity (a
// preprocessing step that costs next to nothing) and then delay, whose
// OUTPUT0 is the ensemble's. It batches up to the smaller of the two
// steps' maximum. The caller sets the backend's infer.
func ensembleModel(identity, delay *model) (*model, *ensembleBackend) {
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
	b := &ensembleBackend{steps: steps}
	m := newModel(spec, b, nil)
	m.config.Platform, m.config.Backend = "ensemble", ""
	m.metadata.Platform = "ensemble"
	sched := &inferencepb.ModelEnsembling{}
	for _, s := range steps {
		sched.Step = append(sched.Step, &inferencepb.ModelEnsembling_Step{
			ModelName: s.model.name, ModelVersion: -1, InputMap: s.inputMap, OutputMap: s.outputMap,
		})
	}
	m.config.SchedulingChoice = &inferencepb.ModelConfig_EnsembleScheduling{EnsembleScheduling: sched}
	return m, b
}

// execute runs the steps. The ensemble's own queue and compute times are
// the sums of its steps'; it counts one execution per request.
func (b *ensembleBackend) execute(ctx context.Context, m *model, r *request, pt *phaseTimes, res *response) error {
	tensors := make(map[string]tensor, len(r.inputs)+len(b.steps))
	for _, in := range r.inputs {
		tensors[in.name] = in
	}
	for _, s := range b.steps {
		if err := s.run(ctx, b.infer, r, tensors, pt); err != nil {
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

// run sends the step's model, through infer, a request made of the
// ensemble tensors its input map names, and adds its outputs to tensors.
func (s ensembleStep) run(ctx context.Context, infer func(context.Context, *request, *response) error, parent *request, tensors map[string]tensor, total *phaseTimes) error {
	sub := &request{modelName: s.model.name, version: modelVersion, id: parent.id, received: time.Now()}
	for name, from := range s.inputMap {
		t := tensors[from]
		t.name = name
		sub.inputs = append(sub.inputs, t)
	}
	var res response
	if err := infer(ctx, sub, &res); err != nil {
		return err
	}
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
