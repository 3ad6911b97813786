package inputs

// User-supplied data (--input-data): perf_analyzer's JSON files and
// directories, loaded once, checked against the model, and turned into the
// requests a run sends round-robin.
//
// A JSON file is read whole and walked in place: tensor contents are
// decoded straight from the file's bytes into exactly sized tensors, so a
// load needs the file plus its tensors (about 2x the file for numbers, less
// for b64), never a generic tree of the JSON.

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// DataSet is user-supplied input data: streams of steps, used round-robin.
type DataSet struct {
	Streams [][]Step
	// dir is set when the data came from a directory, for which
	// perf_analyzer prints no summary.
	dir bool
}

// Step is one step of a stream: its inputs (concrete shapes, without the
// batch dimension for a batching model: batch-1 contents) and, when the file
// has validation_data, the outputs expected.
type Step struct {
	Inputs   []client.Tensor
	Expected []client.Tensor // nil without validation_data
}

// Request is one request to send, encoded once: inputs with the batch
// dimension for a batching model, and the outputs expected (nil when the
// data has none).
type Request struct {
	Inputs   []client.Tensor
	Expected []client.Tensor
}

// LoadData reads --input-data paths: one directory, or one or more JSON
// files. It checks every input against the model (names, datatypes, element
// counts against the shape, with --shape / per-step "shape" for variable
// dims) and refuses bad data with one line naming the file, the input and
// the fix.
//
// As in perf_analyzer, a file whose "data" is a flat array of steps adds
// its steps to stream 0, and a file whose "data" is an array of arrays adds
// one stream per inner array. A directory holds one file per input, named
// after it: one stream of one step.
func LoadData(m Model, paths []string, o Options) (*DataSet, error) {
	if m.Metadata == nil {
		return nil, errors.New("model metadata is missing")
	}
	if len(paths) == 0 {
		return nil, errors.New("--input-data: no file or directory given")
	}
	for name := range o.Shapes {
		if findTensor(m.Metadata.GetInputs(), name) == nil {
			return nil, fmt.Errorf("--shape names %q, which is not an input of model %q", name, m.Metadata.GetName())
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--input-data %s: %v; give an existing JSON file or directory", p, errors.Unwrap(err))
		}
		if fi.IsDir() {
			if len(paths) > 1 {
				return nil, fmt.Errorf("--input-data %s is a directory: a directory must be the only --input-data (JSON files can be repeated)", p)
			}
			return loadDir(m, p, o)
		}
	}
	d := &DataSet{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--input-data %s: %v", p, errors.Unwrap(err))
		}
		if err := d.addJSON(m, o, p, data); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Summary is perf_analyzer's loader line, word for word: " Successfully
// read data for 1 stream/streams with 3 step/steps." (the step count only
// with one stream). perf_analyzer prints it for JSON data only, so Summary
// is "" for a directory.
func (d *DataSet) Summary() string {
	if d.dir {
		return ""
	}
	s := fmt.Sprintf(" Successfully read data for %d stream/streams", len(d.Streams))
	if len(d.Streams) == 1 {
		s += fmt.Sprintf(" with %d step/steps", len(d.Streams[0]))
	}
	return s + "."
}

// Requests builds the requests to send, each encoded once, stream by
// stream. Without batching (or with batch 1) there is one request per step.
// For a batching model with batch b, perf_analyzer's request k of a stream
// of n steps holds steps kb, kb+1, ..., kb+b-1 (mod n) stacked along a new
// leading batch dimension, for k in 0..max(1, n/b)-1: trailing steps that do
// not fill a batch are not sent, and fewer than b steps wrap around.
func (d *DataSet) Requests(m Model, batch int) ([]Request, error) {
	if batch <= 0 {
		batch = 1
	}
	maxBatch := m.MaxBatchSize()
	if batch > 1 && maxBatch == 0 {
		return nil, fmt.Errorf("batch size %d is not allowed: model %q does not support batching (max_batch_size 0); use -b 1", batch, m.Metadata.GetName())
	}
	if maxBatch > 0 && batch > maxBatch {
		return nil, fmt.Errorf("batch size %d exceeds model %q's max_batch_size %d; use -b %d or less", batch, m.Metadata.GetName(), maxBatch, maxBatch)
	}
	var reqs []Request
	for s, steps := range d.Streams {
		n := len(steps)
		if n == 0 {
			continue
		}
		if maxBatch == 0 {
			for _, st := range steps {
				reqs = append(reqs, Request(st))
			}
			continue
		}
		for k := range max(1, n/batch) {
			group := make([]Step, batch)
			for j := range group {
				group[j] = steps[(k*batch+j)%n]
			}
			r, err := stack(group, s, k*batch%n, n)
			if err != nil {
				return nil, err
			}
			reqs = append(reqs, r)
		}
	}
	return reqs, nil
}

// stack concatenates the steps of one batch along a new leading dimension.
func stack(group []Step, stream, first, n int) (Request, error) {
	ins, err := stackTensors(group, func(s Step) []client.Tensor { return s.Inputs }, stream, first, n, true)
	if err != nil {
		return Request{}, err
	}
	outs, err := stackTensors(group, func(s Step) []client.Tensor { return s.Expected }, stream, first, n, false)
	if err != nil {
		return Request{}, err
	}
	return Request{Inputs: ins, Expected: outs}, nil
}

// stackTensors stacks each tensor of the first step with the same tensor of
// the others; steps are numbered from first, modulo n (the stream's
// length), for messages. An input must be in every step of a batch with the same shape;
// an expected output missing from one step is left out of the batch.
func stackTensors(group []Step, get func(Step) []client.Tensor, stream, first, n int, input bool) ([]client.Tensor, error) {
	head := get(group[0])
	if head == nil {
		return nil, nil
	}
	out := make([]client.Tensor, 0, len(head))
next:
	for _, t := range head {
		size := len(t.Data)
		parts := make([][]byte, len(group))
		for j, st := range group {
			i := slices.IndexFunc(get(st), func(u client.Tensor) bool { return u.Name == t.Name })
			if i < 0 {
				if !input {
					continue next
				}
				return nil, fmt.Errorf("--input-data: stream %d: optional input %q is in step %d but not in step %d, which share a batch; give it in every step or in none", stream, t.Name, first, (first+j)%n)
			}
			u := get(st)[i]
			if !slices.Equal(u.Shape, t.Shape) {
				return nil, fmt.Errorf("--input-data: stream %d: %q has shape [%s] in step %d but [%s] in step %d, which share a batch; give steps of one batch the same shape", stream, t.Name, FormatDims(t.Shape), first, FormatDims(u.Shape), (first+j)%n)
			}
			parts[j] = u.Data
			size += len(u.Data)
		}
		data := make([]byte, 0, size-len(t.Data))
		for _, p := range parts {
			data = append(data, p...)
		}
		out = append(out, client.Tensor{
			Name:     t.Name,
			Datatype: t.Datatype,
			Shape:    append([]int64{int64(len(group))}, t.Shape...),
			Data:     data,
		})
	}
	return out, nil
}

func findTensor(ts []*inferencepb.ModelMetadataResponse_TensorMetadata, name string) *inferencepb.ModelMetadataResponse_TensorMetadata {
	for _, t := range ts {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}

// tensorSpec is what decoding one tensor of a step needs.
type tensorSpec struct {
	meta *inferencepb.ModelMetadataResponse_TensorMetadata
	dt   datatype.Type
	// model is the model's batch-1 dims, which a per-step "shape" must fit.
	model []int64
	// dims is the batch-1 shape: model dims without the batch dimension,
	// with --shape applied for inputs; it may hold -1 for outputs.
	dims []int64
	// fixed is false when dims still has variable dims (an output the
	// data gives no shape for): any element count is accepted.
	fixed bool
}

// specs resolves the batch-1 shape of every model input (or output).
func specs(m Model, o Options, tensors []*inferencepb.ModelMetadataResponse_TensorMetadata, input bool) (map[string]*tensorSpec, error) {
	batching := m.MaxBatchSize() > 0
	out := make(map[string]*tensorSpec, len(tensors))
	for _, t := range tensors {
		dt, err := datatype.Parse(t.GetDatatype())
		if err != nil {
			return nil, fmt.Errorf("model %q: tensor %q has unsupported datatype %q", m.Metadata.GetName(), t.GetName(), t.GetDatatype())
		}
		dims := slices.Clone(t.GetShape())
		if batching && len(dims) > 0 {
			dims = dims[1:]
		}
		sp := &tensorSpec{meta: t, dt: dt, model: dims, dims: dims, fixed: !slices.Contains(dims, -1)}
		if input {
			if user, ok := o.Shapes[t.GetName()]; ok {
				if err := checkStepShape(dims, user); err != nil {
					return nil, fmt.Errorf("%w: --shape %s:%s %v", ErrShape, t.GetName(), FormatDims(user), err)
				}
				sp.dims, sp.fixed = slices.Clone(user), true
			}
		}
		out[t.GetName()] = sp
	}
	return out, nil
}

// checkStepShape checks a shape the user gave against the model's batch-1
// dims: same rank, and fixed dims kept.
func checkStepShape(model, user []int64) error {
	if len(user) != len(model) {
		return fmt.Errorf("has %d dims but the model's shape [%s] (without the batch dimension) has %d; give %d dims", len(user), FormatDims(model), len(model), len(model))
	}
	for i, d := range model {
		if user[i] < 0 {
			return fmt.Errorf("has negative dim %d; give dims >= 0", user[i])
		}
		if d >= 0 && d != user[i] {
			return fmt.Errorf("does not match the model's fixed shape [%s]; change dim %d to %d", FormatDims(model), i, d)
		}
	}
	return nil
}

func optionalNames(m Model) []string {
	var out []string
	for _, in := range m.Config.GetInput() {
		if in.GetOptional() {
			out = append(out, in.GetName())
		}
	}
	return out
}

// stepIndex names a step in messages: "step 3" or "stream 1 step 3".
func stepIndex(nested bool, stream, step int) string {
	if nested {
		return fmt.Sprintf("stream %d step %d", stream, step)
	}
	return fmt.Sprintf("step %d", step)
}
