package client

import (
	"fmt"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// fromPBResponse converts a decoded gRPC response, taking tensor data from
// raw_output_contents (Triton) or from typed contents (other servers).
func fromPBResponse(pb *inferencepb.ModelInferResponse) (*InferResponse, error) {
	r := &InferResponse{
		Model:      pb.GetModelName(),
		Version:    pb.GetModelVersion(),
		ID:         pb.GetId(),
		Parameters: fromPBParams(pb.GetParameters()),
	}
	raw := pb.GetRawOutputContents()
	if len(raw) > 0 && len(raw) != len(pb.GetOutputs()) {
		return nil, fmt.Errorf("response has %d outputs but %d raw_output_contents", len(pb.GetOutputs()), len(raw))
	}
	for i, o := range pb.GetOutputs() {
		t := Tensor{Name: o.GetName(), Datatype: o.GetDatatype(), Shape: o.GetShape(), Parameters: fromPBParams(o.GetParameters())}
		if len(raw) > 0 {
			t.Data = raw[i]
		} else if o.GetContents() != nil {
			dt, err := datatype.Parse(o.GetDatatype())
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", o.GetName(), err)
			}
			if t.Data, err = datatype.ContentsToRaw(dt, o.GetContents(), -1); err != nil {
				return nil, fmt.Errorf("output %q: %w", o.GetName(), err)
			}
		}
		r.Outputs = append(r.Outputs, t)
	}
	return r, nil
}
