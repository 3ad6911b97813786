package inputs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/datatype"
)

// addJSON loads one --input-data JSON file, already read into data.
func (d *DataSet) addJSON(m Model, o Options, file string, data []byte) error {
	if !json.Valid(data) {
		var se *json.SyntaxError
		if err := json.Unmarshal(data, new(struct{})); errors.As(err, &se) {
			w := walker{file: file, b: data}
			return w.errf(int(max(se.Offset-1, 0)), "malformed JSON: %v; fix the file (perf_analyzer's format: {\"data\": [{\"INPUT0\": [...]}]})", se)
		}
		return fmt.Errorf("--input-data %s: malformed JSON; fix the file", file)
	}
	w := &walker{file: file, b: data}
	w.ws()
	if w.b[w.i] != '{' {
		return w.errf(w.i, `the file must be a JSON object with a "data" array, as {"data": [{"INPUT0": [...]}]}`)
	}
	dataAt, validAt := -1, -1
	err := w.members(func(key string, _ int) error {
		switch key {
		case "data":
			dataAt = w.i
		case "validation_data":
			validAt = w.i
		}
		w.skip()
		return nil
	})
	if err != nil {
		return err
	}
	if dataAt < 0 {
		return w.errf(0, `the file has no "data" field; give {"data": [{"INPUT0": [...]}]}`)
	}
	ins, err := specs(m, o, m.Metadata.GetInputs(), true)
	if err != nil {
		return fmt.Errorf("--input-data %s: %w", file, err)
	}
	w.i = dataAt
	nested, streams, err := w.section("data")
	if err != nil {
		return err
	}
	var expected [][]int
	if validAt >= 0 {
		w.i = validAt
		vnested, vstreams, err := w.section("validation_data")
		if err != nil {
			return err
		}
		if vnested != nested || len(vstreams) != len(streams) || slices.ContainsFunc(streams, func(s []int) bool { return len(s) != len(vstreams[0]) && !nested }) {
			return w.errf(validAt, `"validation_data" does not align with "data": give it the same streams and steps (%s)`, layout(nested, streams))
		}
		for k := range streams {
			if len(vstreams[k]) != len(streams[k]) {
				return w.errf(validAt, `"validation_data" does not align with "data": give it the same streams and steps (%s)`, layout(nested, streams))
			}
		}
		expected = vstreams
	}
	outs, err := specs(m, o, m.Metadata.GetOutputs(), false)
	if err != nil {
		return fmt.Errorf("--input-data %s: %w", file, err)
	}
	optional := optionalNames(m)
	for k, stream := range streams {
		steps := make([]Step, len(stream))
		for j, at := range stream {
			w.i = at
			where := stepIndex(nested, k, j)
			if steps[j].Inputs, err = w.step(m, ins, optional, where, true); err != nil {
				return err
			}
			if expected != nil {
				w.i = expected[k][j]
				if steps[j].Expected, err = w.step(m, outs, nil, "validation_data "+where, false); err != nil {
					return err
				}
			}
		}
		if !nested && len(d.Streams) > 0 {
			d.Streams[0] = append(d.Streams[0], steps...)
			continue
		}
		d.Streams = append(d.Streams, steps)
	}
	return nil
}

func layout(nested bool, streams [][]int) string {
	if !nested {
		return fmt.Sprintf("%d steps", len(streams[0]))
	}
	n := make([]string, len(streams))
	for i, s := range streams {
		n[i] = strconv.Itoa(len(s))
	}
	return fmt.Sprintf("%d streams of %s steps", len(streams), strings.Join(n, ", "))
}

// section walks "data" or "validation_data": an array of step objects (one
// stream) or of arrays of step objects (several). It returns the offset of
// every step.
func (w *walker) section(name string) (nested bool, streams [][]int, err error) {
	at := w.i
	if w.b[w.i] != '[' {
		return false, nil, w.errf(at, `%q must be an array of steps, as [{"INPUT0": [...]}], or of streams of steps`, name)
	}
	var flat []int
	err = w.elems(func(k int) error {
		switch c := w.b[w.i]; {
		case k == 0:
			nested = c == '['
		case nested != (c == '['):
			return w.errf(w.i, "%q mixes steps and streams (arrays of steps); give only one kind", name)
		}
		if !nested {
			if w.b[w.i] != '{' {
				return w.errf(w.i, `%q element %d must be a step object, as {"INPUT0": [...]}`, name, k)
			}
			flat = append(flat, w.i)
			w.skip()
			return nil
		}
		var steps []int
		err := w.elems(func(j int) error {
			if w.b[w.i] != '{' {
				return w.errf(w.i, `%q stream %d element %d must be a step object, as {"INPUT0": [...]}`, name, k, j)
			}
			steps = append(steps, w.i)
			w.skip()
			return nil
		})
		if err == nil && len(steps) == 0 {
			err = w.errf(w.i-1, "%q stream %d has no steps; give at least one", name, k)
		}
		streams = append(streams, steps)
		return err
	})
	if err != nil {
		return false, nil, err
	}
	if !nested {
		if len(flat) == 0 {
			return false, nil, w.errf(at, "%q is empty; give at least one step", name)
		}
		streams = [][]int{flat}
	}
	return nested, streams, nil
}

