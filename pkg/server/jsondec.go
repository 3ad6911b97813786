package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// jsonInferRequest is the HTTP/REST inference request header. Parameters
// are structs of the names perfgo serve acts on rather than maps: decoding
// into a map costs allocations per request, and unknown parameters are
// ignored anyway (Triton passes them to the backend).
type jsonInferRequest struct {
	ID         string            `json:"id"`
	Parameters jsonRequestParams `json:"parameters"`
	Inputs     []jsonInput       `json:"inputs"`
	Outputs    []jsonOutput      `json:"outputs"`
}

type jsonRequestParams struct {
	SequenceID       json.RawMessage `json:"sequence_id"`
	SequenceStart    jsonBool        `json:"sequence_start"`
	SequenceEnd      jsonBool        `json:"sequence_end"`
	BinaryDataOutput jsonBool        `json:"binary_data_output"`
	EmptyFinal       jsonBool        `json:"triton_enable_empty_final_response"`
}

type jsonInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters jsonInputParams `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

type jsonInputParams struct {
	BinaryDataSize jsonUint `json:"binary_data_size"`
	jsonSHMParams
}

type jsonOutput struct {
	Name       string           `json:"name"`
	Parameters jsonOutputParams `json:"parameters"`
}

type jsonOutputParams struct {
	BinaryData     jsonBool        `json:"binary_data"`
	Classification json.RawMessage `json:"classification"`
	jsonSHMParams
}

// jsonBool is a bool parameter that remembers whether it was given. A value
// of another type is kept (bad) rather than failing the whole decode, so the
// error can name the parameter.
type jsonBool struct {
	set, v bool
	bad    string
}

func (b *jsonBool) UnmarshalJSON(raw []byte) error {
	switch string(raw) {
	case "true":
		*b = jsonBool{set: true, v: true}
	case "false":
		*b = jsonBool{set: true}
	case "null":
	default:
		*b = jsonBool{bad: clip(raw)}
	}
	return nil
}

func (b jsonBool) check(name string) error {
	if b.bad != "" {
		return errorf(kindInvalid, "parameter %s is %s; it must be true or false", name, b.bad)
	}
	return nil
}

// jsonUint is a non-negative integer parameter, kept like jsonBool.
type jsonUint struct {
	set bool
	v   uint64
	bad string
}

func (u *jsonUint) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		return nil
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		*u = jsonUint{bad: clip(raw)}
		return nil
	}
	*u = jsonUint{set: true, v: v}
	return nil
}

func (u jsonUint) check(name string) error {
	if u.bad != "" {
		return errorf(kindInvalid, "parameter %s is %s; it must be a non-negative integer", name, u.bad)
	}
	return nil
}

// splitBinary splits an HTTP request body by the value of the
// Inference-Header-Content-Length header ("" when absent): the JSON header
// first, then the binary tensor data.
func splitBinary(body []byte, headerLen string) (hdr, bin []byte, err error) {
	if headerLen == "" {
		return body, nil, nil
	}
	n, perr := strconv.ParseUint(strings.TrimSpace(headerLen), 10, 63)
	if perr != nil {
		return nil, nil, errorf(kindInvalid, "Inference-Header-Content-Length %q is not a byte count; send the JSON header's length in bytes", headerLen)
	}
	if n > uint64(len(body)) {
		return nil, nil, errorf(kindInvalid, "Inference-Header-Content-Length is %d but the body has only %d bytes; the body is truncated or the header is wrong", n, len(body))
	}
	return body[:n], body[n:], nil
}

// decodeJSONRequest decodes the JSON header of an HTTP inference request into
// r. bin is the binary tensor data that followed the header (may be empty);
// tensors taken from it alias it.
func decodeJSONRequest(hdr, bin []byte, r *request) error {
	var jr jsonInferRequest
	if err := json.Unmarshal(hdr, &jr); err != nil {
		return errorf(kindInvalid, "malformed JSON inference request: %v; expected {\"inputs\":[{\"name\",\"shape\",\"datatype\",\"data\"}]}", err)
	}
	r.id = jr.ID
	if err := decodeRequestParams(&jr.Parameters, r); err != nil {
		return err
	}
	if len(jr.Inputs) == 0 {
		return errorf(kindInvalid, "the request has no inputs; give \"inputs\":[{\"name\",\"shape\",\"datatype\",\"data\"}]")
	}
	r.inputs = resizeTensors(r.inputs, len(jr.Inputs))
	off := 0
	for i := range jr.Inputs {
		in := &jr.Inputs[i]
		t := &r.inputs[i]
		if in.Name == "" {
			return errorf(kindInvalid, "input %d has no name", i)
		}
		t.name = in.Name
		dt, err := datatype.Parse(in.Datatype)
		if err != nil {
			return errorf(kindInvalid, "input %q: %v", in.Name, err)
		}
		t.dt = dt
		if in.Shape == nil {
			return errorf(kindInvalid, "input %q has no shape; give \"shape\":[...]", in.Name)
		}
		t.shape = in.Shape
		if t.shm, err = in.Parameters.ref("input", in.Name); err != nil {
			return err
		}
		if t.shm != nil {
			if isJSONValue(in.Data) || in.Parameters.BinaryDataSize.set {
				return errorf(kindInvalid, "input %q names a shared memory region and also has data; give one or the other", in.Name)
			}
			r.shmInputs = true
			continue
		}
		if err := in.Parameters.BinaryDataSize.check("binary_data_size"); err != nil {
			return errorf(kindInvalid, "input %q: %v", in.Name, err)
		}
		if size := in.Parameters.BinaryDataSize; size.set {
			if isJSONValue(in.Data) {
				return errorf(kindInvalid, "input %q has both \"data\" and parameters.binary_data_size; give one", in.Name)
			}
			if size.v > uint64(len(bin)-off) {
				return errorf(kindInvalid, "input %q has binary_data_size %d but only %d bytes of binary data remain; the body is truncated or a size is wrong", in.Name, size.v, len(bin)-off)
			}
			end := off + int(size.v)
			t.data = bin[off:end:end]
			off = end
			r.binaryInputs++
			continue
		}
		n, err := elementCount(t.shape)
		if err != nil {
			return errorf(kindInvalid, "input %q: %v", in.Name, err)
		}
		if !isJSONValue(in.Data) {
			return errorf(kindInvalid, "input %q has no data; give \"data\":[...] or parameters.binary_data_size", in.Name)
		}
		t.data, _, err = datatype.DecodeJSONLenient(dt, in.Data, n)
		if err != nil {
			return errorf(kindInvalid, "input %q: %v", in.Name, err)
		}
	}
	if off != len(bin) {
		return errorf(kindInvalid, "the body has %d bytes of binary data but the inputs' binary_data_size add up to %d; they must match", len(bin), off)
	}
	if len(jr.Outputs) > 0 {
		r.outputs = make([]outputRequest, len(jr.Outputs))
		for i := range jr.Outputs {
			o := &jr.Outputs[i]
			if o.Name == "" {
				return errorf(kindInvalid, "output %d has no name", i)
			}
			r.outputs[i] = outputRequest{name: o.Name, binary: -1}
			if err := o.Parameters.BinaryData.check("binary_data"); err != nil {
				return errorf(kindInvalid, "output %q: %v", o.Name, err)
			}
			ref, err := o.Parameters.ref("output", o.Name)
			if err != nil {
				return err
			}
			r.outputs[i].shm = ref
			r.shmOutputs = r.shmOutputs || ref != nil
			switch p := &o.Parameters; {
			case p.Classification != nil:
				return errorf(kindUnsupported, "output %q asks for classification, which perfgo serve does not implement; request the raw output", o.Name)
			case p.BinaryData.set && p.BinaryData.v:
				r.outputs[i].binary = 1
			case p.BinaryData.set:
				r.outputs[i].binary = 0
			}
		}
	}
	return nil
}

// decodeRequestParams reads the request-level parameters perfgo serve
// understands.
func decodeRequestParams(p *jsonRequestParams, r *request) error {
	if v := bytes.TrimSpace(p.SequenceID); len(v) > 0 && string(v) != "null" {
		if v[0] == '"' {
			if err := json.Unmarshal(v, &r.seqID.str); err != nil || r.seqID.str == "" {
				return errorf(kindInvalid, "parameter sequence_id is %s; use a non-empty string or a positive integer", clip(v))
			}
		} else {
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return errorf(kindInvalid, "parameter sequence_id is %s; it must be a non-negative integer or a string", clip(v))
			}
			r.seqID.num = n
		}
	}
	for _, b := range []struct {
		name string
		v    jsonBool
	}{{"sequence_start", p.SequenceStart}, {"sequence_end", p.SequenceEnd}, {"binary_data_output", p.BinaryDataOutput}, {"triton_enable_empty_final_response", p.EmptyFinal}} {
		if err := b.v.check(b.name); err != nil {
			return err
		}
	}
	r.seqStart, r.seqEnd = p.SequenceStart.v, p.SequenceEnd.v
	r.binaryOutputs, r.enableEmptyFinal = p.BinaryDataOutput.v, p.EmptyFinal.v
	return nil
}

// clip shortens raw JSON for an error message.
func clip(v []byte) string {
	if len(v) > 40 {
		return string(v[:40]) + "..."
	}
	return string(v)
}

// isJSONValue reports whether raw holds a value other than null.
func isJSONValue(raw json.RawMessage) bool {
	v := bytes.TrimSpace(raw)
	return len(v) > 0 && string(v) != "null"
}
