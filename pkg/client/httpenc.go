package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// JSON shapes of the v2 HTTP inference request and response. Field order
// here is the order on the wire (golden files depend on it).
type jsonInferRequest struct {
	ID         string            `json:"id,omitempty"`
	Parameters map[string]any    `json:"parameters,omitempty"`
	Inputs     []jsonInputTensor `json:"inputs"`
	Outputs    []jsonOutputReq   `json:"outputs,omitempty"`
}

type jsonInputTensor struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

type jsonOutputReq struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

type jsonInferResponse struct {
	ModelName    string             `json:"model_name"`
	ModelVersion string             `json:"model_version"`
	ID           string             `json:"id"`
	Parameters   map[string]any     `json:"parameters"`
	Outputs      []jsonOutputTensor `json:"outputs"`
}

type jsonOutputTensor struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int64         `json:"shape"`
	Parameters map[string]any  `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

// encodeHTTPRequest builds the infer body once. With binaryIn the body is
// the JSON header followed by the raw tensors and headerLen is the
// header's length (for Inference-Header-Content-Length); otherwise the
// body is JSON only and headerLen is -1.
func encodeHTTPRequest(c *checkedRequest, binaryIn, binaryOut bool) (body []byte, headerLen int, err error) {
	jr, err := buildJSONRequest(c, binaryIn, binaryOut)
	if err != nil {
		return nil, 0, err
	}
	if body, err = marshalJSON(&jr); err != nil {
		return nil, 0, fmt.Errorf("encode request for model %q: %w", c.Model, err)
	}
	return appendBinaryInputs(c, body, binaryIn)
}

// encodeHTTPSeqRequest is encodeHTTPRequest with the header's "parameters"
// first and a window for the sequence parameters at win (see
// withSeqWindow); after says other parameters precede the window.
func encodeHTTPSeqRequest(c *checkedRequest, binaryIn, binaryOut bool) (body []byte, headerLen, win int, after bool, err error) {
	jr, err := buildJSONRequest(c, binaryIn, binaryOut)
	if err != nil {
		return nil, 0, 0, false, err
	}
	params := jr.Parameters
	jr.Parameters = nil
	obj, err := marshalJSON(&jr)
	if err == nil {
		body, win, after, err = withSeqWindow(obj, params)
	}
	if err != nil {
		return nil, 0, 0, false, fmt.Errorf("encode request for model %q: %w", c.Model, err)
	}
	body, headerLen, err = appendBinaryInputs(c, body, binaryIn)
	return body, headerLen, win, after, err
}

// buildJSONRequest maps the request onto the v2 JSON header.
func buildJSONRequest(c *checkedRequest, binaryIn, binaryOut bool) (jsonInferRequest, error) {
	var err error
	jr := jsonInferRequest{ID: c.ID, Parameters: c.params, Inputs: make([]jsonInputTensor, 0, len(c.Inputs))}
	if binaryOut && len(c.Outputs) == 0 {
		jr.Parameters = withParam(c.params, paramBinaryDataOutput, true)
	}
	for i, t := range c.Inputs {
		in := jsonInputTensor{Name: t.Name, Shape: t.Shape, Datatype: t.Datatype, Parameters: c.inputParams[i]}
		if in.Shape == nil {
			in.Shape = []int64{} // a scalar is [], never null
		}
		switch {
		case inSharedMemory(in.Parameters): // the server reads the region
		case binaryIn:
			in.Parameters = withParam(in.Parameters, paramBinaryDataSize, int64(len(t.Data)))
		default:
			in.Data, err = appendJSONData(nil, t.Datatype, t.Data)
			if err != nil {
				return jr, fmt.Errorf("input %q: %w", t.Name, err)
			}
		}
		jr.Inputs = append(jr.Inputs, in)
	}
	for i, o := range c.Outputs {
		out := jsonOutputReq{Name: o, Parameters: c.outputParam(i)}
		switch {
		case inSharedMemory(out.Parameters): // the server writes the region
		case binaryOut:
			out.Parameters = withParam(out.Parameters, paramBinaryData, true)
		}
		jr.Outputs = append(jr.Outputs, out)
	}
	return jr, nil
}

// appendBinaryInputs appends the raw inputs after the JSON header when
// binaryIn, and returns the header length (-1 for a JSON-only body).
func appendBinaryInputs(c *checkedRequest, header []byte, binaryIn bool) (body []byte, headerLen int, err error) {
	if !binaryIn {
		return header, -1, nil
	}
	body = header
	for _, t := range c.Inputs {
		body = append(body, t.Data...)
	}
	return body, len(header), nil
}

// marshalJSON encodes v compactly without HTML escaping.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// withParam returns a copy of params with k set, leaving params unchanged.
func withParam(params map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(params)+1)
	for pk, pv := range params {
		out[pk] = pv
	}
	out[k] = v
	return out
}

// splitInferBody splits a response body into its JSON header and the
// binary tensor data that follows it. headerLen is the value of
// Inference-Header-Content-Length, -1 when the header was absent.
func splitInferBody(body []byte, headerLen int) (header, bin []byte, err error) {
	switch {
	case headerLen == -1:
		return body, nil, nil
	case headerLen < 0:
		return nil, nil, errors.New("Inference-Header-Content-Length is not a non-negative integer")
	case headerLen > len(body):
		return nil, nil, fmt.Errorf("Inference-Header-Content-Length %d exceeds the %d-byte body", headerLen, len(body))
	}
	return body[:headerLen], body[headerLen:], nil
}

// decodeHTTPResponse decodes a v2 HTTP inference response: a JSON header
// whose outputs either carry "data" or a binary_data_size that says how
// many bytes of bin belong to them, in order.
func decodeHTTPResponse(body []byte, headerLen int) (*InferResponse, error) {
	header, bin, err := splitInferBody(body, headerLen)
	if err != nil {
		return nil, err
	}
	var jr jsonInferResponse
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if err := dec.Decode(&jr); err != nil {
		return nil, fmt.Errorf("response header is not v2 JSON: %w", err)
	}
	r := &InferResponse{Model: jr.ModelName, Version: jr.ModelVersion, ID: jr.ID, Parameters: fromJSONParams(jr.Parameters)}
	for _, o := range jr.Outputs {
		t := Tensor{Name: o.Name, Datatype: o.Datatype, Shape: o.Shape}
		params := fromJSONParams(o.Parameters)
		if size, ok := params[paramBinaryDataSize]; ok {
			n, ok := size.(int64)
			if !ok || n < 0 {
				return nil, fmt.Errorf("output %q: binary_data_size %v is not a non-negative integer", o.Name, size)
			}
			if n > int64(len(bin)) {
				return nil, fmt.Errorf("output %q: binary_data_size %d but only %d bytes of binary data remain", o.Name, n, len(bin))
			}
			t.Data, bin = bin[:n:n], bin[n:]
			delete(params, paramBinaryDataSize)
		} else if len(o.Data) > 0 {
			if t.Data, _, err = decodeJSONData(o.Datatype, o.Data); err != nil {
				return nil, fmt.Errorf("output %q: %w", o.Name, err)
			}
		}
		if len(params) > 0 {
			t.Parameters = params
		}
		if _, shm := params["shared_memory_region"]; !shm {
			if err := CheckTensor(&t); err != nil {
				return nil, fmt.Errorf("output: %w", err)
			}
		}
		r.Outputs = append(r.Outputs, t)
	}
	if len(bin) > 0 {
		return nil, fmt.Errorf("%d bytes of binary data follow the last output", len(bin))
	}
	return r, nil
}
