package client

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"google.golang.org/protobuf/proto"
)

// checkedRequest is an InferRequest that passed validation, with its
// parameters in canonical form. Both transports encode from it.
type checkedRequest struct {
	*InferRequest
	params      map[string]any
	inputParams []map[string]any
	// outputParams are OutputParams in canonical form, by index in
	// Outputs (nil for an output without parameters).
	outputParams []map[string]any
}

// checkRequest validates req before it is encoded.
func checkRequest(req *InferRequest) (*checkedRequest, error) {
	if req == nil {
		return nil, errors.New("nil request")
	}
	if req.Model == "" {
		return nil, errors.New("request has no model name")
	}
	c := &checkedRequest{InferRequest: req}
	var err error
	if c.params, err = normParams(req.Parameters); err != nil {
		return nil, fmt.Errorf("request parameters: %w", err)
	}
	seen := make(map[string]bool, len(req.Inputs))
	for i := range req.Inputs {
		t := &req.Inputs[i]
		if seen[t.Name] {
			return nil, fmt.Errorf("input %q appears twice", t.Name)
		}
		seen[t.Name] = true
		p, err := normParams(t.Parameters)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", t.Name, err)
		}
		if err := checkInput(t, p); err != nil { // CheckTensor unless in shared memory
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		c.inputParams = append(c.inputParams, p)
	}
	clear(seen)
	for _, o := range req.Outputs {
		if o == "" {
			return nil, errors.New("requested output has an empty name")
		}
		if seen[o] {
			return nil, fmt.Errorf("output %q requested twice", o)
		}
		seen[o] = true
	}
	if err := c.checkOutputParams(seen); err != nil {
		return nil, err
	}
	if err := checkExpected(req); err != nil {
		return nil, err
	}
	return c, nil
}

// toPB builds the protobuf request with tensor data in raw_input_contents;
// extra parameters are added to the request-level ones.
func (c *checkedRequest) toPB(extra map[string]any) *inferencepb.ModelInferRequest {
	params := c.params
	if len(extra) > 0 {
		params = make(map[string]any, len(c.params)+len(extra))
		for k, v := range c.params {
			params[k] = v
		}
		for k, v := range extra {
			if _, ok := params[k]; !ok {
				params[k] = v
			}
		}
	}
	pb := &inferencepb.ModelInferRequest{
		ModelName:    c.Model,
		ModelVersion: c.Version,
		Id:           c.ID,
		Parameters:   toPBParams(params),
	}
	for i, t := range c.Inputs {
		pb.Inputs = append(pb.Inputs, &inferencepb.ModelInferRequest_InferInputTensor{
			Name:       t.Name,
			Datatype:   t.Datatype,
			Shape:      t.Shape,
			Parameters: toPBParams(c.inputParams[i]),
		})
		if inSharedMemory(c.inputParams[i]) {
			continue // no raw entry: Triton indexes raw_input_contents by the other inputs
		}
		data := t.Data
		if data == nil {
			data = []byte{} // keep one raw entry per input
		}
		pb.RawInputContents = append(pb.RawInputContents, data)
	}
	for i, o := range c.Outputs {
		pb.Outputs = append(pb.Outputs, &inferencepb.ModelInferRequest_InferRequestedOutputTensor{Name: o, Parameters: toPBParams(c.outputParam(i))})
	}
	return pb
}

// marshalPB encodes the request once, deterministically.
func (c *checkedRequest) marshalPB(extra map[string]any) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c.toPB(extra))
	if err != nil {
		return nil, fmt.Errorf("encode request for model %q: %w", c.Model, err)
	}
	return b, nil
}

// checkOutputParams checks OutputParams against the requested outputs
// (requested marks their names) and puts them in canonical form. An
// output in shared memory is checked as an input there is, and cannot be
// compared with an expected output: it comes with no data.
func (c *checkedRequest) checkOutputParams(requested map[string]bool) error {
	if len(c.OutputParams) == 0 {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(c.OutputParams)) {
		if !requested[name] {
			return fmt.Errorf("output parameters for %q, which is not among the requested outputs %q", name, c.Outputs)
		}
	}
	c.outputParams = make([]map[string]any, len(c.Outputs))
	for i, name := range c.Outputs {
		p, err := normParams(c.OutputParams[name])
		if err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
		if inSharedMemory(p) {
			if err := checkSHMParams(p); err != nil {
				return fmt.Errorf("output %q: %w", name, err)
			}
			for _, e := range c.Expected {
				if e.Name == name {
					return fmt.Errorf("output %q is placed in shared memory and also expected: the response carries no data to compare", name)
				}
			}
		}
		c.outputParams[i] = p
	}
	return nil
}

// outputParam returns the canonical parameters of requested output i.
func (c *checkedRequest) outputParam(i int) map[string]any {
	if c.outputParams == nil {
		return nil
	}
	return c.outputParams[i]
}
