package client

import (
	"encoding/binary"
	"fmt"
	"math"

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
			d, err := contentsToRaw(o.GetDatatype(), o.GetContents())
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", o.GetName(), err)
			}
			t.Data = d
		}
		r.Outputs = append(r.Outputs, t)
	}
	return r, nil
}

// contentsToRaw serializes typed InferTensorContents as raw little-endian bytes.
func contentsToRaw(datatype string, c *inferencepb.InferTensorContents) ([]byte, error) {
	le := binary.LittleEndian
	var out []byte
	switch datatype {
	case TypeBool:
		for _, v := range c.GetBoolContents() {
			if v {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		}
	case TypeUint8, TypeUint16, TypeUint32:
		for _, v := range c.GetUintContents() {
			switch datatype {
			case TypeUint8:
				out = append(out, byte(v))
			case TypeUint16:
				out = le.AppendUint16(out, uint16(v))
			default:
				out = le.AppendUint32(out, v)
			}
		}
	case TypeUint64:
		for _, v := range c.GetUint64Contents() {
			out = le.AppendUint64(out, v)
		}
	case TypeInt8, TypeInt16, TypeInt32:
		for _, v := range c.GetIntContents() {
			switch datatype {
			case TypeInt8:
				out = append(out, byte(int8(v)))
			case TypeInt16:
				out = le.AppendUint16(out, uint16(int16(v)))
			default:
				out = le.AppendUint32(out, uint32(v))
			}
		}
	case TypeInt64:
		for _, v := range c.GetInt64Contents() {
			out = le.AppendUint64(out, uint64(v))
		}
	case TypeFP32:
		for _, v := range c.GetFp32Contents() {
			out = le.AppendUint32(out, math.Float32bits(v))
		}
	case TypeFP64:
		for _, v := range c.GetFp64Contents() {
			out = le.AppendUint64(out, math.Float64bits(v))
		}
	case TypeBytes:
		for _, v := range c.GetBytesContents() {
			out = AppendBytesElement(out, v)
		}
	default:
		return nil, fmt.Errorf("datatype %s has no typed contents field", datatype)
	}
	return out, nil
}
