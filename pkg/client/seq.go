package client

import (
	"strconv"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// Triton's sequence (correlation) parameters.
const (
	ParamSequenceID    = "sequence_id"
	ParamSequenceStart = "sequence_start"
	ParamSequenceEnd   = "sequence_end"
)

// Field numbers of the request side of the wire contract.
const (
	fieldInferReqParameters = 4
	fieldParamString        = 3
	fieldParamUint64        = 5
)

// seqOwn marks the sequence flags a prepared request carries in its own
// Parameters: SetSequence then sends them false explicitly, so that its
// values win over the request's.
type seqOwn uint8

const (
	ownStart seqOwn = 1 << iota
	ownEnd
)

func seqOwnOf(params map[string]any) seqOwn {
	var o seqOwn
	if _, ok := params[ParamSequenceStart]; ok {
		o |= ownStart
	}
	if _, ok := params[ParamSequenceEnd]; ok {
		o |= ownEnd
	}
	return o
}

// pbSeqMax bounds the encoded sequence entries: a 20-digit string id
// (39 bytes), sequence_start (22) and sequence_end (20).
const pbSeqMax = 96

// pbSeq sends a Call's sequence parameters over gRPC. Protobuf lets map
// entries come after the other fields and repeat (the last one wins), so
// the entries follow the prepared encoding, shared and untouched, as a
// second buffer rewritten per SetSequence. gRPC has sent the request once
// its answer arrives, so the bytes can be rewritten between requests; after
// a failed request its writer may still hold them, and retire starts afresh.
type pbSeq struct {
	s    Sequence
	tail []byte
	// bufs[n] wraps tail[:n]: making a mem.Buffer of a slice allocates,
	// so each length is wrapped once.
	bufs  []mem.Buffer
	parts [2]mem.Buffer
}

// data returns what the Call sends: prepared, followed by the sequence
// entries when a sequence is set.
func (q *pbSeq) data(prepared mem.BufferSlice, own seqOwn) mem.BufferSlice {
	if q.s.ID == 0 {
		return prepared
	}
	if q.tail == nil {
		q.tail = make([]byte, 0, pbSeqMax)
		q.bufs = make([]mem.Buffer, pbSeqMax+1)
	}
	n := len(appendPBSequence(q.tail[:0], q.s, own))
	if q.bufs[n] == nil {
		q.bufs[n] = mem.SliceBuffer(q.tail[:n])
	}
	q.parts[0], q.parts[1] = prepared[0], q.bufs[n]
	return q.parts[:]
}

// retire drops the tail after a failed request (gRPC may still read it);
// the next data call makes a new one.
func (q *pbSeq) retire() {
	if q.tail != nil {
		q.tail, q.bufs = nil, nil
	}
}

// appendPBSequence appends s as ModelInferRequest.parameters entries: the
// flags only when true (as perf_analyzer sends them), or false when the
// request carries its own flag that s overrides.
func appendPBSequence(b []byte, s Sequence, own seqOwn) []byte {
	if s.ID == 0 {
		return b
	}
	if s.StringID {
		var d [20]byte
		b = appendPBParam(b, ParamSequenceID, fieldParamString, protowire.BytesType, 0, strconv.AppendUint(d[:0], s.ID, 10))
	} else {
		b = appendPBParam(b, ParamSequenceID, fieldParamUint64, protowire.VarintType, s.ID, nil)
	}
	if s.Start || own&ownStart != 0 {
		b = appendPBParam(b, ParamSequenceStart, fieldParamBool, protowire.VarintType, protowire.EncodeBool(s.Start), nil)
	}
	if s.End || own&ownEnd != 0 {
		b = appendPBParam(b, ParamSequenceEnd, fieldParamBool, protowire.VarintType, protowire.EncodeBool(s.End), nil)
	}
	return b
}

// appendPBParam appends one parameters map entry whose InferParameter
// holds field num: the varint u, or the bytes v.
func appendPBParam(b []byte, key string, num protowire.Number, typ protowire.Type, u uint64, v []byte) []byte {
	param := protowire.SizeTag(num)
	if typ == protowire.VarintType {
		param += protowire.SizeVarint(u)
	} else {
		param += protowire.SizeBytes(len(v))
	}
	entry := protowire.SizeTag(fieldMapKey) + protowire.SizeBytes(len(key)) + protowire.SizeTag(fieldMapValue) + protowire.SizeBytes(param)
	b = protowire.AppendTag(b, fieldInferReqParameters, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(entry))
	b = protowire.AppendTag(b, fieldMapKey, protowire.BytesType)
	b = protowire.AppendString(b, key)
	b = protowire.AppendTag(b, fieldMapValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(param))
	b = protowire.AppendTag(b, num, typ)
	if typ == protowire.VarintType {
		return protowire.AppendVarint(b, u)
	}
	return protowire.AppendBytes(b, v)
}

// jsonSeqWindow is the room a JSON body keeps for the sequence parameters:
// `,"sequence_id":"<20 digits>","sequence_start":true,"sequence_end":true`
// fits. The window is padded with spaces, so the body keeps its length
// (and Content-Length and Inference-Header-Content-Length their values)
// whatever the sequence: SetSequence rewrites it in place.
const jsonSeqWindow = 88

// withSeqWindow turns obj, a JSON object without "parameters", into one
// whose first member is "parameters": the members of params except the
// sequence ones, then the window (at offset win).
func withSeqWindow(obj []byte, params map[string]any) (body []byte, win int, members bool, err error) {
	var rest map[string]any
	for k, v := range params {
		switch k {
		case ParamSequenceID, ParamSequenceStart, ParamSequenceEnd:
			continue
		}
		if rest == nil {
			rest = map[string]any{}
		}
		rest[k] = v
	}
	body = append(body, `{"parameters":{`...)
	if rest != nil {
		m, err := marshalJSON(rest)
		if err != nil {
			return nil, 0, false, err
		}
		body = append(body, m[1:len(m)-1]...)
	}
	win = len(body)
	body = append(body, make([]byte, jsonSeqWindow)...)
	writeJSONSeq(body[win:win+jsonSeqWindow], Sequence{}, rest != nil)
	body = append(body, '}')
	if inner := trimJSONObject(obj); len(inner) > 0 {
		body = append(body, ',')
		body = append(body, inner...)
	}
	return append(body, '}'), win, rest != nil, nil
}

// trimJSONObject returns the members of a compact JSON object.
func trimJSONObject(obj []byte) []byte {
	if len(obj) < 2 {
		return nil
	}
	return obj[1 : len(obj)-1]
}

// writeJSONSeq fills the window w with s's members (after a comma when
// other members precede) and pads it with spaces.
func writeJSONSeq(w []byte, s Sequence, after bool) {
	b := w[:0]
	if s.ID != 0 {
		if after {
			b = append(b, ',')
		}
		b = append(b, `"sequence_id":`...)
		if s.StringID {
			b = append(b, '"')
		}
		b = strconv.AppendUint(b, s.ID, 10)
		if s.StringID {
			b = append(b, '"')
		}
		if s.Start {
			b = append(b, `,"sequence_start":true`...)
		}
		if s.End {
			b = append(b, `,"sequence_end":true`...)
		}
	}
	for i := len(b); i < len(w); i++ {
		w[i] = ' '
	}
}
