package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// Triton's generate extension (HTTP only):
//
//	POST /v2/models/{m}[/versions/{v}]/generate         one JSON response
//	POST /v2/models/{m}[/versions/{v}]/generate_stream  server-sent events
//
// The request is one JSON object. A top-level key naming a model input is
// that input (a string, number, bool or nested array; its shape is the
// nesting, [1] for a scalar, with a batch dimension of 1 added for a
// batching model); "parameters" holds request parameters; any other key is
// a request parameter too. A response is {"model_name", "model_version",
// and one key per output}, an output of one element as a scalar.
//
// /generate needs exactly one response. A decoupled model may answer it
// if it sends one: the generate model does with the parameter
// "stream": false; a second response fails the request with "expected a
// single response". /generate_stream sends each response as an event
// "data: {...}\n\n"; a failure after the first event is an event
// {"error": "..."}, before it a JSON error with its HTTP status.

// errDecoupledHTTP is Triton's answer to .../infer on a decoupled model.
func errDecoupledHTTP() error {
	return errorf(kindUnsupported, "HTTP end point doesn't support models with decoupled transaction policy; use POST .../generate_stream or gRPC ModelStreamInfer")
}

func (h *httpFrontend) generate(w http.ResponseWriter, hr *http.Request) {
	h.serveGenerate(w, hr, false)
}

func (h *httpFrontend) generateStream(w http.ResponseWriter, hr *http.Request) {
	h.serveGenerate(w, hr, true)
}

func (h *httpFrontend) serveGenerate(w http.ResponseWriter, hr *http.Request, stream bool) {
	ex, m, err := h.open(hr)
	defer h.release(ex)
	req := &ex.req
	if err != nil {
		writeError(w, err)
		return
	}
	if err := decodeGenerateRequest(m, ex.body, req); err != nil {
		writeError(w, h.core.fail(m, req, err))
		return
	}
	if stream {
		ex.hdr = h.writeEvents(w, hr, req, ex.hdr[:0])
		return
	}
	var tooMany error
	n := 0
	err = h.core.stream(hr.Context(), req, func(res *response) error {
		if len(res.outputs) == 0 {
			return nil // an empty final response only marks the end
		}
		if n++; n > 1 {
			tooMany = errorf(kindInvalid, "expected a single response, got %d: model '%s' sends several per request; use POST .../generate_stream (or, for generate, the parameter \"stream\": false)", n, m.name)
			return tooMany
		}
		// Encoded now: the response's data is the model's until emit returns.
		ex.hdr = appendGenerateResponse(ex.hdr[:0], req, res)
		return nil
	})
	switch {
	case tooMany != nil:
		writeError(w, tooMany)
	case err != nil:
		writeError(w, err)
	case n == 0:
		writeJSON(w, http.StatusOK, appendGenerateResponse(ex.hdr[:0], req, &response{}))
	default:
		wh := w.Header()
		wh["Content-Type"] = h.jsonType
		wh["Content-Length"] = []string{strconv.Itoa(len(ex.hdr))}
		_, _ = w.Write(ex.hdr)
	}
}

// writeEvents runs req and sends each response as a server-sent event; buf
// is scratch space, returned for reuse.
func (h *httpFrontend) writeEvents(w http.ResponseWriter, hr *http.Request, req *request, buf []byte) []byte {
	flusher, _ := w.(http.Flusher)
	started := false
	start := func() {
		if !started {
			w.Header()["Content-Type"] = h.eventType
			w.WriteHeader(http.StatusOK)
			started = true
		}
	}
	err := h.core.stream(hr.Context(), req, func(res *response) error {
		if len(res.outputs) == 0 {
			return nil // an empty final response only marks the end
		}
		start()
		buf = append(buf[:0], "data: "...)
		buf = appendGenerateResponse(buf, req, res)
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	if err != nil && !started {
		writeError(w, err)
		return buf
	}
	start()
	if err != nil {
		buf = append(buf[:0], `data: {"error":`...)
		buf = datatype.AppendJSONString(buf, err.Error())
		buf = append(buf, "}\n\n"...)
		_, _ = w.Write(buf)
	}
	return buf
}

// appendGenerateResponse appends res as a generate response object.
func appendGenerateResponse(dst []byte, req *request, res *response) []byte {
	dst = append(dst, `{"model_name":`...)
	dst = datatype.AppendJSONString(dst, req.modelName)
	dst = append(dst, `,"model_version":"`+modelVersion+`"`...)
	for i := range res.outputs {
		t := &res.outputs[i]
		dst = append(dst, ',')
		dst = datatype.AppendJSONString(dst, t.name)
		dst = append(dst, ':')
		at := len(dst)
		dst = datatype.AppendJSONLenient(dst, t.dt, t.data)
		if n, err := datatype.ElementCount(t.shape); err == nil && n == 1 && len(dst)-at >= 2 {
			// One element goes bare, as text_output's one string does.
			copy(dst[at:], dst[at+1:len(dst)-1])
			dst = dst[:len(dst)-2]
		}
	}
	return append(dst, '}')
}

// decodeGenerateRequest decodes a generate request for model m into r.
func decodeGenerateRequest(m *model, body []byte, r *request) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return errorf(kindInvalid, "malformed generate request: %v; send a JSON object such as {\"text_input\":\"...\",\"parameters\":{\"max_tokens\":8}}", err)
	}
	var params jsonRequestParams
	if raw, ok := top["parameters"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(raw, &inner); err != nil {
			return errorf(kindInvalid, "\"parameters\" must be a JSON object of names and values: %v", err)
		}
		var kb [8]string
		for _, k := range sortedKeys(inner, kb[:0]) {
			if err := generateParam(k, inner[k], &params, r); err != nil {
				return err
			}
		}
	}
	var kb [8]string
	for _, k := range sortedKeys(top, kb[:0]) {
		if k == "parameters" {
			continue
		}
		spec := m.inputSpec(k)
		if spec == nil {
			if err := generateParam(k, top[k], &params, r); err != nil {
				return err
			}
			continue
		}
		t, err := generateInput(m, spec, top[k])
		if err != nil {
			return err
		}
		r.inputs = append(r.inputs, t)
	}
	return decodeRequestParams(&params, r)
}

