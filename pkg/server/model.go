package server

import (
	"context"
	"strings"
	"time"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// modelVersion is the only version every model has.
const modelVersion = "1"

// platform is what model metadata and config report as the platform and
// backend, in the place where Triton names e.g. "onnxruntime".
const platform = "perfgo"

// tensorSpec describes one model input or output. dims exclude the batch
// dimension; -1 is a variable dimension.
type tensorSpec struct {
	name     string
	dt       datatype.Type
	dims     []int64
	optional bool
}

// phaseTimes are the per-request parts of server time a backend measured.
type phaseTimes struct {
	queue, computeInput, computeInfer, computeOutput time.Duration
}

// backend executes requests for one model. execute fills res with exactly
// one response; a backend also records its executions into m.stats.
type backend interface {
	execute(ctx context.Context, m *model, r *request, pt *phaseTimes, res *response) error
}

// streamBackend is a decoupled backend: zero or more responses per request.
type streamBackend interface {
	stream(ctx context.Context, m *model, r *request, pt *phaseTimes, emit func(*response) error) error
}

// model is one served model: its description (fixed at construction), its
// statistics and the backend that runs it.
type model struct {
	name      string
	maxBatch  int
	inputs    []tensorSpec
	outputs   []tensorSpec
	decoupled bool
	sequence  bool

	config   *inferencepb.ModelConfig
	metadata *inferencepb.ModelMetadataResponse
	stats    *modelStats
	// cache is the response cache; nil when the model has none.
	cache *responseCache

	backend backend       // nil for decoupled models
	streams streamBackend // nil unless decoupled
}

// modelSpec is what a model constructor declares; newModel derives the
// protocol views (config, metadata) from it so they never disagree.
type modelSpec struct {
	name            string
	maxBatch        int
	inputs, outputs []tensorSpec
	decoupled       bool
	sequence        *inferencepb.ModelSequenceBatching
	dynamic         *inferencepb.ModelDynamicBatching
	instances       []*inferencepb.ModelInstanceGroup
	parameters      map[string]string
	cache           bool
}

func newModel(s modelSpec, b backend, sb streamBackend) *model {
	m := &model{
		name:      s.name,
		maxBatch:  s.maxBatch,
		inputs:    s.inputs,
		outputs:   s.outputs,
		decoupled: s.decoupled,
		sequence:  s.sequence != nil,
		backend:   b,
		streams:   sb,
		stats:     newModelStats(s.maxBatch),
	}
	cfg := &inferencepb.ModelConfig{
		Name:          s.name,
		Platform:      platform,
		Backend:       platform,
		VersionPolicy: &inferencepb.ModelVersionPolicy{PolicyChoice: &inferencepb.ModelVersionPolicy_Latest_{Latest: &inferencepb.ModelVersionPolicy_Latest{NumVersions: 1}}},
		MaxBatchSize:  int32(s.maxBatch),
		InstanceGroup: s.instances,
		ModelTransactionPolicy: &inferencepb.ModelTransactionPolicy{
			Decoupled: s.decoupled,
		},
	}
	if s.cache {
		m.cache = newResponseCache(defaultCacheBytes)
		cfg.ResponseCache = &inferencepb.ModelResponseCache{Enable: true}
	}
	switch {
	case s.sequence != nil:
		cfg.SchedulingChoice = &inferencepb.ModelConfig_SequenceBatching{SequenceBatching: s.sequence}
	case s.dynamic != nil:
		cfg.SchedulingChoice = &inferencepb.ModelConfig_DynamicBatching{DynamicBatching: s.dynamic}
	}
	if len(s.parameters) > 0 {
		cfg.Parameters = make(map[string]*inferencepb.ModelParameter, len(s.parameters))
		for k, v := range s.parameters {
			cfg.Parameters[k] = &inferencepb.ModelParameter{StringValue: v}
		}
	}
	md := &inferencepb.ModelMetadataResponse{Name: s.name, Versions: []string{modelVersion}, Platform: platform}
	for _, in := range s.inputs {
		cfg.Input = append(cfg.Input, &inferencepb.ModelInput{Name: in.name, DataType: in.dt.ConfigType(), Dims: in.dims, Optional: in.optional})
		md.Inputs = append(md.Inputs, &inferencepb.ModelMetadataResponse_TensorMetadata{Name: in.name, Datatype: in.dt.String(), Shape: m.fullShape(in.dims)})
	}
	for _, out := range s.outputs {
		cfg.Output = append(cfg.Output, &inferencepb.ModelOutput{Name: out.name, DataType: out.dt.ConfigType(), Dims: out.dims})
		md.Outputs = append(md.Outputs, &inferencepb.ModelMetadataResponse_TensorMetadata{Name: out.name, Datatype: out.dt.String(), Shape: m.fullShape(out.dims)})
	}
	m.config, m.metadata = cfg, md
	return m
}

// fullShape is dims with the batch dimension (-1) in front when the model batches.
func (m *model) fullShape(dims []int64) []int64 {
	if m.maxBatch == 0 {
		return dims
	}
	return append([]int64{-1}, dims...)
}

func (m *model) inputSpec(name string) *tensorSpec {
	for i := range m.inputs {
		if m.inputs[i].name == name {
			return &m.inputs[i]
		}
	}
	return nil
}

func (m *model) outputSpec(name string) *tensorSpec {
	for i := range m.outputs {
		if m.outputs[i].name == name {
			return &m.outputs[i]
		}
	}
	return nil
}

func specNames(specs []tensorSpec) string {
	var b strings.Builder
	for i, s := range specs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.name)
	}
	return b.String()
}

