package client

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the wire contract (proto/grpc_service.proto).
const (
	fieldInferRespParameters = 4
	fieldInferRespOutputs    = 5
	fieldInferRespRaw        = 6
	fieldStreamError         = 1
	fieldStreamResponse      = 2
	fieldMapKey              = 1
	fieldMapValue            = 2
	fieldParamBool           = 1
)

// inferSummary is what the measured path learns from a response without
// decoding it: cheap, allocation-free checks.
type inferSummary struct {
	// outputs and raw count outputs and raw_output_contents.
	outputs, raw int
	// final is 1 when triton_final_response is true, 0 when false, -1 when absent.
	final int
}

var errWire = errors.New("malformed protobuf")

// scanInferResponse walks a serialized ModelInferResponse without
// allocating: it checks the framing, counts outputs and finds
// triton_final_response.
func scanInferResponse(b []byte) (inferSummary, error) {
	s := inferSummary{final: -1}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return s, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fieldInferRespParameters || num == fieldInferRespOutputs) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return s, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
			if num == fieldInferRespOutputs {
				s.outputs++
				continue
			}
			key, val, err := scanMapEntry(v)
			if err != nil {
				return s, err
			}
			if string(key) == ParamFinalResponse {
				s.final = 0
				if f, err := scanBoolParam(val); err != nil {
					return s, err
				} else if f {
					s.final = 1
				}
			}
			continue
		}
		if num == fieldInferRespRaw && typ == protowire.BytesType {
			s.raw++
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return s, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return s, nil
}

// scanStreamResponse walks a serialized ModelStreamInferResponse and
// returns its error message (without copying) and the infer response.
func scanStreamResponse(b []byte) (errMsg, resp []byte, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fieldStreamError || num == fieldStreamResponse) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
			if num == fieldStreamError {
				errMsg = v
			} else {
				resp = v // a repeated field would merge; servers send one
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, nil, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return errMsg, resp, nil
}

func scanMapEntry(b []byte) (key, val []byte, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fieldMapKey || num == fieldMapValue) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, nil, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
			if num == fieldMapKey {
				key = v
			} else {
				val = v
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, nil, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return key, val, nil
}

// scanBoolParam reads InferParameter.bool_param; other choices are false.
func scanBoolParam(b []byte) (bool, error) {
	v := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		if num == fieldParamBool && typ == protowire.VarintType {
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
			v = x != 0
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return false, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return v, nil
}