// step decodes one step object: model inputs (or outputs) by name.
func (w *walker) step(m Model, sp map[string]*tensorSpec, optional []string, where string, input bool) ([]client.Tensor, error) {
	kind, list := "input", m.Metadata.GetInputs()
	if !input {
		kind, list = "output", m.Metadata.GetOutputs()
	}
	got := make([]*client.Tensor, len(list))
	at := w.i
	err := w.members(func(name string, keyAt int) error {
		s := sp[name]
		if s == nil {
			names := make([]string, len(list))
			for i, t := range list {
				names[i] = t.GetName()
			}
			return w.errf(keyAt, "%s has %q, which is not an %s of model %q (it has %s); fix or remove it", where, name, kind, m.Metadata.GetName(), strings.Join(names, ", "))
		}
		i := slices.Index(list, s.meta)
		if got[i] != nil {
			return w.errf(keyAt, "%s gives %s %q twice; keep one", where, kind, name)
		}
		t, err := w.tensor(s, where, kind)
		if err != nil {
			return err
		}
		got[i] = &t
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]client.Tensor, 0, len(list))
	for i, t := range got {
		if t != nil {
			out = append(out, *t)
			continue
		}
		if name := list[i].GetName(); input && !slices.Contains(optional, name) {
			return nil, w.errf(at, "%s has no data for input %q; give it in every step (only inputs the model configuration marks optional may be left out)", where, name)
		}
	}
	return out, nil
}

// tensor decodes one tensor value at w.i: an array, {"b64": ...} or
// {"content": <array|{"b64": ...}>, "shape": [...]}.
func (w *walker) tensor(s *tensorSpec, where, kind string) (client.Tensor, error) {
	at := w.i
	name := s.meta.GetName()
	fail := func(at int, format string, args ...any) error {
		return w.errf(at, "%s, %s %q (%s): "+format, append([]any{where, kind, name, s.dt}, args...)...)
	}
	content, b64 := -1, -1
	var shape []int64
	switch w.b[w.i] {
	case '[':
		content = w.i
		w.skip()
	case '{':
		err := w.members(func(key string, _ int) error {
			switch key {
			case "b64":
				b64 = w.i
			case "content":
				content = w.i
				if w.b[w.i] == '{' {
					content = -1
					return w.members(func(key string, _ int) error {
						if key == "b64" {
							b64, content = w.i, -1
						}
						w.skip()
						return nil
					})
				}
			case "shape":
				if w.b[w.i] != '[' {
					return fail(w.i, `"shape" must be an array of dims, as [3, 224]`)
				}
				shape = []int64{}
				return w.elems(func(int) error {
					start := w.i
					w.skip()
					d, err := strconv.ParseInt(string(w.b[start:w.i]), 10, 64)
					if err != nil || d < 0 {
						return fail(start, `"shape" dim %s is not a whole number >= 0; fix it`, clipJSON(w.b[start:w.i]))
					}
					shape = append(shape, d)
					return nil
				})
			}
			w.skip()
			return nil
		})
		if err != nil {
			return client.Tensor{}, err
		}
	}
	if content < 0 && b64 < 0 {
		return client.Tensor{}, fail(at, `give an array of values, {"b64": "..."} or {"content": [...], "shape": [...]}`)
	}
	dims, fixed := s.dims, s.fixed
	if shape != nil {
		if err := checkStepShape(s.model, shape); err != nil {
			return client.Tensor{}, fail(at, `"shape" [%s] %v`, FormatDims(shape), err)
		}
		dims, fixed = shape, true
	}
	n := int64(-1)
	if fixed {
		var err error
		if n, err = datatype.ElementCount(dims); err != nil {
			return client.Tensor{}, fail(at, "shape [%s] is too large", FormatDims(dims))
		}
	} else if kind == "input" {
		return client.Tensor{}, fail(at, `the shape [%s] has variable dims; give "shape" in the step, as {"content": [...], "shape": [%s]}, or --shape %s:%s`, FormatDims(s.dims), exampleDims(s.dims), name, exampleDims(s.dims))
	}
	var data []byte
	var count int64
	var err error
	if b64 >= 0 {
		data, count, err = decodeB64(w.b[b64:w.end(b64)], s.dt, n)
		at = b64
	} else {
		data, count, err = decodeArray(s.dt, w.b[content:w.end(content)], n)
		at = content
	}
	if err != nil {
		return client.Tensor{}, fail(at, "%v", err)
	}
	if !fixed {
		dims = []int64{count}
	}
	return client.Tensor{Name: name, Datatype: s.dt.String(), Shape: slices.Clone(dims), Data: data}, nil
}