// validate checks r against the model's metadata and sets r.batch. Every
// message names the offending tensor and what the model expects.
func (m *model) validate(r *request) error {
	r.batch = 1
	batchSet := false
	for i := range r.inputs {
		in := &r.inputs[i]
		spec := m.inputSpec(in.name)
		if spec == nil {
			return errorf(kindInvalid, "model %q has no input %q; its inputs are: %s", m.name, in.name, specNames(m.inputs))
		}
		for j := range i {
			if r.inputs[j].name == in.name {
				return errorf(kindInvalid, "input %q appears more than once; send each input once", in.name)
			}
		}
		if in.dt != spec.dt {
			return errorf(kindInvalid, "input %q has datatype %s but model %q expects %s", in.name, in.dt, m.name, spec.dt)
		}
		dims := in.shape
		if m.maxBatch > 0 {
			if len(in.shape) != len(spec.dims)+1 {
				return errorf(kindInvalid, "input %q has shape %v but model %q expects %v (batch dimension first)", in.name, in.shape, m.name, m.fullShape(spec.dims))
			}
			b := in.shape[0]
			if b < 1 || b > int64(m.maxBatch) {
				return errorf(kindInvalid, "input %q has batch size %d but model %q accepts 1 to %d", in.name, b, m.name, m.maxBatch)
			}
			if batchSet && int64(r.batch) != b {
				return errorf(kindInvalid, "input %q has batch size %d but other inputs have %d; all inputs must share the batch size", in.name, b, r.batch)
			}
			r.batch, batchSet = int(b), true
			dims = in.shape[1:]
		}
		if len(dims) != len(spec.dims) {
			return errorf(kindInvalid, "input %q has shape %v but model %q expects %v", in.name, in.shape, m.name, m.fullShape(spec.dims))
		}
		for k, d := range dims {
			if d < 0 || (spec.dims[k] >= 0 && d != spec.dims[k]) {
				return errorf(kindInvalid, "input %q has shape %v but model %q expects %v (-1 means any size)", in.name, in.shape, m.name, m.fullShape(spec.dims))
			}
		}
		if err := datatype.CheckData(in.dt, in.shape, in.data); err != nil {
			return errorf(kindInvalid, "input %q: %v", in.name, err)
		}
	}
	for i := range m.inputs {
		if !m.inputs[i].optional && r.input(m.inputs[i].name) == nil {
			return errorf(kindInvalid, "model %q needs input %q, which the request does not have", m.name, m.inputs[i].name)
		}
	}
	for i := range r.outputs {
		if m.outputSpec(r.outputs[i].name) == nil {
			return errorf(kindInvalid, "model %q has no output %q; its outputs are: %s", m.name, r.outputs[i].name, specNames(m.outputs))
		}
	}
	if m.sequence && r.seqID.isZero() {
		return errorf(kindInvalid, "model %q is stateful: set the request parameter sequence_id (a non-zero integer or a string)", m.name)
	}
	return nil
}