// sortedKeys returns m's keys sorted (so that errors do not depend on map
// order), in buf when it has room.
func sortedKeys(m map[string]json.RawMessage, buf []string) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

// generateInput turns one top-level value into the input spec names.
func generateInput(m *model, spec *tensorSpec, raw json.RawMessage) (tensor, error) {
	t := tensor{name: spec.name, dt: spec.dt}
	shape, err := jsonShape(raw)
	if err != nil {
		return t, errorf(kindInvalid, "input %q: %v", spec.name, err)
	}
	if m.maxBatch > 0 && len(shape) == len(spec.dims) {
		shape = append([]int64{1}, shape...)
	}
	n, err := elementCount(shape)
	if err != nil {
		return t, errorf(kindInvalid, "input %q: %v", spec.name, err)
	}
	raw = bytes.TrimSpace(raw)
	if raw[0] != '[' {
		raw = slices.Concat([]byte{'['}, raw, []byte{']'})
	}
	t.shape = shape
	if t.data, _, err = datatype.DecodeJSONLenient(spec.dt, raw, n); err != nil {
		return t, errorf(kindInvalid, "input %q: %v", spec.name, err)
	}
	return t, nil
}

// jsonShape is the shape of a JSON value: [1] for a scalar, else the
// lengths of the nested arrays along their first elements (a ragged array
// then fails on its element count). One pass, whatever the nesting.
func jsonShape(raw []byte) ([]int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errorf(kindInvalid, "has no value; give a string, number, bool or array")
	}
	if raw[0] != '[' {
		return []int64{1}, nil
	}
	if !json.Valid(raw) {
		return nil, errorf(kindInvalid, "is not valid JSON: %s", clip(raw))
	}
	type level struct {
		onPath bool  // the array is the first element of its parent, all the way up
		dim    int   // its index in shape, when onPath
		count  int64 // elements seen so far
	}
	var (
		shape    []int64
		stack    []level
		inString bool
		escaped  bool
	)
	// valueStarts notes that the innermost array has at least one element.
	valueStarts := func() {
		if n := len(stack); n > 0 && stack[n-1].count == 0 {
			stack[n-1].count = 1
		}
	}
	for _, c := range raw {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r', ':':
		case '"':
			valueStarts()
			inString = true
		case '[':
			valueStarts()
			onPath := len(stack) == 0 || (stack[len(stack)-1].onPath && stack[len(stack)-1].count == 1)
			l := level{onPath: onPath}
			if onPath {
				l.dim = len(shape)
				shape = append(shape, 0)
			}
			stack = append(stack, l)
		case ']':
			l := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if l.onPath {
				shape[l.dim] = l.count
			}
		case ',':
			stack[len(stack)-1].count++
		default:
			valueStarts()
		}
	}
	return shape, nil
}

// generateParam applies one request parameter of a generate request.
// Parameters perfgo serve does not act on are checked for type and
// dropped, as a Triton backend would ignore them.
func generateParam(name string, raw json.RawMessage, p *jsonRequestParams, r *request) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] == '{' || raw[0] == '[' || string(raw) == "null") {
		return errorf(kindInvalid, "parameter %q is %s; a parameter is a string, number or bool (or name an input of the model)", name, clip(raw))
	}
	switch name {
	case "max_tokens":
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return errorf(kindInvalid, "parameter max_tokens is %s; it must be an integer from 1 to %d", clip(raw), MaxTokens)
		}
		return setMaxTokens(r, n)
	case "stream":
		var b jsonBool
		_ = b.UnmarshalJSON(raw)
		if err := b.check(name); err != nil {
			return err
		}
		r.oneResponse = b.set && !b.v
	case "sequence_id":
		p.SequenceID = raw
	case "sequence_start":
		_ = p.SequenceStart.UnmarshalJSON(raw)
	case "sequence_end":
		_ = p.SequenceEnd.UnmarshalJSON(raw)
	case "triton_enable_empty_final_response":
		_ = p.EmptyFinal.UnmarshalJSON(raw)
	}
	return nil
}
