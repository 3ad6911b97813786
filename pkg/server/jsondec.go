package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
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
	BinaryDataSize jsonUint        `json:"binary_data_size"`
	SharedMemory   json.RawMessage `json:"shared_memory_region"`
}

type jsonOutput struct {
	Name       string           `json:"name"`
	Parameters jsonOutputParams `json:"parameters"`
}

type jsonOutputParams struct {
	BinaryData     jsonBool        `json:"binary_data"`
	Classification json.RawMessage `json:"classification"`
	SharedMemory   json.RawMessage `json:"shared_memory_region"`
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
		dt, ok := parseDtype(in.Datatype)
		if !ok {
			return errorf(kindInvalid, "input %q has unknown datatype %q; use one of BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64, BYTES", in.Name, in.Datatype)
		}
		t.dt = dt
		if in.Shape == nil {
			return errorf(kindInvalid, "input %q has no shape; give \"shape\":[...]", in.Name)
		}
		t.shape = in.Shape
		if in.Parameters.SharedMemory != nil {
			return errorf(kindUnsupported, "input %q uses shared memory, which perfgo serve does not implement; send the data in the request", in.Name)
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
		t.data, err = parseJSONData(in.Data, dt, n)
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
			switch p := &o.Parameters; {
			case p.Classification != nil:
				return errorf(kindUnsupported, "output %q asks for classification, which perfgo serve does not implement; request the raw output", o.Name)
			case p.SharedMemory != nil:
				return errorf(kindUnsupported, "output %q uses shared memory, which perfgo serve does not implement; receive outputs in the response", o.Name)
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

// parseJSONData converts the "data" array of a JSON input (flat or nested)
// into raw little-endian bytes of n elements of dt.
func parseJSONData(raw []byte, dt dtype, n int64) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if !isJSONValue(raw) {
		return nil, fmt.Errorf("has no data; give \"data\":[...] or parameters.binary_data_size")
	}
	if raw[0] != '[' {
		return nil, fmt.Errorf("\"data\" must be a JSON array, got %s", clip(raw))
	}
	if n > int64(len(raw)) { // every element takes at least one byte of JSON
		return nil, fmt.Errorf("shape needs %d elements but \"data\" cannot hold that many", n)
	}
	var out []byte
	if dt == dtBytes {
		out = make([]byte, 0, int(n)*4+len(raw))
	} else {
		out = make([]byte, 0, int(n)*dt.size())
	}
	var count int64
	depth := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
			continue
		case c == '[':
			depth++
			i++
			continue
		case c == ']':
			depth--
			i++
			if depth < 0 {
				return nil, fmt.Errorf("\"data\" has an unbalanced ']'")
			}
			continue
		}
		if depth == 0 {
			return nil, fmt.Errorf("\"data\" has content after its closing ']'")
		}
		end, err := tokenEnd(raw, i)
		if err != nil {
			return nil, err
		}
		tok := raw[i:end]
		i = end
		if count == n {
			return nil, fmt.Errorf("\"data\" has more than the %d elements the shape needs", n)
		}
		out, err = appendElement(out, dt, tok)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", count, err)
		}
		count++
	}
	if depth != 0 {
		return nil, fmt.Errorf("\"data\" has an unclosed '['")
	}
	if count != n {
		return nil, fmt.Errorf("\"data\" has %d elements but the shape needs %d", count, n)
	}
	return out, nil
}

// tokenEnd returns the end of the scalar token starting at raw[i].
func tokenEnd(raw []byte, i int) (int, error) {
	if raw[i] == '"' {
		for j := i + 1; j < len(raw); j++ {
			switch raw[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("\"data\" has an unterminated string")
	}
	j := i
	for j < len(raw) {
		c := raw[j]
		if c == ',' || c == ']' || c == '[' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		j++
	}
	return j, nil
}

// appendElement appends one JSON scalar as an element of dt.
func appendElement(out []byte, dt dtype, tok []byte) ([]byte, error) {
	le := binary.LittleEndian
	if dt == dtBytes {
		if tok[0] != '"' {
			return nil, fmt.Errorf("BYTES elements must be JSON strings, got %s", clip(tok))
		}
		if bytes.IndexByte(tok, '\\') < 0 {
			return appendBytesElement(out, tok[1:len(tok)-1]), nil
		}
		var s string
		if err := json.Unmarshal(tok, &s); err != nil {
			return nil, fmt.Errorf("bad JSON string %s: %v", clip(tok), err)
		}
		return appendBytesElement(out, []byte(s)), nil
	}
	if dt == dtBool {
		switch string(tok) {
		case "true":
			return append(out, 1), nil
		case "false":
			return append(out, 0), nil
		}
		return nil, fmt.Errorf("BOOL elements must be true or false, got %s", clip(tok))
	}
	s := string(tok)
	switch dt {
	case dtUint8, dtUint16, dtUint32, dtUint64:
		bits := dt.size() * 8
		u, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return nil, fmt.Errorf("%s is not a %s", clip(tok), dt)
		}
		switch bits {
		case 8:
			return append(out, uint8(u)), nil
		case 16:
			return le.AppendUint16(out, uint16(u)), nil
		case 32:
			return le.AppendUint32(out, uint32(u)), nil
		}
		return le.AppendUint64(out, u), nil
	case dtInt8, dtInt16, dtInt32, dtInt64:
		bits := dt.size() * 8
		v, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return nil, fmt.Errorf("%s is not an %s", clip(tok), dt)
		}
		switch bits {
		case 8:
			return append(out, uint8(v)), nil
		case 16:
			return le.AppendUint16(out, uint16(v)), nil
		case 32:
			return le.AppendUint32(out, uint32(v)), nil
		}
		return le.AppendUint64(out, uint64(v)), nil
	case dtFP16, dtBF16, dtFP32:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil && !isRangeErr(err) {
			return nil, fmt.Errorf("%s is not a number", clip(tok))
		}
		switch dt {
		case dtFP16:
			return le.AppendUint16(out, float32ToFP16(float32(f))), nil
		case dtBF16:
			return le.AppendUint16(out, float32ToBF16(float32(f))), nil
		}
		return le.AppendUint32(out, math.Float32bits(float32(f))), nil
	case dtFP64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !isRangeErr(err) {
			return nil, fmt.Errorf("%s is not a number", clip(tok))
		}
		return le.AppendUint64(out, math.Float64bits(f)), nil
	}
	return nil, fmt.Errorf("datatype %s cannot be given in JSON", dt)
}

// isRangeErr accepts out-of-range floats, which parse to ±Inf as JSON
// decoders conventionally do.
func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