// decodeB64 decodes raw, the JSON value of "b64": a string of base64 of
// raw little-endian bytes; BYTES elements carry their 4-byte length prefix.
func decodeB64(raw []byte, t datatype.Type, n int64) ([]byte, int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' {
		return nil, 0, errors.New(`"b64" must be a string of base64`)
	}
	src := raw[1 : len(raw)-1]
	if bytes.IndexByte(src, '\\') >= 0 { // JSON escapes, such as "\/"
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, 0, fmt.Errorf(`bad "b64" string: %v`, err)
		}
		src = []byte(s)
	}
	data := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	k, err := base64.StdEncoding.Decode(data, src)
	if err != nil {
		return nil, 0, fmt.Errorf(`"b64" is not valid base64 (%v); give standard base64 with padding`, err)
	}
	data = data[:k]
	if t == datatype.Bytes {
		got, err := datatype.BytesElements(data)
		if err != nil {
			return nil, 0, fmt.Errorf(`"b64" BYTES data must be elements each led by its 4-byte little-endian length: %v`, err)
		}
		if n >= 0 && int64(got) != n {
			return nil, 0, fmt.Errorf(`"b64" holds %d BYTES elements but the shape needs %d; fix the data or the shape`, got, n)
		}
		return data, int64(got), nil
	}
	size := int64(t.Size())
	if n >= 0 && int64(len(data)) != n*size {
		return nil, 0, fmt.Errorf(`"b64" holds %d bytes but the shape needs %d elements of %d bytes (%d bytes); fix the data or the shape`, len(data), n, size, n*size)
	}
	if int64(len(data))%size != 0 {
		return nil, 0, fmt.Errorf(`"b64" holds %d bytes, not a whole number of %d-byte elements; fix the data`, len(data), size)
	}
	return data, int64(len(data)) / size, nil
}

// walker walks a JSON document known to be valid (json.Valid), in place.
type walker struct {
	file string
	b    []byte
	i    int
}

// errf makes an error naming the file, line and column of offset at.
func (w *walker) errf(at int, format string, args ...any) error {
	at = min(at, len(w.b))
	line := 1 + bytes.Count(w.b[:at], []byte{'\n'})
	col := at - bytes.LastIndexByte(w.b[:at], '\n')
	return fmt.Errorf("--input-data %s:%d:%d: %s", w.file, line, col, fmt.Sprintf(format, args...))
}

func (w *walker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// end returns the offset after the value at offset at (and its trailing
// whitespace), leaving w.i alone.
func (w *walker) end(at int) int {
	save := w.i
	w.i = at
	w.skip()
	at, w.i = w.i, save
	return at
}

// skip moves past the value at w.i and the whitespace after it.
func (w *walker) skip() {
	switch w.b[w.i] {
	case '"':
		w.i = stringEnd(w.b, w.i)
	case '[', '{':
		for depth := 0; w.i < len(w.b); {
			switch w.b[w.i] {
			case '"':
				w.i = stringEnd(w.b, w.i)
				continue
			case '[', '{':
				depth++
			case ']', '}':
				depth--
			}
			w.i++
			if depth == 0 {
				break
			}
		}
	default:
		for w.i < len(w.b) && !isDelim(w.b[w.i]) {
			w.i++
		}
	}
	w.ws()
}

func isDelim(c byte) bool {
	switch c {
	case ',', ':', ']', '}', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// stringEnd returns the offset after the string starting at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// members calls fn for each member of the object at w.i, with w.i at the
// value; fn must move past the value.
func (w *walker) members(fn func(key string, keyAt int) error) error {
	w.i++ // '{'
	w.ws()
	for w.i < len(w.b) && w.b[w.i] != '}' {
		keyAt := w.i
		end := stringEnd(w.b, w.i)
		key := string(w.b[w.i+1 : max(end-1, w.i+1)])
		if strings.IndexByte(key, '\\') >= 0 {
			_ = json.Unmarshal(w.b[w.i:end], &key) // valid JSON: cannot fail
		}
		w.i = end
		w.ws()
		w.i++ // ':'
		w.ws()
		if err := fn(key, keyAt); err != nil {
			return err
		}
		w.ws()
		if w.i < len(w.b) && w.b[w.i] == ',' {
			w.i++
			w.ws()
		}
	}
	w.i++ // '}'
	w.ws()
	return nil
}

// elems calls fn for each element of the array at w.i, with w.i at the
// element; fn must move past it.
func (w *walker) elems(fn func(k int) error) error {
	w.i++ // '['
	w.ws()
	for k := 0; w.i < len(w.b) && w.b[w.i] != ']'; k++ {
		if err := fn(k); err != nil {
			return err
		}
		w.ws()
		if w.i < len(w.b) && w.b[w.i] == ',' {
			w.i++
			w.ws()
		}
	}
	w.i++ // ']'
	w.ws()
	return nil
}

func clipJSON(v []byte) string {
	if len(v) > 40 {
		return string(v[:40]) + "..."
	}
	return string(v)
}
